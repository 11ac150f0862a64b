"""``democap devices list|pair|unpair|status|update``: thin commands over devices.link."""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from democap.errors import DemocapError
from democap.home import Home
from devices.link import protocol as proto
from devices.link.client import RigLink, RigLinkError, pair, unpair, update_firmware
from devices.link.discovery import FoundRig, browse_network_rigs, find_serial_rigs
from devices.link.firmware import read_package, trusted_keys_from
from devices.link.keystore import Keystore, pairing_records
from devices.link.transport import LinkDown, open_transport

log = logging.getLogger(__name__)


def firmware_keys_dir(home: Home) -> Path:
    """Trusted vendor keys for firmware updates: ``*.pub`` files (hex Ed25519) in here."""
    return home.root / "firmware-keys"


def _is_address(target: str) -> bool:
    return target.startswith(("serial:", "udp:", "/dev/", "COM"))


def resolve_address(home: Home, target: str, timeout: float = 1.5) -> str:
    """A rig address from an address, or a serial number (keystore, then discovery)."""
    if _is_address(target):
        return target
    rk = Keystore(home.keystore).get(target)
    if rk is not None and rk.address:
        return rk.address
    for rig in find_serial_rigs(timeout) + _network_rigs(timeout):
        if rig.serial == target:
            return rig.address
    raise RigLinkError(f"no rig {target!r} found (give its address, e.g. serial:/dev/ttyACM0 or udp:HOST:PORT)")


def _network_rigs(timeout: float) -> list[FoundRig]:
    try:
        return browse_network_rigs(timeout)
    except OSError as e:
        log.info("mDNS browsing unavailable: %s", e)
        return []


def open_link(home: Home, target: str) -> RigLink:
    """A link to the rig, authenticated with its pairing key when it is a network rig."""
    address = resolve_address(home, target)
    try:
        link = RigLink(open_transport(address))
    except LinkDown as e:
        raise RigLinkError(f"cannot open {address}: {e}") from e
    if link.authenticated:
        info = link.hello()
        rk = Keystore(home.keystore).get(info.serial)
        if rk is not None:
            link.set_key(rk.key)
    return link


def _print(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2) if getattr(args, "json", False) else text)


def cmd_list(args: argparse.Namespace) -> int:
    home: Home = args.home
    paired = {r.serial: r for r in pairing_records(home.keystore)}
    found = find_serial_rigs(args.timeout) + _network_rigs(args.timeout)
    rows = [
        {
            "serial": f.serial,
            "address": f.address,
            "hardware": f.hw_rev,
            "firmware": f.firmware,
            "found_via": f.via,
            "paired": f.serial in paired,
        }
        for f in found
    ]
    seen = {f.serial for f in found}
    rows += [
        {"serial": s, "address": r.address, "hardware": "", "firmware": "", "found_via": "", "paired": True}
        for s, r in paired.items()
        if s not in seen
    ]
    lines = [f"{'SERIAL':<16} {'ADDRESS':<28} {'HW':<8} {'FW':<8} {'STATE'}"]
    for r in rows:
        state = ("paired" if r["paired"] else "not paired") + ("" if r["found_via"] else ", not seen")
        lines.append(f"{r['serial']:<16} {r['address']:<28} {r['hardware']:<8} {r['firmware']:<8} {state}")
    _print(args, rows, "\n".join(lines) if rows else "no rigs found")
    return 0


def cmd_pair(args: argparse.Namespace) -> int:
    home: Home = args.home
    address = resolve_address(home, args.target)
    link = RigLink(open_transport(address))

    def confirm(code: str) -> bool:
        print(f"Pairing code: {code[:3]} {code[3:]}  (the rig shows the same code)")
        if args.yes:
            return True
        return input("Do the codes match? [y/N] ").strip().lower() in ("y", "yes")

    try:
        serial = pair(link, Keystore(home.keystore), confirm, address=address)
    finally:
        link.close()
    rec = next(r for r in pairing_records(home.keystore) if r.serial == serial)
    _print(args, asdict(rec), f"paired with {serial} (key fingerprint {rec.fingerprint})")
    return 0


