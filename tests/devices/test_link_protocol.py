"""Protocol v1 against the published test vectors, plus property tests of the frame parser.

Regenerate the vectors (only when the spec changes): ``python tests/devices/test_link_protocol.py --write``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from democap.errors import ProtocolError
from devices.link import protocol as proto
from devices.link.framing import FrameParser, cobs_decode, cobs_encode, crc32c, decode_frame, encode_frame

VECTORS = Path(__file__).resolve().parents[2] / "docs" / "rig-protocol-vectors.json"


def jsonable(msg: proto.Message) -> dict:
    out = {}
    for f in dataclasses.fields(msg):
        v = getattr(msg, f.name)
        if isinstance(v, bytes):
            v = v.hex()
        elif isinstance(v, np.ndarray):
            v = v.tolist()
        elif isinstance(v, tuple):
            v = list(v)
        out[f.name] = v
    return out


def _example_messages() -> list[tuple[str, proto.Message, int, int]]:
    imu = proto.ImuBatch(
        np.deg2rad(2000) / 32768,
        16 * 9.80665 / 32768,
        np.array([0, 5000, 10000], np.uint32),
        np.array([[1, -2, 3], [100, 0, -100], [32767, -32768, 0]], np.int16),
        np.array([[0, 0, 2048], [10, -10, 2050], [0, 1, 2047]], np.int16),
    )
    return [
        ("hello", proto.Hello(1_763_700_000), 0, 1_000),
        (
            "device_info",
            proto.DeviceInfo(
                "RIG-0042",
                "rig-a",
                (1, 2, 3),
                ("imu", "gripper", "buttons"),
                ("time_sync", "config", "firmware_update"),
                7,
            ),
            0,
            2_000,
        ),
        ("ack", proto.Ack(0x31, 12), 5, 3_000),
        ("nack", proto.Nack(0x40, 13, proto.ERR_DOWNGRADE, "older than 1.2.3"), 6, 3_100),
        ("log", proto.Log(30, "battery low"), 7, 4_000),
        ("imu_batch", imu, 8, 5_000_000),
        ("gripper", proto.Gripper(-1234, 42_500), 9, 5_010_000),
        ("button_episode_start", proto.Button(proto.BUTTON_TRIGGER, True, proto.EPISODE_START), 10, 6_000_000),
        ("camera_trigger", proto.CameraTrigger(0, 901, 6_000_100, 8_000), 11, 6_000_000),
        ("status", proto.Status(4120, 87, 3150, 12_000_000, 16_000_000, (3, 17)), 12, 7_000_000),
        ("time_sync_request", proto.TimeSyncRequest(77, 123_456_789_012), 13, 0),
        (
            "time_sync_response",
            proto.TimeSyncResponse(77, 123_456_789_012, 5_000_000_123, 5_000_050_456),
            14,
            5_000_050,
        ),
        ("config_get", proto.ConfigGet(proto.CONFIG_IDS["imu_rate_hz"]), 15, 0),
        ("config_set", proto.ConfigSet(proto.CONFIG_IDS["accel_range_g"], 8), 16, 0),
        ("config_value", proto.ConfigValue(proto.CONFIG_IDS["accel_range_g"], 8), 17, 8_000_000),
        ("fw_begin", proto.FwBegin(bytes(range(48)), bytes(64), False), 18, 0),
        ("fw_chunk", proto.FwChunk(1024, bytes([0, 1, 2, 0, 0, 255])), 19, 0),
        ("fw_verify", proto.FwVerify(), 20, 0),
        ("fw_commit", proto.FwCommit(), 21, 0),
        ("fw_abort", proto.FwAbort(), 22, 0),
        ("fw_status", proto.FwStatus(proto.FW_RECEIVING, 0, 2048, bytes(range(32))), 23, 9_000_000),
        ("pair_request", proto.PairRequest(bytes(range(32)), bytes(range(100, 116))), 24, 0),
        ("pair_response", proto.PairResponse(bytes(range(32, 64)), bytes(range(200, 216))), 25, 0),
        ("pair_confirm", proto.PairConfirm(bytes(range(32))), 26, 0),
        ("unpair", proto.Unpair(), 27, 0),
    ]


def build_vectors() -> dict:
    frames = []
    for name, msg, seq, t_us in _example_messages():
        flags = (
            proto.FLAG_FROM_HOST
            if name
            in {
                "hello",
                "time_sync_request",
                "config_get",
                "config_set",
                "fw_begin",
                "fw_chunk",
                "fw_verify",
                "fw_commit",
                "fw_abort",
                "pair_request",
                "pair_confirm",
                "unpair",
            }
            else 0
        )
        body = proto.encode_body(msg, seq, t_us, flags)
        frames.append(
            {
                "name": name,
                "type": msg.TYPE,
                "version": proto.VERSION_BYTE,
                "flags": flags,
                "seq": seq,
                "t_device_us": t_us,
                "fields": jsonable(proto.decode_body(body).message),
                "body_hex": body.hex(),
                "crc32c": f"0x{crc32c(body):08X}",
                "wire_hex": encode_frame(body).hex(),
            }
        )
    good = bytes.fromhex(frames[2]["wire_hex"])
    bad_crc = bytearray(proto.encode_body(proto.Ack(1, 2), 3, 4) + b"\0\0\0\0")
    newer = bytearray(proto.encode_body(proto.Ack(1, 2), 3, 4))
    newer[0] = 0x20
    from devices.link.framing import cobs_encode as ce

    unknown = bytearray(proto.encode_body(proto.Ack(1, 2), 3, 4))
    unknown[1] = 0x7E
    return {
        "protocol": f"{proto.PROTOCOL_MAJOR}.{proto.PROTOCOL_MINOR}",
        "crc32c": [
            {"ascii": "123456789", "crc": "0xE3069283"},
            {"hex": "", "crc": "0x00000000"},
            {"hex": "00000000", "crc": f"0x{crc32c(bytes(4)):08X}"},
        ],
        "cobs": [
            {"decoded_hex": d.hex(), "encoded_hex": cobs_encode(d).hex()}
            for d in (
                b"",
                b"\x00",
                b"\x00\x00",
                b"\x11\x22\x00\x33",
                bytes(range(1, 255)),
                bytes(range(1, 256)) + b"\x00",
            )
        ],
        "frames": frames,
        "invalid": [
            {"name": "bad_crc", "wire_hex": (ce(bytes(bad_crc)) + b"\0").hex(), "error": "CRC mismatch"},
            {"name": "newer_major", "wire_hex": encode_frame(bytes(newer)).hex(), "error": "update democap"},
            {
                "name": "truncated_payload",
                "wire_hex": encode_frame(proto.encode_body(proto.Ack(1, 2), 3, 4)[:-2]).hex(),
                "error": "truncated",
            },
            {"name": "cobs_overrun", "wire_hex": (b"\x09\x01\x02" + b"\0").hex(), "error": "COBS"},
        ],
        "ignored": [{"name": "unknown_type_0x7E", "wire_hex": encode_frame(bytes(unknown)).hex()}],
        "_note": f"frame {good.hex()[:8]}... : see docs/rig-protocol.md; regenerate with "
        "python tests/devices/test_link_protocol.py --write",
    }


def test_vectors_file_matches_implementation() -> None:
    """The published vectors decode to their stated fields and re-encode byte for byte."""
    vec = json.loads(VECTORS.read_text())
    assert crc32c(b"123456789") == 0xE3069283
    for c in vec["crc32c"]:
        data = c["ascii"].encode() if "ascii" in c else bytes.fromhex(c["hex"])
        assert f"0x{crc32c(data):08X}" == c["crc"]
    for c in vec["cobs"]:
        assert cobs_encode(bytes.fromhex(c["decoded_hex"])).hex() == c["encoded_hex"]
        assert cobs_decode(bytes.fromhex(c["encoded_hex"])).hex() == c["decoded_hex"]
    assert len(vec["frames"]) == len(proto.MESSAGES)
    for f in vec["frames"]:
        frame = proto.decode(bytes.fromhex(f["wire_hex"]))
        assert (frame.type_id, frame.seq, frame.t_device_us, frame.flags) == (
            f["type"],
            f["seq"],
            f["t_device_us"],
            f["flags"],
        ), f["name"]
        assert json.loads(json.dumps(jsonable(frame.message))) == f["fields"], f["name"]
        assert proto.encode(frame.message, frame.seq, frame.t_device_us, frame.flags).hex() == f["wire_hex"]
    for f in vec["invalid"]:
        with pytest.raises(ProtocolError, match=f["error"]):
            proto.decode(bytes.fromhex(f["wire_hex"]))
    for f in vec["ignored"]:
        assert isinstance(proto.decode(bytes.fromhex(f["wire_hex"])).message, proto.UnknownMessage)


def test_newer_major_is_refused_with_a_clear_error() -> None:
    body = bytearray(proto.encode_body(proto.Hello(), 0, 0))
    body[0] = 0x21
    with pytest.raises(proto.UnsupportedVersionError, match="rig protocol 2.1"):
        proto.decode_body(bytes(body))


def test_newer_minor_with_longer_payload_still_decodes() -> None:
    body = bytearray(proto.encode_body(proto.Gripper(5, 6), 1, 2) + b"future field")
    body[0] = 0x13  # 1.3
    frame = proto.decode_body(bytes(body))
    assert frame.message == proto.Gripper(5, 6)


def test_imu_batch_scales_back_to_si_units() -> None:
    gs, as_ = np.deg2rad(2000) / 32768, 16 * 9.80665 / 32768
    gyro = np.array([[0.1, -0.2, 3.0]])
    accel = np.array([[0.0, 9.81, -9.81]])
    msg = proto.ImuBatch(
        gs, as_, np.array([0], np.uint32), np.round(gyro / gs).astype(np.int16), np.round(accel / as_).astype(np.int16)
    )
    back = proto.decode(proto.encode(msg, 0, 0)).message
    assert isinstance(back, proto.ImuBatch)
    np.testing.assert_allclose(back.gyro(), gyro, atol=gs)
    np.testing.assert_allclose(back.accel(), accel, atol=as_)


def _wires() -> list[bytes]:
    return [proto.encode(m, s, t) for _n, m, s, t in _example_messages()]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_decode_raises_only_protocol_errors(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):  # anything else fails the test
        proto.decode(data)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, len(_example_messages()) - 1), st.binary(max_size=40)), max_size=12),
    st.lists(st.integers(1, 200), max_size=6),
)
def test_parser_resynchronises_after_garbage(items: list[tuple[int, bytes]], cuts: list[int]) -> None:
    """Every frame preceded by a delimiter-terminated run of garbage still comes out intact."""
    wires = _wires()
    stream = b""
    expected = []
    for idx, garbage in items:
        stream += garbage + b"\x00" + wires[idx]
        expected.append(decode_frame(wires[idx]))
    parser = FrameParser()
    got = []
    pos = 0
    for c in cuts + [len(stream)]:  # arbitrary read boundaries
        got += parser.feed(stream[pos : pos + c])
        pos += c
    got += parser.feed(stream[pos:])
    # Garbage may itself form a valid frame only with a matching CRC-32C: practically never.
    assert [g for g in got if g in expected] == expected


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000))
def test_parser_never_raises_and_bounds_its_buffer(data: bytes) -> None:
    parser = FrameParser()
    parser.feed(data)
    assert len(parser._buf) <= parser._limit


if __name__ == "__main__" and "--write" in sys.argv:
    VECTORS.parent.mkdir(exist_ok=True)
    VECTORS.write_text(json.dumps(build_vectors(), indent=1) + "\n")
    print(f"wrote {VECTORS}")


class _ScriptedTransport:
    """A transport that returns pre-cut chunks of a byte stream (no process needed)."""

    name = "scripted"
    authenticated = False

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = list(chunks)

    def send(self, wire: bytes) -> None:
        pass

    def recv(self, timeout: float) -> bytes:
        return self.chunks.pop(0) if self.chunks else b""

    def close(self) -> None:
        pass

    def reopen(self) -> None:
        pass


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.one_of(st.binary(max_size=64), st.sampled_from(range(2, len(_example_messages())))), max_size=20),
    st.integers(1, 50),
)
def test_link_delivers_each_valid_frame_once(items: list, cut: int) -> None:
    """Garbage, duplicates and arbitrary read boundaries: every distinct valid frame comes out exactly once."""
    from devices.link.client import RigLink

    wires = _wires()
    stream = b""
    sent: list[int] = []
    for it in items:
        if isinstance(it, int):
            stream += b"\x00" + wires[it]
            sent.append(it)
        else:
            stream += it
    link = RigLink(_ScriptedTransport([stream[i : i + cut] for i in range(0, len(stream), cut)] + [b"\x00"]))
    got = []
    for _ in range(len(stream) // cut + 3):
        got += [f.seq for f, _t in link.poll(0)]
    # Examples 2.. have distinct sequence numbers (device_info, which restarts them, is left out);
    # repeats are duplicates and are dropped.
    expected_seqs = list(dict.fromkeys(_example_messages()[i][2] for i in sent))
    assert sorted(got) == sorted(expected_seqs)
