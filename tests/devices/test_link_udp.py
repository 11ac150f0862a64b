"""Network rigs: UDP transport, mDNS discovery, pairing, authenticated frames and replay rejection."""

from __future__ import annotations

import os
import queue
import stat
import threading
import time

import pytest

from devices import base
from devices.link import protocol as proto
from devices.link.client import RigLink, RigLinkError, RigLinkSource, pair, unpair
from devices.link.keystore import Keystore, pairing_records
from devices.link.security import (
    AuthError,
    FrameAuthenticator,
    PairingSide,
    ReplayWindow,
    derive_pairing,
    encode_authenticated,
)
from devices.link.transport import UdpTransport
from devices.link.virtual_firmware import spawn


def _udp(address: str) -> UdpTransport:
    host, port = address.removeprefix("udp:").rsplit(":", 1)
    return UdpTransport(host, int(port))


@pytest.fixture
def net_rig(tmp_path):
    rig = spawn(
        "--udp",
        "0",
        "--pairing-mode",
        "--duration",
        "60",
        "--serial-number",
        "NET-7",
        "--state-dir",
        str(tmp_path / "rig"),
    )
    codes: queue.Queue[str] = queue.Queue()

    def read_stderr() -> None:
        assert rig.proc.stderr is not None
        for line in rig.proc.stderr:
            if line.startswith("CODE "):
                codes.put(line.split()[1])

    threading.Thread(target=read_stderr, daemon=True).start()
    yield rig, codes
    rig.stop()


def test_pair_then_stream_authenticated(net_rig, tmp_path, caplog) -> None:
    rig, codes = net_rig
    ks = Keystore(tmp_path / "home" / "keystore.json")

    # Unpaired: discovery works, data does not.
    link = RigLink(_udp(rig.address))
    assert link.hello().serial == "NET-7"
    with pytest.raises(RigLinkError, match="authenticate first"):
        link.request(proto.ConfigGet(1), proto.ConfigValue, timeout=0.5, retries=0)
    assert link.auth.stats.unauthenticated > 0  # the unpaired rig's stream was refused

    shown: list[str] = []

    def confirm(code: str) -> bool:
        shown.append(code)
        return codes.get(timeout=2) == code  # the user compares the two screens

    serial = pair(link, ks, confirm, address=rig.address)
    assert serial == "NET-7" and len(shown[0]) == 6 and shown[0].isdigit()
    assert stat.S_IMODE(os.stat(ks.path).st_mode) == 0o600
    key = ks.get("NET-7").key
    assert key.hex() not in caplog.text and key.hex() not in repr(ks.get("NET-7"))
    recs = pairing_records(ks.path)
    assert [r.serial for r in recs] == ["NET-7"] and recs[0].fingerprint and not hasattr(recs[0], "key")
    link.close()

    # Paired: a fresh connection with the key streams authenticated samples.
    src = RigLinkSource(lambda: RigLink(_udp(rig.address), key=key), rig="rig1")
    assert src.describe().info.serial == "NET-7"
    threading.Timer(1.5, src.stop).start()
    samples = list(src.samples())
    assert any(isinstance(s, base.ImuBatch) for s in samples)
    assert any(isinstance(s, base.ClockExchange) for s in samples)
    assert src.link is not None and src.link.auth.stats.accepted > 20

    # A replayed host frame is refused by the rig; the original was accepted.
    link2 = RigLink(_udp(rig.address), key=key)
    link2.hello()
    seq = link2.seq
    wire = encode_authenticated(
        proto.ConfigSet(proto.CONFIG_IDS["led_mode"], 2), seq, 0, key, link2.host_epoch, from_host=True
    )
    link2.seq += 1
    link2.transport.send(wire)
    link2.transport.send(wire)
    replies = []
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and len(replies) < 2:
        replies += [f.message for f, _ in link2.poll(0.05) if isinstance(f.message, proto.ConfigValue | proto.Nack)]
    assert isinstance(replies[0], proto.ConfigValue)
    assert isinstance(replies[1], proto.Nack) and replies[1].code == proto.ERR_AUTH

    # A forged frame (wrong key) is refused too.
    forged = encode_authenticated(proto.ConfigGet(1), link2.seq + 5, 0, os.urandom(32), link2.host_epoch, True)
    link2.transport.send(forged)
    deadline = time.monotonic() + 2
    nack = None
    while time.monotonic() < deadline and nack is None:
        nack = next((f.message for f, _ in link2.poll(0.05) if isinstance(f.message, proto.Nack)), None)
    assert nack is not None and nack.code == proto.ERR_AUTH

    assert unpair(link2, ks) == "NET-7"
    assert ks.get("NET-7") is None
    link2.close()


