"""Finding rigs: USB serial ports by VID/PID (then a hello), network rigs by mDNS/DNS-SD.

Network rigs advertise ``_democap-rig._udp.local.`` with TXT records ``serial``, ``hw``,
``fw`` and ``proto``. Extra serial ports (e.g. a virtual rig's pty) can be listed in the
``DEMOCAP_RIG_PORTS`` environment variable (``os.pathsep``-separated).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass

from democap.errors import DemocapError
from devices.link import protocol as proto

log = logging.getLogger(__name__)

#: pid.codes open-hardware vendor id with democap's product ids (rig firmware, rig bootloader).
RIG_USB_IDS: tuple[tuple[int, int], ...] = ((0x1209, 0xDCA0), (0x1209, 0xDCA1))
SERVICE_TYPE = "_democap-rig._udp.local."


@dataclass(frozen=True)
class FoundRig:
    address: str  # serial:/dev/ttyACM0 | udp:HOST:PORT
    serial: str = ""
    hw_rev: str = ""
    firmware: str = ""
    via: str = ""  # usb | env | mdns


def candidate_serial_ports() -> list[tuple[str, str]]:
    """(device path, how found) for USB ports with a rig's VID/PID and ports named in DEMOCAP_RIG_PORTS."""
    out: list[tuple[str, str]] = []
    try:
        from serial.tools import list_ports

        for p in list_ports.comports():
            if (p.vid, p.pid) in RIG_USB_IDS:
                out.append((p.device, "usb"))
    except ImportError:  # pyserial without list_ports on an exotic platform
        pass
    for p in os.environ.get("DEMOCAP_RIG_PORTS", "").split(os.pathsep):
        if p:
            out.append((p, "env"))
    return out


def probe_serial(port: str, timeout: float = 1.0) -> proto.DeviceInfo:
    """Open ``port`` and ask the rig who it is."""
    from devices.link.client import RigLink
    from devices.link.transport import SerialTransport

    link = RigLink(SerialTransport(port))
    try:
        return link.hello(timeout=timeout)
    finally:
        link.close()


def find_serial_rigs(timeout: float = 1.0) -> list[FoundRig]:
    found = []
    for port, via in candidate_serial_ports():
        try:
            info = probe_serial(port, timeout)
        except (DemocapError, ConnectionError) as e:
            log.info("%s: no rig answered (%s)", port, e)
            continue
        found.append(FoundRig(f"serial:{port}", info.serial, info.hw_rev, info.fw_version_str, via))
    return found


class Advertiser:
    """Announce a network rig over mDNS (used by the virtual firmware; real rigs do the same)."""

    def __init__(self, serial: str, port: int, hw_rev: str, firmware: str, address: str = "127.0.0.1") -> None:
        from zeroconf import ServiceInfo, Zeroconf

        self.zc = Zeroconf(interfaces=[address])
        self.info = ServiceInfo(
            SERVICE_TYPE,
            f"{serial}.{SERVICE_TYPE}",
            addresses=[socket.inet_aton(address)],
            port=port,
            properties={
                "serial": serial,
                "hw": hw_rev,
                "fw": firmware,
                "proto": f"{proto.PROTOCOL_MAJOR}.{proto.PROTOCOL_MINOR}",
            },
        )
        self.zc.register_service(self.info)

    def close(self) -> None:
        self.zc.unregister_service(self.info)
        self.zc.close()


def browse_network_rigs(timeout: float = 2.0, interface: str | None = None) -> list[FoundRig]:
    """Rigs announcing ``_democap-rig._udp`` within ``timeout`` seconds."""
    from zeroconf import ServiceBrowser, Zeroconf

    zc = Zeroconf(interfaces=[interface]) if interface else Zeroconf()
    names: list[str] = []

    class _Listener:
        def add_service(self, zc_: Zeroconf, type_: str, name: str) -> None:
            names.append(name)

        def update_service(self, zc_: Zeroconf, type_: str, name: str) -> None:
            pass

        def remove_service(self, zc_: Zeroconf, type_: str, name: str) -> None:
            pass

    browser = ServiceBrowser(zc, SERVICE_TYPE, _Listener())  # type: ignore[arg-type]
    try:
        time.sleep(timeout)
        found = []
        for name in sorted(set(names)):
            info = zc.get_service_info(SERVICE_TYPE, name, timeout=1000)
            if info is None or not info.addresses:
                continue
            props = {k.decode(): (v or b"").decode() for k, v in info.properties.items()}
            host = socket.inet_ntoa(info.addresses[0])
            found.append(
                FoundRig(
                    f"udp:{host}:{info.port}", props.get("serial", ""), props.get("hw", ""), props.get("fw", ""), "mdns"
                )
            )
        return found
    finally:
        browser.cancel()
        zc.close()
