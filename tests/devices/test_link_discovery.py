"""Serial discovery: USB VID/PID filtering plus a hello (the USB enumeration is faked, the port is a real pty)."""

from __future__ import annotations

from types import SimpleNamespace

from devices.link import discovery
from devices.link.virtual_firmware import spawn


def test_usb_ports_are_filtered_by_vid_pid_and_probed(monkeypatch) -> None:
    rig = spawn("--pty", "--duration", "20", "--serial-number", "USB-3")
    try:
        vid, pid = discovery.RIG_USB_IDS[0]
        ports = [
            SimpleNamespace(device=rig.port, vid=vid, pid=pid),
            SimpleNamespace(device="/dev/ttyS-not-a-rig", vid=0x0403, pid=0x6001),  # an FTDI cable
            SimpleNamespace(device="/dev/ttyACM-silent", vid=vid, pid=pid),
        ]  # rig id, no answer
        from serial.tools import list_ports

        monkeypatch.setattr(list_ports, "comports", lambda: ports)
        monkeypatch.delenv("DEMOCAP_RIG_PORTS", raising=False)
        assert [p for p, _ in discovery.candidate_serial_ports()] == [rig.port, "/dev/ttyACM-silent"]
        found = discovery.find_serial_rigs(timeout=1.0)
        assert [(f.serial, f.address, f.via, f.firmware) for f in found] == [("USB-3", rig.address, "usb", "1.0.0")]
    finally:
        rig.stop()