def test_mdns_discovery_on_loopback() -> None:
    from devices.link.discovery import browse_network_rigs

    rig = spawn("--udp", "0", "--mdns", "--serial-number", "MDNS-1", "--duration", "20")
    try:
        mine = []
        for _attempt in range(4):  # the rig registers its service just after it starts listening
            try:
                found = browse_network_rigs(timeout=1.5, interface="127.0.0.1")
            except OSError as e:
                pytest.skip(f"multicast on loopback unavailable in this sandbox: {e}")
            mine = [f for f in found if f.serial == "MDNS-1"]
            if mine:
                break
        assert mine and mine[0].address == rig.address and mine[0].firmware == "1.0.0"
    finally:
        rig.stop()


def _frame(msg: proto.Message, seq: int, key: bytes, epoch: int, from_host: bool) -> proto.Frame:
    return proto.decode(encode_authenticated(msg, seq, 0, key, epoch, from_host))


def test_authenticator_rejects_and_counts() -> None:
    key = os.urandom(32)
    auth = FrameAuthenticator(key, expect_from_host=False)
    ok = _frame(proto.Gripper(1, 2), 10, key, 3, False)
    auth.verify(ok)
    with pytest.raises(AuthError, match="replayed"):
        auth.verify(ok)
    with pytest.raises(AuthError, match="does not match"):
        auth.verify(_frame(proto.Gripper(1, 2), 11, os.urandom(32), 3, False))
    with pytest.raises(AuthError, match="reflected"):
        auth.verify(_frame(proto.Gripper(1, 2), 12, key, 3, True))
    with pytest.raises(AuthError, match="unauthenticated"):
        auth.verify(proto.decode(proto.encode(proto.Gripper(1, 2), 13, 0)))
    # Tampering with the payload after signing breaks the tag.
    wire = bytearray(proto.encode_body(proto.Gripper(1, 2), 14, 0, proto.FLAG_AUTH))
    good = _frame(proto.Gripper(1, 2), 14, key, 3, False)
    tampered = proto.Frame(
        good.version,
        good.flags,
        good.seq,
        good.t_device_us,
        proto.Gripper(9, 9),
        3,
        good.auth_tag,
        bytes(wire[:-8]) + proto.Gripper(9, 9).payload(),
    )
    with pytest.raises(AuthError):
        auth.verify(tampered)
    with pytest.raises(AuthError, match="replayed"):  # an older epoch is a replay
        auth.verify(_frame(proto.Gripper(1, 2), 99, key, 2, False))
    s = auth.stats
    assert (s.accepted, s.replayed, s.forged, s.wrong_direction, s.unauthenticated) == (1, 2, 2, 1, 1)


def test_replay_window_tolerates_loss_and_reordering() -> None:
    w = ReplayWindow(size=64)
    assert all(w.check(1, s) for s in (0, 1, 5, 3, 2, 4, 100, 40, 99))
    assert not w.check(1, 3) and not w.check(1, 100) and not w.check(1, 36)  # dup, dup, too old
    assert w.check(2, 0) and not w.check(1, 101)  # new epoch resets; old epoch refused


def test_pairing_codes_match_and_keys_agree() -> None:
    host, rig = PairingSide(), PairingSide()
    kh, ch = derive_pairing(host, rig.public_bytes, host.public_bytes, host.nonce, rig.public_bytes, rig.nonce)
    kr, cr = derive_pairing(rig, host.public_bytes, host.public_bytes, host.nonce, rig.public_bytes, rig.nonce)
    assert kh == kr and ch == cr and len(ch) == 6
    # A man in the middle with his own key pair gets a different code on each side.
    mitm = PairingSide()
    _, c_host = derive_pairing(host, mitm.public_bytes, host.public_bytes, host.nonce, mitm.public_bytes, rig.nonce)
    _, c_rig = derive_pairing(rig, mitm.public_bytes, mitm.public_bytes, host.nonce, rig.public_bytes, rig.nonce)
    assert c_host != c_rig
