"""The catalog: an SQLite index (WAL mode, versioned schema) over the home folder's files.

It holds nothing that is not in a file: sessions and their episodes, decisions and stage
flags come from session folders; calibrations from ``calibrations/*.json``; pairing
records from the keystore (never the keys); exports from ``exports.jsonl``. So
``rebuild()`` recreates it from scratch with nothing lost, and a damaged catalog is
never a loss of data.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import sqlite_utils

from capture.artifacts import read_stage, session_flags
from capture.session import Session, _append_line, _read_jsonl
from democap.errors import CatalogError, DemocapError
from democap.home import Home
from democap.model import RigCalibration, review_of

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2


def _m1(db: sqlite_utils.Database) -> None:
    db.table("devices").create(
        {
            "serial": str,
            "kind": str,
            "hardware": str,
            "firmware": str,
            "paired_at_ns": int,
            "key_fingerprint": str,
            "last_seen_ns": int,
        },
        pk="serial",
    )
    db.table("sessions").create(
        {
            "id": str,
            "path": str,
            "created_realtime_ns": int,
            "status": str,
            "operator": str,
            "source_kind": str,
            "source_path": str,
            "duration_s": float,
            "n_streams": int,
            "n_episodes": int,
            "rigs": str,
            "streams": str,
        },
        pk="id",
    )
    db.table("episodes").create(
        {
            "session_id": str,
            "idx": int,
            "t0_ns": int,
            "t1_ns": int,
            "duration_s": float,
            "source": str,
            "task": str,
            "review": str,
            "notes": str,
        },
        pk=("session_id", "idx"),
        foreign_keys=[("session_id", "sessions", "id")],
    )
    db.table("calibrations").create(
        {
            "hash": str,
            "path": str,
            "rig_serial": str,
            "cameras": str,
            "models": str,
            "rms_px": float,
            "created_ns": int,
        },
        pk="hash",
    )
    db.table("flags").create(
        {
            "session_id": str,
            "rig": str,
            "robot": str,
            "kind": str,
            "severity": str,
            "t0_ns": int,
            "t1_ns": int,
            "evidence": str,
        }
    )
    db.table("flags").create_index(["session_id"])
    db.table("exports").create(
        {
            "id": str,
            "path": str,
            "format": str,
            "created_realtime_ns": int,
            "sessions": str,
            "n_episodes": int,
            "policy": str,
        },
        pk="id",
    )


def _m2(db: sqlite_utils.Database) -> None:
    # Stage freshness at a glance in the session browser.
    db.table("sessions").add_column("stages", str)
    db.table("episodes").create_index(["review"])


#: Ordered migrations; migration i takes the schema from version i to i + 1.
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_m1, _m2]
assert len(MIGRATIONS) == SCHEMA_VERSION


class Catalog:
    """Index of a home folder. Open with ``Catalog(home)``; it creates or migrates the file."""

    def __init__(self, home: Home, path: Path | None = None) -> None:
        self.home = home
        self.path = path or home.catalog
        try:
            self.db = sqlite_utils.Database(self.path)
            self.db.enable_wal()
            self._migrate()
        except sqlite3.DatabaseError as e:
            raise CatalogError(f"not a usable SQLite catalog ({e}); run `democap catalog rebuild`", self.path) from e

    def close(self) -> None:
        self.db.close()

    @property
    def version(self) -> int:
        if "meta" not in self.db.table_names():
            return 0
        row = self.db.execute("select value from meta where key = 'schema_version'").fetchone()
        return int(row[0]) if row else 0

    def _migrate(self) -> None:
        v = self.version
        if v > SCHEMA_VERSION:
            raise CatalogError(f"catalog schema {v} is newer than this democap ({SCHEMA_VERSION})", self.path)
        if v == SCHEMA_VERSION:
            return
        with self.db.conn:
            if "meta" not in self.db.table_names():
                self.db.table("meta").create({"key": str, "value": str}, pk="key")
            for i in range(v, SCHEMA_VERSION):
                MIGRATIONS[i](self.db)
                log.info("catalog %s migrated to schema %d", self.path, i + 1)
            self.db.table("meta").upsert({"key": "schema_version", "value": str(SCHEMA_VERSION)}, pk="key")

    # ------------------------------------------------------------- indexing
    def index_session(self, session: Session) -> None:
        m = session.manifest
        spans = [(s.get("t0_ns"), s.get("t1_ns")) for s in m["streams"].values() if s.get("t0_ns") is not None]
        duration = (max(b for _, b in spans) - min(a for a, _ in spans)) * 1e-9 if spans else 0.0
        stages = {}
        for d in sorted((session.path / "stages").glob("*/stage.json")) + sorted(
            (session.path / "stages").glob("*/*/stage.json")
        ):
            rel = str(d.parent.relative_to(session.path / "stages"))
            rec = read_stage(session, rel)
            if rec is not None:
                stages[rel] = {"version": rec.version, "created_realtime_ns": rec.created_realtime_ns}
        decisions = session.decisions()
        flags = session_flags(session)
        with self.db.conn:
            self.db.table("sessions").upsert(
                {
                    "id": session.id,
                    "path": str(session.path),
                    "created_realtime_ns": m["created"]["realtime_ns"],
                    "status": m["status"],
                    "operator": m.get("operator", ""),
                    "source_kind": m["source"].get("kind", ""),
                    "source_path": str(m["source"].get("path", "")),
                    "duration_s": round(duration, 3),
                    "n_streams": len(m["streams"]),
                    "n_episodes": len(m.get("episodes", [])),
                    "rigs": json.dumps(m.get("rigs", {})),
                    "streams": json.dumps(sorted(m["streams"])),
                    "stages": json.dumps(stages),
                },
                pk="id",
            )
            self.db.table("episodes").delete_where("session_id = ?", [session.id])
            for e in session.episodes:
                r = review_of(decisions, e.index)
                self.db.table("episodes").insert(
                    {
                        "session_id": session.id,
                        "idx": e.index,
                        "t0_ns": e.t0_ns,
                        "t1_ns": e.t1_ns,
                        "duration_s": round(e.duration_s, 3),
                        "source": e.source,
                        "task": e.task,
                        "review": r.status,
                        "notes": "\n".join(r.notes),
                    },
                    pk=("session_id", "idx"),
                )
            self.db.table("flags").delete_where("session_id = ?", [session.id])
            self.db.table("flags").insert_all(
                (
                    {
                        "session_id": session.id,
                        "rig": f.rig,
                        "robot": f.robot or "",
                        "kind": f.kind,
                        "severity": f.severity,
                        "t0_ns": f.t0_ns,
                        "t1_ns": f.t1_ns,
                        "evidence": json.dumps(dict(f.evidence)),
                    }
                    for f in flags
                ),
                batch_size=500,
            )
            for rig in m.get("rigs", {}).values():
                dev = rig.get("device") or {}
                if dev.get("serial"):
                    self._upsert_device(
                        {
                            "serial": dev["serial"],
                            "kind": dev.get("kind", ""),
                            "hardware": dev.get("hardware", ""),
                            "firmware": dev.get("firmware", ""),
                            "last_seen_ns": m["created"]["realtime_ns"],
                        }
                    )

    def _upsert_device(self, row: Mapping[str, Any]) -> None:
        existing = (
            self.db.table("devices").get(row["serial"])
            if self.db.table("devices").count_where("serial = ?", [row["serial"]])
            else {}
        )
        merged = {**existing, **{k: v for k, v in row.items() if v not in (None, "")}}
        if existing.get("last_seen_ns") and row.get("last_seen_ns"):
            merged["last_seen_ns"] = max(existing["last_seen_ns"], row["last_seen_ns"])
        self.db.table("devices").upsert(merged, pk="serial")

    def index_device_pairing(
        self, serial: str, paired_at_ns: int | None, key_fingerprint: str | None, **info: Any
    ) -> None:
        with self.db.conn:
            self._upsert_device(
                {"serial": serial, "paired_at_ns": paired_at_ns, "key_fingerprint": key_fingerprint, **info}
            )
            if paired_at_ns is None:
                self.db.execute(
                    "update devices set paired_at_ns = null, key_fingerprint = null where serial = ?", [serial]
                )

    def index_calibration(self, path: Path) -> str:
        calib = RigCalibration.from_dict(json.loads(Path(path).read_text()))
        h = calib.hash
        with self.db.conn:
            self.db.table("calibrations").upsert(
                {
                    "hash": h,
                    "path": str(path),
                    "rig_serial": calib.rig_serial,
                    "cameras": json.dumps([c.name for c in calib.cameras]),
                    "models": json.dumps([c.camera.model for c in calib.cameras]),
                    "rms_px": max((c.rms_px for c in calib.cameras if c.rms_px is not None), default=None),
                    "created_ns": int(os.stat(path).st_mtime_ns),
                },
                pk="hash",
            )
        return h

    def record_export(self, record: Mapping[str, Any], log_it: bool = True) -> None:
        """Index an export; with ``log_it`` also append it to ``exports.jsonl`` (the source of truth)."""
        if log_it:
            _append_line(self.home.exports_log, record)
        with self.db.conn:
            self.db.table("exports").upsert(
                {
                    "id": record["id"],
                    "path": record["path"],
                    "format": record["format"],
                    "created_realtime_ns": record["created_realtime_ns"],
                    "sessions": json.dumps(record["sessions"]),
                    "n_episodes": record.get("n_episodes", 0),
                    "policy": json.dumps(record.get("policy", {})),
                },
                pk="id",
            )

    # --------------------------------------------------------------- queries
    def sessions(self, where: str | None = None, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        try:
            return list(self.db.table("sessions").rows_where(where, list(params), order_by="created_realtime_ns"))
        except sqlite3.OperationalError as e:
            raise CatalogError(f"bad --where clause {where!r}: {e}") from e

    def session_ids_where(self, where: str) -> list[str]:
        """Session ids matching a SQL condition over ``sessions`` joined with ``episodes`` (as s, e)."""
        sql = (
            "select distinct s.id from sessions s left join episodes e on e.session_id = s.id "
            f"where {where} order by s.created_realtime_ns"
        )
        try:
            return [r[0] for r in self.db.execute(sql).fetchall()]
        except sqlite3.OperationalError as e:
            raise CatalogError(f"bad --where clause {where!r}: {e}") from e

    def counts(self) -> dict[str, int]:
        return {t: self.db[t].count for t in ("sessions", "episodes", "calibrations", "flags", "devices", "exports")}


def refresh_session(home: Home, session: Session) -> None:
    """Re-index one session after something changed it (import, stage, decision)."""
    cat = Catalog(home)
    try:
        cat.index_session(session)
    finally:
        cat.close()


def rebuild(home: Home, pairing_records: Iterable[Mapping[str, Any]] | None = None) -> dict[str, int]:
    """Recreate the catalog from the files in the home folder; atomically replace the old one.

    Sessions that cannot be read are reported, not dropped from disk.
    """
    tmp = home.catalog.with_name(f"catalog.rebuild-{os.getpid()}-{time.time_ns()}.sqlite")
    cat = Catalog(home, tmp)
    problems: list[str] = []
    try:
        for mpath in sorted(home.sessions.glob("*/manifest.json")):
            try:
                cat.index_session(Session(mpath.parent))
            except DemocapError as e:
                problems.append(str(e))
        seen = set()
        for p in sorted(home.calibrations.glob("*.json")) + sorted(home.sessions.glob("*/calibrations/*.json")):
            try:
                h = cat.index_calibration(p)
            except (ValueError, KeyError, json.JSONDecodeError) as e:
                problems.append(f"{p}: not a calibration ({e})")
                continue
            seen.add(h)
        for rec in pairing_records if pairing_records is not None else _pairing_records(home):
            cat.index_device_pairing(rec["serial"], rec.get("paired_at_ns"), rec.get("key_fingerprint"))
        for rec in _read_jsonl(home.exports_log):
            cat.record_export(rec, log_it=False)
        counts = cat.counts()
    finally:
        cat.close()
    for suffix in ("-wal", "-shm"):
        p = Path(str(home.catalog) + suffix)
        if p.exists():
            p.unlink()  # WAL side files of the old catalog: the rebuilt file supersedes them
    os.replace(tmp, home.catalog)
    for suffix in ("-wal", "-shm"):
        p = Path(str(tmp) + suffix)
        if p.exists():
            p.unlink()
    for msg in problems:
        log.warning("catalog rebuild: %s", msg)
    counts["problems"] = len(problems)
    return counts


def _pairing_records(home: Home) -> list[dict[str, Any]]:
    """Pairing records (no keys) from the keystore, if the rig link is installed."""
    try:
        from devices.link.keystore import pairing_records
    except ImportError:
        return []
    if not home.keystore.exists():
        return []
    return [
        {"serial": r.serial, "paired_at_ns": int(r.paired_at * 1e9), "key_fingerprint": r.fingerprint}
        for r in pairing_records(home.keystore)
    ]
