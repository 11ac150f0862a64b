"""Devices screen against the virtual firmware process: pair (code shown and confirmed), status, update."""

from __future__ import annotations

import re

from devices.link.keystore import Keystore


def _virtual_rig(window, qtbot):
    panel = window.devices
    panel.start_virtual_rig()
    qtbot.waitUntil(lambda: bool(panel.rigs) or panel.message.status == "error", timeout=20000)
    assert panel.rigs, panel.message.text
    return panel


def test_pair_confirms_the_code_and_stores_the_key(window, qtbot, home) -> None:
    panel = _virtual_rig(window, qtbot)
    codes: list[str] = []
    panel.confirm_code = lambda code: codes.append(code) or True
    done: list[str] = []
    panel.pair_selected(on_done=done.append)
    qtbot.waitUntil(lambda: bool(done) or panel.message.status == "error", timeout=20000)
    assert done == [panel.rigs[0].serial], panel.message.text
    assert len(codes) == 1 and re.fullmatch(r"\d{6}", codes[0])
    assert Keystore(home.keystore).get(done[0]) is not None
    paired_col = window.devices.COLUMNS.index("Paired")
    assert panel.table.item(0, paired_col).text() == "yes"
    # The live screen offers the paired rig as a source beside the virtual rig.
    assert window.live.source_combo.count() >= 1


def test_pairing_refused_when_codes_differ(window, qtbot, home) -> None:
    panel = _virtual_rig(window, qtbot)
    panel.confirm_code = lambda code: False
    panel.pair_selected()
    qtbot.waitUntil(lambda: panel.message.status == "error", timeout=20000)
    assert "did not match" in panel.message.text
    assert Keystore(home.keystore).rigs() == []


def test_status_and_firmware_update_with_progress(window, qtbot, home) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from devices.link.firmware import build_package, public_key_bytes
    from gui.devices_panel import firmware_keys_folder

    key = Ed25519PrivateKey.generate()
    folder = firmware_keys_folder(home)
    folder.mkdir(parents=True)
    (folder / "vendor.pub").write_text(public_key_bytes(key).hex())
    pkg_path = home.root / "fw-1.1.0.dcfw"
    pkg_path.write_bytes(build_package(bytes(range(256)) * 40, (1, 1, 0), "rig-a", key).to_bytes())

    panel = _virtual_rig(window, qtbot)
    statused: list[bool] = []
    panel.refresh_status(on_done=lambda: statused.append(True))
    qtbot.waitUntil(lambda: bool(statused), timeout=20000)
    st = panel.status[panel.rigs[0].address]
    assert st.samples > 10 and 0.9 <= st.link_quality <= 1.0
    assert st.firmware == "1.0.0"
    assert st.clock_error_us is not None

    seen: list[int] = []
    panel.progress.valueChanged.connect(seen.append)
    versions: list[str] = []
    panel.update_selected(pkg_path, on_done=versions.append)
    qtbot.waitUntil(lambda: bool(versions) or panel.message.status == "error", timeout=60000)
    assert versions == ["1.1.0"], panel.message.text
    assert panel.table.item(0, panel.COLUMNS.index("Firmware")).text() == "1.1.0"
    assert seen and max(seen) > 0  # the bar moved
