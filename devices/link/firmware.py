"""Signed firmware images: manifest format, Ed25519 signing/verification, package files.

Manifest (binary, little-endian; the signature covers exactly these bytes)::

    b"DCFW" | u8 format=1 | u16 major | u16 minor | u16 patch | u32 image_size
    | 32 bytes SHA-256 of the image | u8 n + n bytes UTF-8 hardware revision

A package file (``.dcfw``) is ``b"DCFWPKG1" | u16 manifest_len | manifest | 64-byte signature | image``.
The host verifies a package before uploading; the bootloader verifies again before commit.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from democap.errors import DemocapError

MAGIC = b"DCFW"
PKG_MAGIC = b"DCFWPKG1"
_FIXED = struct.Struct("<4sBHHHI32s")


class FirmwareError(DemocapError):
    """A firmware package is malformed, unsigned, for other hardware, a downgrade, or the update failed."""


@dataclass(frozen=True)
class Manifest:
    version: tuple[int, int, int]
    image_size: int
    image_sha256: bytes
    hw_rev: str

    def to_bytes(self) -> bytes:
        hw = self.hw_rev.encode()
        return _FIXED.pack(MAGIC, 1, *self.version, self.image_size, self.image_sha256) + bytes([len(hw)]) + hw

    @classmethod
    def from_bytes(cls, b: bytes) -> Manifest:
        if len(b) < _FIXED.size + 1:
            raise FirmwareError("manifest is truncated")
        magic, fmt, a, bb, c, size, sha = _FIXED.unpack_from(b)
        if magic != MAGIC or fmt != 1:
            raise FirmwareError("not a democap firmware manifest (bad magic or format)")
        n = b[_FIXED.size]
        hw = b[_FIXED.size + 1 : _FIXED.size + 1 + n]
        if len(hw) != n:
            raise FirmwareError("manifest is truncated")
        return cls((a, bb, c), size, sha, hw.decode("utf-8", errors="replace"))

    @property
    def version_str(self) -> str:
        return ".".join(map(str, self.version))


@dataclass(frozen=True)
class Package:
    manifest_bytes: bytes
    signature: bytes
    image: bytes

    @property
    def manifest(self) -> Manifest:
        return Manifest.from_bytes(self.manifest_bytes)

    def to_bytes(self) -> bytes:
        head = PKG_MAGIC + struct.pack("<H", len(self.manifest_bytes))
        return head + self.manifest_bytes + self.signature + self.image


def public_key_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def build_package(image: bytes, version: tuple[int, int, int], hw_rev: str, signing_key: Ed25519PrivateKey) -> Package:
    m = Manifest(version, len(image), hashlib.sha256(image).digest(), hw_rev).to_bytes()
    return Package(m, signing_key.sign(m), image)


def read_package(path: Path) -> Package:
    data = Path(path).read_bytes()
    if not data.startswith(PKG_MAGIC) or len(data) < len(PKG_MAGIC) + 2:
        raise FirmwareError("not a democap firmware package", path)
    (n,) = struct.unpack_from("<H", data, len(PKG_MAGIC))
    p = len(PKG_MAGIC) + 2
    if len(data) < p + n + 64:
        raise FirmwareError("firmware package is truncated", path)
    return Package(data[p : p + n], data[p + n : p + n + 64], data[p + n + 64 :])


def verify_signature(manifest_bytes: bytes, signature: bytes, trusted_keys: list[bytes]) -> bool:
    for k in trusted_keys:
        try:
            Ed25519PublicKey.from_public_bytes(k).verify(signature, manifest_bytes)
            return True
        except (InvalidSignature, ValueError):
            continue
    return False


def verify_package(
    pkg: Package,
    trusted_keys: list[bytes],
    hw_rev: str | None = None,
    current: tuple[int, int, int] | None = None,
    force: bool = False,
) -> Manifest:
    """Everything the host checks before uploading; raises FirmwareError with the reason."""
    if not verify_signature(pkg.manifest_bytes, pkg.signature, trusted_keys):
        raise FirmwareError("firmware signature is not from a trusted key")
    m = pkg.manifest
    if len(pkg.image) != m.image_size or hashlib.sha256(pkg.image).digest() != m.image_sha256:
        raise FirmwareError("firmware image does not match its signed manifest (size or SHA-256)")
    if hw_rev is not None and m.hw_rev != hw_rev:
        raise FirmwareError(f"firmware is for hardware {m.hw_rev!r}, the rig is {hw_rev!r}")
    if current is not None and m.version < tuple(current) and not force:
        raise FirmwareError(
            f"firmware {m.version_str} is older than the rig's {'.'.join(map(str, current))} (use --force to downgrade)"
        )
    return m


def trusted_keys_from(folder: Path) -> list[bytes]:
    """Trusted vendor public keys: one hex Ed25519 public key per ``*.pub`` file in ``folder``."""
    keys = []
    if folder.is_dir():
        for p in sorted(folder.glob("*.pub")):
            try:
                keys.append(bytes.fromhex(p.read_text().strip()))
            except ValueError as e:
                raise FirmwareError("not a hex Ed25519 public key", p) from e
    return keys


def _main(argv: list[str] | None = None) -> int:
    """Vendor side: ``keygen KEY`` writes a signing key (and KEY.pub); ``pack IMAGE ...`` writes a .dcfw."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m devices.link.firmware", description=_main.__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    k = sub.add_parser("keygen")
    k.add_argument("key", type=Path)
    p = sub.add_parser("pack")
    p.add_argument("image", type=Path)
    p.add_argument("--version", required=True, help="MAJOR.MINOR.PATCH")
    p.add_argument("--hw", required=True, help="hardware revision the image is for")
    p.add_argument("--key", required=True, type=Path)
    p.add_argument("-o", "--output", required=True, type=Path)
    args = ap.parse_args(argv)
    if args.cmd == "keygen":
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        args.key.touch(mode=0o600)
        args.key.write_bytes(pem)
        args.key.with_suffix(".pub").write_text(public_key_bytes(key).hex() + "\n")
        print(f"wrote {args.key} and {args.key.with_suffix('.pub')} (copy the .pub into <home>/firmware-keys/)")
        return 0
    loaded = serialization.load_pem_private_key(args.key.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise SystemExit(f"{args.key}: not an Ed25519 key")
    a, b, c = (int(x) for x in args.version.split("."))
    pkg = build_package(args.image.read_bytes(), (a, b, c), args.hw, loaded)
    args.output.write_bytes(pkg.to_bytes())
    print(f"wrote {args.output}: firmware {args.version} for {args.hw}, {len(pkg.image)} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
