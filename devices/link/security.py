"""Pairing maths and frame authentication for network rigs.

Pairing: both sides make an X25519 key pair and a nonce, exchange public keys, derive
the link key with HKDF-SHA256 and show a 6-digit comparison code derived from both public
keys and nonces (a man in the middle would have to make both codes match). Frames over a
network carry an authentication trailer: epoch u32 + HMAC-SHA256(key, header+payload+epoch)
truncated to 16 bytes. A per-peer ``ReplayWindow`` over (epoch, seq) rejects replays
while tolerating UDP loss and reordering.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from democap.errors import ProtocolError
from devices.link.framing import encode_frame
from devices.link.protocol import AUTH_TRAILER, FLAG_AUTH, FLAG_FROM_HOST, Frame, Message, encode_body

TAG_BYTES = 16
KEY_INFO = b"democap rig-link v1 key"
CODE_INFO = b"democap rig-link v1 code"
CONFIRM_LABEL = b"democap rig-link v1 confirm"


class AuthError(ProtocolError):
    """A frame failed authentication (unpaired, forged or replayed)."""


@dataclass
class PairingSide:
    """One side's ephemeral X25519 key pair and nonce for a single pairing attempt."""

    private: X25519PrivateKey = field(default_factory=X25519PrivateKey.generate)
    nonce: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def public_bytes(self) -> bytes:
        return self.private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def derive_pairing(
    side: PairingSide, peer_public: bytes, host_public: bytes, host_nonce: bytes, rig_public: bytes, rig_nonce: bytes
) -> tuple[bytes, str]:
    """(link key 32 bytes, 6-digit comparison code) — identical on both sides."""
    if len(peer_public) != 32:
        raise ProtocolError("pairing: peer public key must be 32 bytes")
    shared = side.private.exchange(X25519PublicKey.from_public_bytes(peer_public))
    transcript = host_public + rig_public + host_nonce + rig_nonce
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=transcript, info=KEY_INFO).derive(shared)
    code_int = int.from_bytes(hmac.new(key, CODE_INFO + transcript, hashlib.sha256).digest()[:4], "big")
    return key, f"{code_int % 1_000_000:06d}"


def confirm_proof(key: bytes) -> bytes:
    return hmac.new(key, CONFIRM_LABEL, hashlib.sha256).digest()


def fingerprint(key: bytes) -> str:
    """A short public name of a key (safe to show and store in the catalog)."""
    return hashlib.sha256(b"democap fingerprint" + key).hexdigest()[:16]


def tag(key: bytes, signed_part: bytes, epoch: int) -> bytes:
    return hmac.new(key, signed_part + epoch.to_bytes(4, "little"), hashlib.sha256).digest()[:TAG_BYTES]


def encode_authenticated(msg: Message, seq: int, t_device_us: int, key: bytes, epoch: int, from_host: bool) -> bytes:
    flags = FLAG_AUTH | (FLAG_FROM_HOST if from_host else 0)
    body = encode_body(msg, seq, t_device_us, flags)
    return encode_frame(body + epoch.to_bytes(4, "little") + tag(key, body, epoch))


class ReplayWindow:
    """Accepts each (epoch, seq) at most once; tolerates ``size`` frames of reordering.

    Epochs only go up (a rig's boot counter, a host's connection counter); a frame from an
    older epoch is a replay. Within an epoch, a bitmap of the last ``size`` sequence numbers.
    """

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self.epoch = -1
        self.top = -1
        self.bits = 0

    def check(self, epoch: int, seq: int) -> bool:
        """True (and remembered) if new; False for a replay or a frame too old to judge."""
        if epoch < self.epoch:
            return False
        if epoch > self.epoch:
            self.epoch, self.top, self.bits = epoch, seq, 1
            return True
        if seq > self.top:
            shift = seq - self.top
            self.bits = ((self.bits << shift) | 1) & ((1 << self.size) - 1) if shift < self.size else 1
            self.top = seq
            return True
        age = self.top - seq
        if age >= self.size or self.bits >> age & 1:
            return False
        self.bits |= 1 << age
        return True


@dataclass
class AuthStats:
    accepted: int = 0
    unauthenticated: int = 0
    forged: int = 0
    replayed: int = 0
    wrong_direction: int = 0

    @property
    def rejected(self) -> int:
        return self.unauthenticated + self.forged + self.replayed + self.wrong_direction


class FrameAuthenticator:
    """Checks incoming network frames from one peer: tag, direction, replay. Counts rejections."""

    def __init__(self, key: bytes | None, expect_from_host: bool) -> None:
        self.key = key
        self.expect_from_host = expect_from_host
        self.window = ReplayWindow()
        self.stats = AuthStats()

    def verify(self, frame: Frame) -> None:
        """Raises AuthError (and counts it) unless the frame is authentic and fresh."""
        if self.key is None or not frame.flags & FLAG_AUTH or frame.auth_tag is None or frame.auth_epoch is None:
            self.stats.unauthenticated += 1
            raise AuthError("unauthenticated frame on a network link (is the rig paired?)")
        if bool(frame.flags & FLAG_FROM_HOST) != self.expect_from_host:
            self.stats.wrong_direction += 1
            raise AuthError("frame reflected back to its sender")
        expected = tag(self.key, frame.signed_part, frame.auth_epoch)
        if not hmac.compare_digest(expected, frame.auth_tag):
            self.stats.forged += 1
            raise AuthError("frame authentication tag does not match")
        if not self.window.check(frame.auth_epoch, frame.seq):
            self.stats.replayed += 1
            raise AuthError(f"replayed frame (epoch {frame.auth_epoch}, seq {frame.seq})")
        self.stats.accepted += 1


assert AUTH_TRAILER == 4 + TAG_BYTES