def cmd_unpair(args: argparse.Namespace) -> int:
    home: Home = args.home
    ks = Keystore(home.keystore)
    try:
        link = open_link(home, args.target)
        try:
            serial = unpair(link, ks)
        finally:
            link.close()
        msg = f"unpaired {serial}"
    except (RigLinkError, LinkDown) as e:
        if _is_address(args.target) or not ks.remove(args.target):
            raise
        serial = args.target
        msg = f"forgot {serial} here; the rig was not reachable ({e}) and still holds its key until re-paired"
    _print(args, {"serial": serial, "unpaired": True}, msg)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    home: Home = args.home
    link = open_link(home, args.target)
    try:
        info = link.hello()
        config = {}
        for key, name in proto.CONFIG_KEYS.items():
            v = link.request(proto.ConfigGet(key), proto.ConfigValue, timeout=1.0).message
            assert isinstance(v, proto.ConfigValue)
            config[name] = v.value
        status = None
        deadline = time.monotonic() + 2.5
        while status is None and time.monotonic() < deadline:
            status = next((f.message for f, _ in link.poll(0.05) if isinstance(f.message, proto.Status)), None)
    finally:
        link.close()
    data: dict[str, Any] = {
        "serial": info.serial,
        "hardware": info.hw_rev,
        "firmware": info.fw_version_str,
        "protocol": f"{info.proto_major}.{info.proto_minor}",
        "boot_counter": info.boot_counter,
        "sensors": list(info.sensors),
        "capabilities": list(info.capabilities),
        "config": config,
        "paired": Keystore(home.keystore).get(info.serial) is not None,
    }
    if isinstance(status, proto.Status):
        data["status"] = {
            "battery_pct": status.battery_pct,
            "battery_mv": status.battery_mv,
            "temperature_c": status.temperature_centi_c / 100,
            "storage_free_mib": status.storage_free_kib // 1024,
            "errors": list(status.errors),
        }
    lines = [
        f"{info.serial}: {info.hw_rev}, firmware {info.fw_version_str}, protocol {data['protocol']}, "
        f"{'paired' if data['paired'] else 'not paired'}"
    ]
    if "status" in data:
        s = data["status"]
        lines.append(
            f"  battery {s['battery_pct']}% ({s['battery_mv']} mV), {s['temperature_c']:.1f} °C, "
            f"{s['storage_free_mib']} MiB free, errors {s['errors'] or 'none'}"
        )
    lines.append("  " + ", ".join(f"{k}={v}" for k, v in config.items()))
    _print(args, data, "\n".join(lines))
    return 0


def cmd_update(args: argparse.Namespace) -> int:
    home: Home = args.home
    pkg = read_package(Path(args.image))
    keys = trusted_keys_from(firmware_keys_dir(home))
    if not keys:
        raise DemocapError(f"no trusted firmware keys in {firmware_keys_dir(home)} (add the vendor's .pub file)")
    version = update_firmware(lambda: open_link(home, args.target), pkg, keys, force=args.force)
    v = ".".join(map(str, version))
    _print(args, {"target": args.target, "firmware": v}, f"{args.target}: now running firmware {v}")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("devices", help="find, pair, inspect and update rigs")
    ds = p.add_subparsers(dest="devices_cmd", metavar="list|pair|unpair|status|update", required=True)
    x = ds.add_parser("list", help="rigs on USB and the network, and paired rigs")
    x.add_argument("--timeout", type=float, default=1.5, help="seconds to wait for answers")
    x.add_argument("--json", action="store_true")
    x.set_defaults(func=cmd_list)
    x = ds.add_parser("pair", help="pair with a rig (compare the code it shows)")
    x.add_argument("target", help="rig address (serial:/dev/ttyACM0, udp:HOST:PORT) or serial number")
    x.add_argument("--yes", action="store_true", help="accept the code without asking (USB cable you trust)")
    x.add_argument("--json", action="store_true")
    x.set_defaults(func=cmd_pair)
    x = ds.add_parser("unpair", help="make the rig and this computer forget their pairing")
    x.add_argument("target")
    x.add_argument("--json", action="store_true")
    x.set_defaults(func=cmd_unpair)
    x = ds.add_parser("status", help="firmware, battery, temperature, storage, configuration")
    x.add_argument("target")
    x.add_argument("--json", action="store_true")
    x.set_defaults(func=cmd_status)
    x = ds.add_parser("update", help="install a signed firmware package (.dcfw)")
    x.add_argument("target")
    x.add_argument("image", help="firmware package file")
    x.add_argument("--force", action="store_true", help="allow installing an older version")
    x.add_argument("--json", action="store_true")
    x.set_defaults(func=cmd_update)
