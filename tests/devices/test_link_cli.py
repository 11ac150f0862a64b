"""``democap devices ...`` against a virtual rig on a pty."""

from __future__ import annotations

import json
import os
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from democap.cli import main
from devices.link.firmware import build_package, public_key_bytes
from devices.link.virtual_firmware import spawn


def test_devices_commands_end_to_end(tmp_path, monkeypatch, capsys) -> None:
    vendor = Ed25519PrivateKey.generate()
    home = tmp_path / "home"
    (home / "firmware-keys").mkdir(parents=True)
    (home / "firmware-keys" / "vendor.pub").write_text(public_key_bytes(vendor).hex())
    pkg = tmp_path / "fw-1.4.0.dcfw"
    pkg.write_bytes(build_package(os.urandom(20_000), (1, 4, 0), "rig-a", vendor).to_bytes())
    rig = spawn(
        "--pty",
        "--duration",
        "60",
        "--serial-number",
        "CLI-1",
        "--state-dir",
        str(tmp_path / "rig"),
        "--trusted-key",
        public_key_bytes(vendor).hex(),
    )
    monkeypatch.setenv("DEMOCAP_RIG_PORTS", rig.port)
    h = ["--home", str(home)]
    try:
        assert main([*h, "devices", "list", "--timeout", "0.5", "--json"]) == 0
        rows = json.loads(capsys.readouterr().out)
        assert [(r["serial"], r["address"], r["paired"]) for r in rows if r["serial"] == "CLI-1"] == [
            ("CLI-1", rig.address, False)
        ]

        assert main([*h, "devices", "pair", rig.address, "--yes"]) == 0
        out = capsys.readouterr().out
        assert "paired with CLI-1" in out
        key_hex = json.loads((home / "keystore.json").read_text())["rigs"]["CLI-1"]["key"]
        assert key_hex not in out  # never printed
        assert stat.S_IMODE((home / "keystore.json").stat().st_mode) == 0o600

        assert main([*h, "devices", "status", "CLI-1", "--json"]) == 0
        st = json.loads(capsys.readouterr().out)
        assert st["firmware"] == "1.0.0" and st["paired"] and st["config"]["imu_rate_hz"] == 200
        assert 0 <= st["status"]["battery_pct"] <= 100

        assert main([*h, "devices", "update", "CLI-1", str(pkg)]) == 0
        assert "now running firmware 1.4.0" in capsys.readouterr().out
        older = tmp_path / "old.dcfw"
        older.write_bytes(build_package(b"old", (1, 1, 0), "rig-a", vendor).to_bytes())
        assert main([*h, "devices", "update", "CLI-1", str(older)]) == 2
        assert "older" in capsys.readouterr().err

        assert main([*h, "devices", "unpair", "CLI-1"]) == 0
        assert "unpaired CLI-1" in capsys.readouterr().out
        assert "CLI-1" not in json.loads((home / "keystore.json").read_text())["rigs"]
    finally:
        rig.stop()


def test_unknown_rig_is_one_clear_error(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("DEMOCAP_RIG_PORTS", raising=False)
    assert main(["--home", str(tmp_path), "devices", "status", "NOPE-1"]) == 2
    err = capsys.readouterr().err
    assert "no rig 'NOPE-1' found" in err and "Traceback" not in err


@pytest.mark.parametrize("cmd", ["list", "pair", "unpair", "status", "update"])
def test_help_exists(cmd, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["devices", cmd, "--help"])
    assert "usage" in capsys.readouterr().out
