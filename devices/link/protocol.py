"""Rig link protocol v1: frame header and typed messages (docs/rig-protocol.md is the spec).

``encode(msg, seq, t_device_us)`` gives wire bytes; ``decode_body(body)`` gives a ``Frame``
holding the header fields and a message dataclass. Everything little-endian. Payloads may
grow at their end in a later minor version, so decoders ignore trailing bytes; a message
type this side does not know decodes to ``UnknownMessage`` (callers ignore it); a newer
major version is refused with ``UnsupportedVersionError``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from democap.errors import ProtocolError
from devices.link.framing import decode_frame, encode_frame

PROTOCOL_MAJOR = 1
PROTOCOL_MINOR = 0
VERSION_BYTE = (PROTOCOL_MAJOR << 4) | PROTOCOL_MINOR

HEADER = struct.Struct("<BBBBIQ")  # version, type, flags, reserved, seq u32, device time u64 us
HEADER_SIZE = HEADER.size  # 16

FLAG_AUTH = 0x01  # an authentication trailer (epoch u32 + 16-byte tag) follows the payload
FLAG_FROM_HOST = 0x02  # sent by the host (binds direction into the authentication tag)
AUTH_TRAILER = 20


class UnsupportedVersionError(ProtocolError):
    """The peer speaks a newer major protocol version than this side."""


# Sensor and capability bits of DeviceInfo (spec section "Device info").
SENSORS = ("imu", "gripper", "buttons", "camera_trigger", "battery", "temperature")
CAPABILITIES = ("time_sync", "config", "firmware_update", "pairing", "network_auth")

# Config keys (spec section "Configuration").
CONFIG_KEYS = {
    1: "imu_rate_hz",
    2: "gyro_range_dps",
    3: "accel_range_g",
    4: "led_mode",
    5: "camera_trigger_hz",
    6: "camera_trigger_enabled",
    7: "gripper_rate_hz",
    8: "status_period_ms",
}
CONFIG_IDS = {v: k for k, v in CONFIG_KEYS.items()}

# NACK error codes.
ERR_UNKNOWN = 1
ERR_BAD_PAYLOAD = 2
ERR_BAD_VALUE = 3
ERR_BUSY = 4
ERR_SIGNATURE = 5
ERR_HASH = 6
ERR_DOWNGRADE = 7
ERR_HW_MISMATCH = 8
ERR_STATE = 9
ERR_NOT_PAIRED = 10
ERR_AUTH = 11


def _bits(names: tuple[str, ...], table: tuple[str, ...]) -> int:
    return sum(1 << table.index(n) for n in names if n in table)


def _names(bits: int, table: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(n for i, n in enumerate(table) if bits >> i & 1)


def _pstr(s: str) -> bytes:
    b = s.encode("utf-8")
    if len(b) > 255:
        raise ProtocolError(f"string field longer than 255 bytes: {s[:40]!r}...")
    return bytes([len(b)]) + b


class _Reader:
    def __init__(self, data: bytes, what: str) -> None:
        self.data, self.pos, self.what = data, 0, what

    def take(self, fmt: str) -> tuple:
        s = struct.Struct("<" + fmt)
        if self.pos + s.size > len(self.data):
            raise ProtocolError(
                f"{self.what}: payload of {len(self.data)} bytes is truncated (needs {self.pos + s.size})"
            )
        v = s.unpack_from(self.data, self.pos)
        self.pos += s.size
        return v

    def raw(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ProtocolError(f"{self.what}: payload of {len(self.data)} bytes is truncated (needs {self.pos + n})")
        b = self.data[self.pos : self.pos + n]
        self.pos += n
        return bytes(b)

    def pstr(self) -> str:
        (n,) = self.take("B")
        try:
            return self.raw(n).decode("utf-8")
        except UnicodeDecodeError as e:
            raise ProtocolError(f"{self.what}: string is not UTF-8") from e

    def rest(self) -> bytes:
        b = self.data[self.pos :]
        self.pos = len(self.data)
        return bytes(b)


class Message:
    TYPE: ClassVar[int]
    NAME: ClassVar[str]

    def payload(self) -> bytes:
        raise NotImplementedError

    @classmethod
    def parse(cls, r: _Reader) -> Message:
        raise NotImplementedError


MESSAGES: dict[int, type[Message]] = {}


def _register(cls: type[Message]) -> type[Message]:
    assert cls.TYPE not in MESSAGES
    MESSAGES[cls.TYPE] = cls
    return cls


@_register
@dataclass(frozen=True)
class Hello(Message):
    """Host -> rig: who are you? The rig answers with DeviceInfo."""

    TYPE: ClassVar[int] = 0x01
    NAME: ClassVar[str] = "hello"
    host_epoch: int = 0

    def payload(self) -> bytes:
        return struct.pack("<BBI", PROTOCOL_MAJOR, PROTOCOL_MINOR, self.host_epoch)

    @classmethod
    def parse(cls, r: _Reader) -> Hello:
        _maj, _min, epoch = r.take("BBI")
        return cls(epoch)


@_register
@dataclass(frozen=True)
class DeviceInfo(Message):
    TYPE: ClassVar[int] = 0x02
    NAME: ClassVar[str] = "device_info"
    serial: str
    hw_rev: str
    fw_version: tuple[int, int, int]
    sensors: tuple[str, ...] = ()
    capabilities: tuple[str, ...] = ()
    boot_counter: int = 0
    proto_major: int = PROTOCOL_MAJOR
    proto_minor: int = PROTOCOL_MINOR

    def payload(self) -> bytes:
        return (
            struct.pack(
                "<BBHHHIII",
                self.proto_major,
                self.proto_minor,
                *self.fw_version,
                _bits(self.sensors, SENSORS),
                _bits(self.capabilities, CAPABILITIES),
                self.boot_counter,
            )
            + _pstr(self.serial)
            + _pstr(self.hw_rev)
        )

    @classmethod
    def parse(cls, r: _Reader) -> DeviceInfo:
        maj, mnr, a, b, c, sens, caps, boot = r.take("BBHHHIII")
        serial = r.pstr()
        hw = r.pstr()
        return cls(serial, hw, (a, b, c), _names(sens, SENSORS), _names(caps, CAPABILITIES), boot, maj, mnr)

    @property
    def fw_version_str(self) -> str:
        return ".".join(map(str, self.fw_version))


@_register
@dataclass(frozen=True)
class Ack(Message):
    TYPE: ClassVar[int] = 0x03
    NAME: ClassVar[str] = "ack"
    acked_type: int
    acked_seq: int

    def payload(self) -> bytes:
        return struct.pack("<BI", self.acked_type, self.acked_seq)

    @classmethod
    def parse(cls, r: _Reader) -> Ack:
        return cls(*r.take("BI"))


@_register
@dataclass(frozen=True)
class Nack(Message):
    TYPE: ClassVar[int] = 0x04
    NAME: ClassVar[str] = "nack"
    nacked_type: int
    nacked_seq: int
    code: int
    reason: str = ""

    def payload(self) -> bytes:
        return struct.pack("<BIH", self.nacked_type, self.nacked_seq, self.code) + _pstr(self.reason)

    @classmethod
    def parse(cls, r: _Reader) -> Nack:
        t, s, c = r.take("BIH")
        return cls(t, s, c, r.pstr())


@_register
@dataclass(frozen=True)
class Log(Message):
    TYPE: ClassVar[int] = 0x05
    NAME: ClassVar[str] = "log"
    level: int  # 10 debug, 20 info, 30 warning, 40 error (Python logging levels)
    text: str

    def payload(self) -> bytes:
        return bytes([self.level]) + self.text.encode("utf-8")

    @classmethod
    def parse(cls, r: _Reader) -> Log:
        (lvl,) = r.take("B")
        return cls(lvl, r.rest().decode("utf-8", errors="replace"))


_IMU_SAMPLE = struct.Struct("<I6h")


@_register
@dataclass(frozen=True, eq=False)
class ImuBatch(Message):
    """IMU samples; the header time is the first sample's device time (us).

    ``dt_us`` (N,) offsets from the header time; ``gyro_raw``/``accel_raw`` (N, 3) int16 in the
    IMU frame, scaled by ``gyro_scale`` (rad/s per LSB) and ``accel_scale`` (m/s^2 per LSB).
    """

    TYPE: ClassVar[int] = 0x10
    NAME: ClassVar[str] = "imu_batch"
    gyro_scale: float
    accel_scale: float
    dt_us: NDArray[np.uint32]
    gyro_raw: NDArray[np.int16]
    accel_raw: NDArray[np.int16]

    def payload(self) -> bytes:
        n = len(self.dt_us)
        rec = np.zeros(n, dtype=[("dt", "<u4"), ("v", "<i2", (6,))])
        rec["dt"] = self.dt_us
        rec["v"][:, :3] = self.gyro_raw
        rec["v"][:, 3:] = self.accel_raw
        return struct.pack("<ffH", self.gyro_scale, self.accel_scale, n) + rec.tobytes()

    @classmethod
    def parse(cls, r: _Reader) -> ImuBatch:
        gs, as_, n = r.take("ffH")
        raw = r.raw(n * _IMU_SAMPLE.size)
        rec = np.frombuffer(raw, dtype=[("dt", "<u4"), ("v", "<i2", (6,))])
        if not (np.isfinite(gs) and np.isfinite(as_)):
            raise ProtocolError("imu_batch: scale factor is not finite")
        return cls(
            gs, as_, rec["dt"].astype(np.uint32), rec["v"][:, :3].astype(np.int16), rec["v"][:, 3:].astype(np.int16)
        )

    def gyro(self) -> NDArray[np.float64]:
        return self.gyro_raw.astype(np.float64) * self.gyro_scale

    def accel(self) -> NDArray[np.float64]:
        return self.accel_raw.astype(np.float64) * self.accel_scale

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ImuBatch) and self.payload() == other.payload()


@_register
@dataclass(frozen=True)
class Gripper(Message):
    TYPE: ClassVar[int] = 0x11
    NAME: ClassVar[str] = "gripper"
    encoder_counts: int
    width_um: int  # finger opening in micrometres (firmware applies its calibration)

    def payload(self) -> bytes:
        return struct.pack("<iI", self.encoder_counts, self.width_um)

    @classmethod
    def parse(cls, r: _Reader) -> Gripper:
        return cls(*r.take("iI"))


BUTTON_TRIGGER = 0
EPISODE_NONE, EPISODE_START, EPISODE_STOP = 0, 1, 2


@_register
@dataclass(frozen=True)
class Button(Message):
    """A button edge. The firmware owns episode state (it drives the LED), so it says
    whether this edge started or stopped an episode."""

    TYPE: ClassVar[int] = 0x12
    NAME: ClassVar[str] = "button"
    button: int
    pressed: bool
    episode: int = EPISODE_NONE

    def payload(self) -> bytes:
        return struct.pack("<BBB", self.button, int(self.pressed), self.episode)

    @classmethod
    def parse(cls, r: _Reader) -> Button:
        b, p, e = r.take("BBB")
        return cls(b, bool(p), e)


@_register
@dataclass(frozen=True)
class CameraTrigger(Message):
    """A camera trigger pulse; the header time is the pulse time."""

    TYPE: ClassVar[int] = 0x13
    NAME: ClassVar[str] = "camera_trigger"
    camera: int
    frame_counter: int
    exposure_start_us: int
    exposure_us: int

    def payload(self) -> bytes:
        return struct.pack("<BIQI", self.camera, self.frame_counter, self.exposure_start_us, self.exposure_us)

    @classmethod
    def parse(cls, r: _Reader) -> CameraTrigger:
        return cls(*r.take("BIQI"))


@_register
@dataclass(frozen=True)
class Status(Message):
    TYPE: ClassVar[int] = 0x14
    NAME: ClassVar[str] = "status"
    battery_mv: int
    battery_pct: int
    temperature_centi_c: int
    storage_free_kib: int
    storage_total_kib: int
    errors: tuple[int, ...] = ()

    def payload(self) -> bytes:
        return struct.pack(
            "<HBhIIB",
            self.battery_mv,
            self.battery_pct,
            self.temperature_centi_c,
            self.storage_free_kib,
            self.storage_total_kib,
            len(self.errors),
        ) + struct.pack(f"<{len(self.errors)}H", *self.errors)

    @classmethod
    def parse(cls, r: _Reader) -> Status:
        mv, pct, temp, free, total, n = r.take("HBhIIB")
        return cls(mv, pct, temp, free, total, tuple(r.take(f"{n}H")))


@_register
@dataclass(frozen=True)
class TimeSyncRequest(Message):
    TYPE: ClassVar[int] = 0x20
    NAME: ClassVar[str] = "time_sync_request"
    exchange_id: int
    t_host_send_ns: int

    def payload(self) -> bytes:
        return struct.pack("<IQ", self.exchange_id, self.t_host_send_ns)

    @classmethod
    def parse(cls, r: _Reader) -> TimeSyncRequest:
        return cls(*r.take("IQ"))


@_register
@dataclass(frozen=True)
class TimeSyncResponse(Message):
    """Device receive and transmit times in ns of the device clock (finer than the header's us)."""

    TYPE: ClassVar[int] = 0x21
    NAME: ClassVar[str] = "time_sync_response"
    exchange_id: int
    t_host_send_ns: int
    t_device_rx_ns: int
    t_device_tx_ns: int

    def payload(self) -> bytes:
        return struct.pack("<IQQQ", self.exchange_id, self.t_host_send_ns, self.t_device_rx_ns, self.t_device_tx_ns)

    @classmethod
    def parse(cls, r: _Reader) -> TimeSyncResponse:
        return cls(*r.take("IQQQ"))


@_register
@dataclass(frozen=True)
class ConfigGet(Message):
    TYPE: ClassVar[int] = 0x30
    NAME: ClassVar[str] = "config_get"
    key: int

    def payload(self) -> bytes:
        return struct.pack("<H", self.key)

    @classmethod
    def parse(cls, r: _Reader) -> ConfigGet:
        return cls(*r.take("H"))


@_register
@dataclass(frozen=True)
class ConfigSet(Message):
    TYPE: ClassVar[int] = 0x31
    NAME: ClassVar[str] = "config_set"
    key: int
    value: int

    def payload(self) -> bytes:
        return struct.pack("<Hi", self.key, self.value)

    @classmethod
    def parse(cls, r: _Reader) -> ConfigSet:
        return cls(*r.take("Hi"))


@_register
@dataclass(frozen=True)
class ConfigValue(Message):
    TYPE: ClassVar[int] = 0x32
    NAME: ClassVar[str] = "config_value"
    key: int
    value: int

    def payload(self) -> bytes:
        return struct.pack("<Hi", self.key, self.value)

    @classmethod
    def parse(cls, r: _Reader) -> ConfigValue:
        return cls(*r.take("Hi"))


@_register
@dataclass(frozen=True)
class FwBegin(Message):
    """Start (or resume) an update: the signed manifest (docs: "Firmware images")."""

    TYPE: ClassVar[int] = 0x40
    NAME: ClassVar[str] = "fw_begin"
    manifest: bytes
    signature: bytes  # Ed25519, 64 bytes, over ``manifest``
    force: bool = False

    def payload(self) -> bytes:
        if len(self.signature) != 64:
            raise ProtocolError("fw_begin: signature must be 64 bytes")
        return struct.pack("<BH", int(self.force), len(self.manifest)) + self.manifest + self.signature

    @classmethod
    def parse(cls, r: _Reader) -> FwBegin:
        force, n = r.take("BH")
        return cls(r.raw(n), r.raw(64), bool(force))


@_register
@dataclass(frozen=True)
class FwChunk(Message):
    TYPE: ClassVar[int] = 0x41
    NAME: ClassVar[str] = "fw_chunk"
    offset: int
    data: bytes

    def payload(self) -> bytes:
        return struct.pack("<I", self.offset) + self.data

    @classmethod
    def parse(cls, r: _Reader) -> FwChunk:
        (off,) = r.take("I")
        return cls(off, r.rest())


@_register
@dataclass(frozen=True)
class FwVerify(Message):
    TYPE: ClassVar[int] = 0x42
    NAME: ClassVar[str] = "fw_verify"

    def payload(self) -> bytes:
        return b""

    @classmethod
    def parse(cls, r: _Reader) -> FwVerify:
        return cls()


@_register
@dataclass(frozen=True)
class FwCommit(Message):
    TYPE: ClassVar[int] = 0x43
    NAME: ClassVar[str] = "fw_commit"

    def payload(self) -> bytes:
        return b""

    @classmethod
    def parse(cls, r: _Reader) -> FwCommit:
        return cls()


@_register
@dataclass(frozen=True)
class FwAbort(Message):
    TYPE: ClassVar[int] = 0x44
    NAME: ClassVar[str] = "fw_abort"

    def payload(self) -> bytes:
        return b""

    @classmethod
    def parse(cls, r: _Reader) -> FwAbort:
        return cls()


FW_IDLE, FW_RECEIVING, FW_VERIFIED, FW_COMMITTED, FW_FAILED = range(5)
FW_STATES = ("idle", "receiving", "verified", "committed", "failed")


@_register
@dataclass(frozen=True)
class FwStatus(Message):
    """Bootloader state; ``bytes_received`` is where an interrupted upload resumes."""

    TYPE: ClassVar[int] = 0x45
    NAME: ClassVar[str] = "fw_status"
    state: int
    active_slot: int
    bytes_received: int
    image_sha256: bytes  # 32 bytes, of the image in the inactive slot (zeros when none)

    def payload(self) -> bytes:
        head = struct.pack("<BBI", self.state, self.active_slot, self.bytes_received)
        return head + self.image_sha256.ljust(32, b"\0")

    @classmethod
    def parse(cls, r: _Reader) -> FwStatus:
        s, slot, n = r.take("BBI")
        return cls(s, slot, n, r.raw(32))


@_register
@dataclass(frozen=True)
class PairRequest(Message):
    TYPE: ClassVar[int] = 0x50
    NAME: ClassVar[str] = "pair_request"
    public_key: bytes  # X25519, 32 bytes
    nonce: bytes  # 16 random bytes

    def payload(self) -> bytes:
        return self.public_key + self.nonce

    @classmethod
    def parse(cls, r: _Reader) -> PairRequest:
        return cls(r.raw(32), r.raw(16))


@_register
@dataclass(frozen=True)
class PairResponse(Message):
    TYPE: ClassVar[int] = 0x51
    NAME: ClassVar[str] = "pair_response"
    public_key: bytes
    nonce: bytes

    def payload(self) -> bytes:
        return self.public_key + self.nonce

    @classmethod
    def parse(cls, r: _Reader) -> PairResponse:
        return cls(r.raw(32), r.raw(16))


@_register
@dataclass(frozen=True)
class PairConfirm(Message):
    """Host -> rig after the user confirmed the code: proof of the key (HMAC of a label)."""

    TYPE: ClassVar[int] = 0x52
    NAME: ClassVar[str] = "pair_confirm"
    proof: bytes  # 32 bytes

    def payload(self) -> bytes:
        return self.proof

    @classmethod
    def parse(cls, r: _Reader) -> PairConfirm:
        return cls(r.raw(32))


@_register
@dataclass(frozen=True)
class Unpair(Message):
    TYPE: ClassVar[int] = 0x53
    NAME: ClassVar[str] = "unpair"

    def payload(self) -> bytes:
        return b""

    @classmethod
    def parse(cls, r: _Reader) -> Unpair:
        return cls()


@dataclass(frozen=True)
class UnknownMessage(Message):
    """A message type this side does not know (a newer minor version); receivers ignore it."""

    type_id: int = 0
    data: bytes = b""
    NAME: ClassVar[str] = "unknown"

    def payload(self) -> bytes:
        return self.data


@dataclass(frozen=True)
class Frame:
    version: int
    flags: int
    seq: int
    t_device_us: int
    message: Message
    auth_epoch: int | None = None
    auth_tag: bytes | None = None
    signed_part: bytes = field(default=b"", repr=False)  # header + payload (what the tag covers)

    @property
    def type_id(self) -> int:
        m = self.message
        return m.type_id if isinstance(m, UnknownMessage) else m.TYPE


def encode_body(msg: Message, seq: int, t_device_us: int, flags: int = 0) -> bytes:
    type_id = msg.type_id if isinstance(msg, UnknownMessage) else msg.TYPE
    if not (0 <= seq < 2**32 and 0 <= t_device_us < 2**64):
        raise ProtocolError(f"header out of range: seq={seq} t_device_us={t_device_us}")
    return HEADER.pack(VERSION_BYTE, type_id, flags, 0, seq, t_device_us) + msg.payload()


def encode(msg: Message, seq: int, t_device_us: int, flags: int = 0) -> bytes:
    """Wire bytes (COBS frame with CRC and delimiter) of one unauthenticated message."""
    return encode_frame(encode_body(msg, seq, t_device_us, flags))


def decode_body(body: bytes) -> Frame:
    """Header and message of one frame body (CRC already checked). Raises ProtocolError."""
    if len(body) < HEADER_SIZE:
        raise ProtocolError(f"frame of {len(body)} bytes is shorter than the {HEADER_SIZE}-byte header")
    version, type_id, flags, _res, seq, t_us = HEADER.unpack_from(body)
    major = version >> 4
    if major != PROTOCOL_MAJOR:
        if major > PROTOCOL_MAJOR:
            raise UnsupportedVersionError(
                f"peer speaks rig protocol {major}.{version & 15}, this democap supports {PROTOCOL_MAJOR}.x: "
                "update democap"
            )
        raise UnsupportedVersionError(
            f"peer speaks rig protocol {major}.{version & 15}, which is no longer "
            f"supported (this democap speaks {PROTOCOL_MAJOR}.x): update the rig firmware"
        )
    payload_end = len(body)
    epoch = tag = None
    if flags & FLAG_AUTH:
        if len(body) < HEADER_SIZE + AUTH_TRAILER:
            raise ProtocolError("authenticated frame is too short for its trailer")
        payload_end -= AUTH_TRAILER
        epoch = int.from_bytes(body[payload_end : payload_end + 4], "little")
        tag = bytes(body[payload_end + 4 :])
    payload = body[HEADER_SIZE:payload_end]
    cls = MESSAGES.get(type_id)
    if cls is None:
        msg: Message = UnknownMessage(type_id, bytes(payload))
    else:
        try:
            msg = cls.parse(_Reader(payload, cls.NAME))
        except (struct.error, ValueError, UnicodeDecodeError) as e:
            raise ProtocolError(f"{cls.NAME}: malformed payload ({e})") from e
    return Frame(version, flags, seq, t_us, msg, epoch, tag, bytes(body[:payload_end]))


def decode(wire: bytes) -> Frame:
    """Decode one complete wire frame (with or without its zero delimiter)."""
    return decode_body(decode_frame(wire))
