"""Byte-level framing of the rig link: COBS with a zero delimiter and a CRC-32C trailer.

A frame on the wire is ``COBS(body + crc32c(body) as u32 little-endian) + b"\\x00"``.
``FrameParser`` turns an arbitrary byte stream (with garbage, truncation, bit flips)
back into bodies, resynchronising at the next zero byte after any error.
"""

from __future__ import annotations

from dataclasses import dataclass

from democap.errors import ProtocolError

#: Largest decoded frame (body + CRC) either side accepts; bounds memory on garbage.
MAX_FRAME = 4096

_CRC32C_POLY = 0x82F63B78  # Castagnoli, reflected


def _make_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ _CRC32C_POLY if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _make_table()


def crc32c_py(data: bytes, crc: int = 0) -> int:
    """CRC-32C (Castagnoli): reflected, init 0xFFFFFFFF, final xor 0xFFFFFFFF.

    ``crc32c(b"123456789") == 0xE3069283``. ``crc`` continues a previous result.
    """
    c = crc ^ 0xFFFFFFFF
    table = _TABLE
    for b in data:
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


try:  # the C implementation (a zarr dependency) when present: same function, ~100x faster
    import google_crc32c as _gcrc

    def crc32c(data: bytes, crc: int = 0) -> int:
        return int(_gcrc.extend(crc, bytes(data)))
except ImportError:
    crc32c = crc32c_py


def cobs_encode(data: bytes) -> bytes:
    """Consistent Overhead Byte Stuffing: output has no zero byte (delimiter not included)."""
    out = bytearray()
    block = bytearray()
    for b in data:
        if b == 0:
            out.append(len(block) + 1)
            out += block
            block.clear()
        else:
            block.append(b)
            if len(block) == 254:
                out.append(255)
                out += block
                block.clear()
    out.append(len(block) + 1)
    out += block
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """Inverse of ``cobs_encode``; raises ProtocolError on a zero byte or overrun."""
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        code = data[i]
        if code == 0:
            raise ProtocolError(f"COBS: zero byte inside frame at offset {i}")
        i += 1
        end = i + code - 1
        if end > n:
            raise ProtocolError(f"COBS: block of {code - 1} bytes overruns frame of {n} bytes at offset {i - 1}")
        block = data[i:end]
        if 0 in block:
            raise ProtocolError(f"COBS: zero byte inside frame near offset {i}")
        out += block
        i = end
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


def encode_frame(body: bytes) -> bytes:
    """Wire bytes for one frame body: COBS(body + CRC-32C LE) + zero delimiter."""
    if len(body) + 4 > MAX_FRAME:
        raise ProtocolError(f"frame body of {len(body)} bytes exceeds the {MAX_FRAME - 4}-byte limit")
    return cobs_encode(body + crc32c(body).to_bytes(4, "little")) + b"\x00"


def decode_frame(wire: bytes) -> bytes:
    """The body of one COBS frame (without its trailing zero); checks length and CRC."""
    if wire.endswith(b"\x00"):
        wire = wire[:-1]
    raw = cobs_decode(wire)
    if len(raw) < 5:
        raise ProtocolError(f"frame of {len(raw)} decoded bytes is shorter than a CRC plus one byte")
    if len(raw) > MAX_FRAME:
        raise ProtocolError(f"frame of {len(raw)} decoded bytes exceeds the {MAX_FRAME}-byte limit")
    body, crc = raw[:-4], int.from_bytes(raw[-4:], "little")
    if crc32c(body) != crc:
        raise ProtocolError(f"CRC mismatch: frame says 0x{crc:08X}, body gives 0x{crc32c(body):08X}")
    return body


@dataclass
class ParserStats:
    frames: int = 0
    errors: int = 0
    bytes_dropped: int = 0
    last_error: str = ""


class FrameParser:
    """Streaming deframer: ``feed(bytes)`` returns the bodies of complete, valid frames.

    Invalid frames are counted in ``stats`` and skipped; the parser resynchronises at the
    next zero delimiter, so one corrupted byte costs at most two frames. Never raises.
    """

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        # A COBS encoding of max_frame bytes is at most max_frame + max_frame/254 + 1 bytes long.
        self._limit = max_frame + max_frame // 254 + 2
        self._buf = bytearray()
        self._overflow = False
        self.stats = ParserStats()

    def feed(self, data: bytes) -> list[bytes]:
        bodies: list[bytes] = []
        start = 0
        while True:
            z = data.find(0, start)
            if z < 0:
                self._append(data[start:])
                return bodies
            self._append(data[start:z])
            start = z + 1
            if self._overflow:
                self._overflow = False
                self._buf.clear()
                continue
            if not self._buf:
                continue  # back-to-back delimiters: senders may flush with a leading zero
            wire = bytes(self._buf)
            self._buf.clear()
            try:
                bodies.append(decode_frame(wire))
                self.stats.frames += 1
            except ProtocolError as e:
                self.stats.errors += 1
                self.stats.bytes_dropped += len(wire) + 1
                self.stats.last_error = str(e)

    def _append(self, chunk: bytes) -> None:
        if self._overflow:
            self.stats.bytes_dropped += len(chunk)
            return
        self._buf += chunk
        if len(self._buf) > self._limit:
            self.stats.errors += 1
            self.stats.bytes_dropped += len(self._buf)
            self.stats.last_error = f"no delimiter within {self._limit} bytes"
            self._buf.clear()
            self._overflow = True
