"""Signed firmware update against the virtual bootloader: verify, A/B commit, resume, brownouts, downgrades."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devices.link import protocol as proto
from devices.link.client import RigLink, RigLinkError, update_firmware
from devices.link.firmware import FirmwareError, build_package, public_key_bytes, read_package, verify_package
from devices.link.transport import SerialTransport
from devices.link.virtual_firmware import Bootloader, spawn

IMAGE = hashlib.sha256(b"seed").digest() * 2000  # 64 KB, deterministic


@pytest.fixture(scope="module")
def vendor_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"democap test vendor key").digest())


def _rig(state, key, *extra):
    return spawn(
        "--pty", "--duration", "60", "--state-dir", str(state), "--trusted-key", public_key_bytes(key).hex(), *extra
    )


def _connect(rig):
    return lambda: RigLink(SerialTransport(rig.port))


def test_update_commits_new_slot_and_reboots(tmp_path, vendor_key) -> None:
    pkg = build_package(IMAGE, (1, 1, 0), "rig-a", vendor_key)
    path = tmp_path / "fw.dcfw"
    path.write_bytes(pkg.to_bytes())
    pkg = read_package(path)
    rig = _rig(tmp_path / "state", vendor_key)
    try:
        before = RigLink(SerialTransport(rig.port))
        info0 = before.hello()
        before.close()
        assert update_firmware(_connect(rig), pkg, [public_key_bytes(vendor_key)]) == (1, 1, 0)
        link = RigLink(SerialTransport(rig.port))
        info = link.hello()
        assert info.fw_version == (1, 1, 0) and info.boot_counter == info0.boot_counter + 1
        # The same version again is allowed (re-flash); an older one is refused by host and rig.
        old = build_package(IMAGE[:1000], (1, 0, 5), "rig-a", vendor_key)
        with pytest.raises(FirmwareError, match="older"):
            verify_package(old, [public_key_bytes(vendor_key)], info.hw_rev, info.fw_version)
        with pytest.raises(RigLinkError, match="older"):
            link.request(proto.FwBegin(old.manifest_bytes, old.signature), proto.FwStatus)
        st = link.request(proto.FwBegin(old.manifest_bytes, old.signature, force=True), proto.FwStatus).message
        assert isinstance(st, proto.FwStatus) and st.state == proto.FW_RECEIVING
        link.request(proto.FwAbort(), proto.FwStatus)
        link.close()
    finally:
        rig.stop()
    assert (tmp_path / "state" / "slot1.bin").read_bytes() == IMAGE


def test_untrusted_or_foreign_images_are_refused(tmp_path, vendor_key) -> None:
    other = Ed25519PrivateKey.generate()
    rogue = build_package(IMAGE, (9, 0, 0), "rig-a", other)
    with pytest.raises(FirmwareError, match="trusted"):
        verify_package(rogue, [public_key_bytes(vendor_key)])
    wrong_hw = build_package(IMAGE, (2, 0, 0), "rig-b", vendor_key)
    with pytest.raises(FirmwareError, match="hardware"):
        verify_package(wrong_hw, [public_key_bytes(vendor_key)], hw_rev="rig-a")
    rig = _rig(tmp_path / "state", vendor_key)
    try:
        link = RigLink(SerialTransport(rig.port))
        link.hello()
        with pytest.raises(RigLinkError, match="trusted"):  # the bootloader checks too
            link.request(proto.FwBegin(rogue.manifest_bytes, rogue.signature), proto.FwStatus)
        with pytest.raises(RigLinkError, match="rig-b"):
            link.request(proto.FwBegin(wrong_hw.manifest_bytes, wrong_hw.signature), proto.FwStatus)
        link.close()
    finally:
        rig.stop()


@pytest.mark.parametrize("step", ["chunk:8192", "commit"])
def test_brownout_keeps_old_firmware_then_update_resumes(tmp_path, vendor_key, step) -> None:
    pkg = build_package(IMAGE, (1, 2, 0), "rig-a", vendor_key)
    trusted = [public_key_bytes(vendor_key)]
    state = tmp_path / "state"
    rig = _rig(state, vendor_key, "--brownout-at", step)
    try:
        with pytest.raises(FirmwareError):
            update_firmware(_connect(rig), pkg, trusted, max_reconnects=1, reconnect_timeout_s=0.5)
        rig.proc.wait(5)
        assert rig.proc.returncode == 3  # died of the injected power loss
    finally:
        rig.stop()
    rig = _rig(state, vendor_key)  # power back
    try:
        link = RigLink(SerialTransport(rig.port))
        assert link.hello().fw_version == (1, 0, 0)  # old firmware boots
        st = link.request(proto.FwBegin(pkg.manifest_bytes, pkg.signature), proto.FwStatus).message
        assert isinstance(st, proto.FwStatus)
        if step.startswith("chunk"):
            assert st.bytes_received == 8192  # resumes where the persisted progress says
        link.close()
        assert update_firmware(_connect(rig), pkg, trusted) == (1, 2, 0)
    finally:
        rig.stop()


def test_bootloader_falls_back_when_active_slot_is_corrupt(tmp_path, vendor_key) -> None:
    trusted = [public_key_bytes(vendor_key)]
    boot = Bootloader(tmp_path, "rig-a", (1, 0, 0), trusted)
    pkg = build_package(IMAGE[:5000], (1, 3, 0), "rig-a", vendor_key)
    boot.begin(proto.FwBegin(pkg.manifest_bytes, pkg.signature))
    for off in range(0, 5000, 1024):
        boot.chunk(proto.FwChunk(off, pkg.image[off : off + 1024]))
    boot.verify()
    boot.commit()
    assert Bootloader(tmp_path, "rig-a", (1, 0, 0), trusted).version == (1, 3, 0)
    slot = tmp_path / "slot1.bin"
    slot.write_bytes(b"\xff" + slot.read_bytes()[1:])  # flash corruption
    assert Bootloader(tmp_path, "rig-a", (1, 0, 0), trusted).version == (1, 0, 0)
