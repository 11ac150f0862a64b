"""The catalog indexes files only, so rebuilding it from them loses nothing."""

from __future__ import annotations

import sqlite3

import numpy as np

from capture.calibrations import load_calibration, store_calibration
from capture.catalog import SCHEMA_VERSION, Catalog, rebuild, refresh_session
from capture.session import Session, SessionWriter, StreamSpec
from democap.model import CameraCalibration, CameraModel, Decision, RigCalibration


def _session(home, sid: str, n: int = 40) -> Session:
    calib = RigCalibration(
        f"rig-{sid}", (CameraCalibration("cam0", CameraModel("pinhole-radtan", 32, 24, 30, 30, 16, 12), np.eye(4)),)
    )
    store_calibration(home, calib)
    w = SessionWriter(
        home.sessions,
        source={"kind": "test"},
        session_id=sid,
        operator="op-7",
        rigs={"rig0": {"device": {"serial": f"SN-{sid}", "hardware": "rev B", "firmware": "1.2.0"}}},
    )
    w.add_calibration("rig0", calib)
    v = w.add_video(StreamSpec("rig0.cam0", "video", "rig0", "cam0", 30.0), 32, 24, "gray", "ffv1")
    ev = w.add_table(StreamSpec("rig0.events", "events", "rig0", "events"))
    for i in range(n):
        v.append(np.zeros((24, 32), np.uint8), 10**9 + i * 33_333_333)
    ev.append(t_host_ns=10**9, t_device_ns=0, kind="episode", value="start:wipe")
    ev.append(t_host_ns=10**9 + 600_000_000, t_device_ns=0, kind="episode", value="stop")
    ev.append(t_host_ns=10**9 + 700_000_000, t_device_ns=0, kind="episode", value="start:pour")
    w.close()
    s = Session(home.sessions / sid)
    refresh_session(home, s)
    return s


def _dump(cat: Catalog) -> dict:
    out = {}
    for t in ("sessions", "episodes", "calibrations", "flags", "devices", "exports"):
        rows = [dict(r) for r in cat.db[t].rows]
        out[t] = sorted(rows, key=lambda r: sorted((k, str(v)) for k, v in r.items()))
    return out


def test_index_and_rebuild_loses_nothing(home):
    a = _session(home, "s-a")
    _session(home, "s-b")
    a.add_decision(Decision(1, "reject", 5, operator="op-7", note="dropped the cup"))
    refresh_session(home, a)
    cat = Catalog(home)
    cat.record_export(
        {
            "id": "x1",
            "path": "/tmp/out",
            "format": "lerobot",
            "created_realtime_ns": 3,
            "sessions": ["s-a"],
            "n_episodes": 1,
        }
    )
    cat.index_device_pairing("SN-s-a", 123, "fp:abcd")
    assert cat.counts()["sessions"] == 2 and cat.counts()["episodes"] == 4
    eps = list(cat.db["episodes"].rows_where("session_id = 's-a'", order_by="idx"))
    assert [e["task"] for e in eps] == ["wipe", "pour"] and eps[1]["review"] == "rejected"
    before = _dump(cat)
    cat.close()

    home.catalog.unlink()  # the catalog is gone: nothing else is
    counts = rebuild(home, pairing_records=[{"serial": "SN-s-a", "paired_at_ns": 123, "key_fingerprint": "fp:abcd"}])
    assert counts["problems"] == 0
    after = _dump(Catalog(home))
    for table in before:
        strip = ("path", "created_ns") if table == "calibrations" else ()
        norm = [[{k: v for k, v in r.items() if k not in strip} for r in d[table]] for d in (before, after)]
        assert norm[0] == norm[1], table


def test_catalog_migrates_an_old_schema_and_refuses_newer(home, tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.execute("create table meta (key text primary key, value text)")
    db.commit()
    db.close()
    cat = Catalog(home, path)
    assert cat.version == SCHEMA_VERSION and "stages" in cat.db["sessions"].columns_dict
    cat.db["meta"].upsert({"key": "schema_version", "value": "99"}, pk="key")
    cat.close()
    import pytest

    from democap.errors import CatalogError

    with pytest.raises(CatalogError, match="newer"):
        Catalog(home, path)


def test_catalog_is_wal_and_where_queries(home):
    _session(home, "s-c")
    cat = Catalog(home)
    assert cat.db.execute("pragma journal_mode").fetchone()[0] == "wal"
    assert cat.session_ids_where("e.task = 'pour'") == ["s-c"]
    import pytest

    from democap.errors import CatalogError

    with pytest.raises(CatalogError, match="bad --where"):
        cat.session_ids_where("nonsense ===")


def test_calibration_store_is_content_addressed(home):
    calib = RigCalibration(
        "r", (CameraCalibration("cam0", CameraModel("pinhole-radtan", 8, 8, 5, 5, 4, 4), np.eye(4)),)
    )
    p1 = store_calibration(home, calib)
    p2 = store_calibration(home, calib)
    assert p1 == p2 and p1.stem == calib.hash.split(":")[1]
    assert load_calibration(home, calib.hash[:16]).hash == calib.hash
