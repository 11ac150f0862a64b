"""The keystore: per-rig pairing keys in ``Home.keystore`` (JSON, mode 0600).

Keys are never printed or logged; ``pairing_records()`` gives what the catalog may hold
(serial, paired_at, fingerprint) so it can be rebuilt from this file.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from democap.errors import DemocapError
from devices.link.security import fingerprint


class KeystoreError(DemocapError):
    """The keystore cannot be read or written, or a rig is not in it."""


@dataclass(frozen=True)
class PairingRecord:
    """A pairing without its key (safe for the catalog's ``devices`` table)."""

    serial: str
    paired_at: float  # unix seconds
    fingerprint: str
    transport: str = ""
    address: str = ""


@dataclass(frozen=True)
class RigKey:
    serial: str
    key: bytes
    paired_at: float
    transport: str = ""
    address: str = ""

    def __repr__(self) -> str:  # keep the key out of logs and tracebacks
        return f"RigKey(serial={self.serial!r}, fingerprint={fingerprint(self.key)!r})"

    def record(self) -> PairingRecord:
        return PairingRecord(self.serial, self.paired_at, fingerprint(self.key), self.transport, self.address)


class Keystore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def _load(self) -> dict[str, dict]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text())
            return dict(data.get("rigs", {}))
        except (OSError, ValueError) as e:
            raise KeystoreError(f"cannot read keystore ({type(e).__name__})", self.path) from e

    def _save(self, rigs: dict[str, dict]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, json.dumps({"version": 1, "rigs": rigs}, indent=1, sort_keys=True).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)

    def put(self, serial: str, key: bytes, transport: str = "", address: str = "") -> RigKey:
        rigs = self._load()
        rk = RigKey(serial, key, time.time(), transport, address)
        rigs[serial] = {"key": key.hex(), "paired_at": rk.paired_at, "transport": transport, "address": address}
        self._save(rigs)
        return rk

    def get(self, serial: str) -> RigKey | None:
        d = self._load().get(serial)
        if d is None:
            return None
        return RigKey(
            serial, bytes.fromhex(d["key"]), float(d["paired_at"]), d.get("transport", ""), d.get("address", "")
        )

    def remove(self, serial: str) -> bool:
        rigs = self._load()
        if serial not in rigs:
            return False
        del rigs[serial]
        self._save(rigs)
        return True

    def rigs(self) -> list[RigKey]:
        return [k for s in sorted(self._load()) if (k := self.get(s)) is not None]


def pairing_records(keystore_path: Path) -> list[PairingRecord]:
    """Pairing records (no keys) for the catalog's ``devices`` table."""
    return [k.record() for k in Keystore(keystore_path).rigs()]
