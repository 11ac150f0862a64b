"""Host side of a rig link: a framed connection (``RigLink``), pairing and firmware update
procedures, and ``RigLinkSource``, the ``devices.base.RigSource`` the recorder pulls from.

A dropped link becomes a ``LinkGap`` (emitted when the rig is back); every sample that
arrived before the drop was already yielded, so nothing received is lost.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from democap.errors import DemocapError, ProtocolError
from democap.progress import Progress
from devices import base
from devices.link import protocol as proto
from devices.link.clock_sync import LiveClockSync
from devices.link.firmware import FirmwareError, Package, verify_package
from devices.link.framing import FrameParser
from devices.link.keystore import Keystore
from devices.link.security import (
    AuthError,
    FrameAuthenticator,
    PairingSide,
    ReplayWindow,
    confirm_proof,
    derive_pairing,
    encode_authenticated,
)
from devices.link.transport import LinkDown, Transport

log = logging.getLogger(__name__)


class RigLinkError(DemocapError):
    """A rig did not answer, refused a request, or cannot be paired/updated."""


_host_epoch_last = 0


def _next_host_epoch() -> int:
    # Host frames' replay protection needs a strictly increasing epoch per connection.
    global _host_epoch_last
    _host_epoch_last = max(int(time.time()), _host_epoch_last + 1)
    return _host_epoch_last


#: Message types a network rig may send before it is paired (discovery and pairing).
_OPEN_TYPES = (proto.DeviceInfo, proto.PairResponse, proto.Nack)


@dataclass
class LinkStats:
    frames: int = 0
    lost: int = 0  # sequence numbers never seen
    duplicates: int = 0
    unknown: int = 0
    malformed: int = 0

    parser: object = field(default=None, repr=False)
    auth: object = field(default=None, repr=False)


class RigLink:
    """Frames, sequence numbers and (on network transports) authentication over one transport."""

    def __init__(self, transport: Transport, key: bytes | None = None) -> None:
        self.transport = transport
        self.key = key
        self.parser = FrameParser()
        self.auth = FrameAuthenticator(key, expect_from_host=False)
        self.host_epoch = _next_host_epoch()
        self.seq = 0
        self.stats = LinkStats(parser=self.parser.stats, auth=self.auth.stats)
        self._window = ReplayWindow()
        self._boot = 0
        self.backlog: list[tuple[proto.Frame, int]] = []

    @property
    def authenticated(self) -> bool:
        return self.transport.authenticated

    def set_key(self, key: bytes | None) -> None:
        self.key = key
        self.auth = FrameAuthenticator(key, expect_from_host=False)
        self.stats.auth = self.auth.stats

    def send(self, msg: proto.Message) -> int:
        seq = self.seq
        self.seq = (self.seq + 1) & 0xFFFFFFFF
        t_us = time.monotonic_ns() // 1000
        if self.authenticated and self.key is not None:
            wire = encode_authenticated(msg, seq, t_us, self.key, self.host_epoch, from_host=True)
        else:
            wire = proto.encode(msg, seq, t_us, proto.FLAG_FROM_HOST)
        self.transport.send(wire)
        return seq

    def reopen(self) -> None:
        self.transport.reopen()
        self.parser = FrameParser()
        self.stats.parser = self.parser.stats
        self.host_epoch = _next_host_epoch()

    def poll(self, timeout: float) -> list[tuple[proto.Frame, int]]:
        """Frames that arrived (with host arrival ns), after CRC, auth and duplicate checks."""
        if self.backlog:
            out, self.backlog = self.backlog, []
            return out
        data = self.transport.recv(timeout)
        t_host = time.monotonic_ns()
        out = []
        for body in self.parser.feed(data):
            try:
                frame = proto.decode_body(body)
            except proto.UnsupportedVersionError:
                raise
            except ProtocolError as e:
                self.stats.malformed += 1
                log.debug("malformed frame: %s", e)
                continue
            if self.authenticated:
                try:
                    self.auth.verify(frame)
                except AuthError as e:
                    if not (isinstance(frame.message, _OPEN_TYPES) and not frame.flags & proto.FLAG_AUTH):
                        log.debug("rejected frame: %s", e)
                        continue
            if isinstance(frame.message, proto.DeviceInfo) and frame.message.boot_counter != self._boot:
                self._boot = frame.message.boot_counter  # the rig rebooted: its sequence restarts
                self._window = ReplayWindow()
            top = self._window.top if self._window.epoch == self._boot else -1
            if not self._window.check(self._boot, frame.seq):
                self.stats.duplicates += 1
                continue
            if top >= 0:
                # Frames skipped over count as lost until (if ever) they arrive late.
                self.stats.lost += frame.seq - top - 1 if frame.seq > top else -1
            self.stats.frames += 1
            if isinstance(frame.message, proto.UnknownMessage):
                self.stats.unknown += 1
                continue  # a newer minor version's message: ignored by rule
            out.append((frame, t_host))
        return out

    def request(
        self, msg: proto.Message, reply: type | tuple[type, ...], timeout: float = 2.0, retries: int = 2
    ) -> proto.Frame:
        """Send ``msg`` and wait for a ``reply``-typed frame (a Nack for it raises RigLinkError).

        Other frames that arrive meanwhile are kept in ``backlog`` for the next ``poll``.
        """
        for _attempt in range(retries + 1):
            seq = self.send(msg)
            deadline = time.monotonic() + timeout
            kept: list[tuple[proto.Frame, int]] = []
            try:
                while time.monotonic() < deadline:
                    for frame, t in self._poll_raw(0.02):
                        m = frame.message
                        if isinstance(m, proto.Nack) and m.nacked_seq == seq and m.nacked_type == msg.TYPE:
                            raise RigLinkError(f"rig refused {msg.NAME}: {m.reason} (code {m.code})")
                        if isinstance(m, reply):
                            return frame
                        kept.append((frame, t))
            finally:
                self.backlog.extend(kept)
        raise RigLinkError(f"no answer to {msg.NAME} from {self.transport.name}")

    def _poll_raw(self, timeout: float) -> list[tuple[proto.Frame, int]]:
        saved, self.backlog = self.backlog, []
        try:
            return self.poll(timeout)
        finally:
            self.backlog = saved + self.backlog

    def hello(self, timeout: float = 2.0) -> proto.DeviceInfo:
        m = self.request(proto.Hello(self.host_epoch), proto.DeviceInfo, timeout).message
        assert isinstance(m, proto.DeviceInfo)
        return m

    def close(self) -> None:
        self.transport.close()


def to_device_info(info: proto.DeviceInfo, kind: str = "rig") -> base.DeviceInfo:
    return base.DeviceInfo(info.serial, info.hw_rev, info.fw_version_str, kind, info.sensors, info.capabilities)


# ----------------------------------------------------------------------------------------------- pairing


def pair(link: RigLink, keystore: Keystore, confirm: Callable[[str], bool], address: str = "") -> str:
    """Pair with the rig at the other end of ``link``; returns its serial. The key goes to the keystore.

    ``confirm(code)`` shows the 6-digit code (the rig shows the same) and returns whether the
    user says they match.
    """
    info = link.hello()
    side = PairingSide()
    resp = link.request(proto.PairRequest(side.public_bytes, side.nonce), proto.PairResponse).message
    assert isinstance(resp, proto.PairResponse)
    key, code = derive_pairing(side, resp.public_key, side.public_bytes, side.nonce, resp.public_key, resp.nonce)
    if not confirm(code):
        raise RigLinkError(f"pairing with {info.serial} cancelled: codes did not match")
    link.set_key(key)  # the rig answers the confirmation already authenticated with the new key
    try:
        link.request(proto.PairConfirm(confirm_proof(key)), proto.Ack)
    except RigLinkError:
        link.set_key(None)
        raise
    keystore.put(info.serial, key, transport=link.transport.name.split(":")[0], address=address)
    log.info("paired with %s", info.serial)
    return info.serial


def unpair(link: RigLink, keystore: Keystore) -> str:
    info = link.hello()
    link.request(proto.Unpair(), proto.Ack)
    keystore.remove(info.serial)
    return info.serial


# ----------------------------------------------------------------------------------------------- update

CHUNK = 1024


def update_firmware(
    connect: Callable[[], RigLink],
    pkg: Package,
    trusted_keys: list[bytes],
    force: bool = False,
    max_reconnects: int = 20,
    reconnect_timeout_s: float = 10.0,
) -> tuple[int, int, int]:
    """Upload, verify and commit a signed image; resumes after dropped links. Returns the new version.

    ``connect()`` opens a fresh link (it is called again after a drop).
    """
    link = connect()
    info = link.hello()
    m = verify_package(pkg, trusted_keys, info.hw_rev, info.fw_version, force)
    reconnects = 0
    with Progress(f"update {info.serial}", total=m.image_size) as bar:
        while True:
            try:
                st = link.request(proto.FwBegin(pkg.manifest_bytes, pkg.signature, force), proto.FwStatus).message
                assert isinstance(st, proto.FwStatus)
                offset = st.bytes_received
                bar.done = offset
                while offset < m.image_size:
                    data = pkg.image[offset : offset + CHUNK]
                    st = link.request(proto.FwChunk(offset, data), proto.FwStatus, timeout=1.0).message
                    assert isinstance(st, proto.FwStatus)
                    bar.advance(st.bytes_received - offset)
                    offset = st.bytes_received
                st = link.request(proto.FwVerify(), proto.FwStatus, timeout=5.0).message
                assert isinstance(st, proto.FwStatus)
                if st.state != proto.FW_VERIFIED:
                    raise FirmwareError(f"rig did not verify the image (state {proto.FW_STATES[st.state]})")
                link.request(proto.FwCommit(), proto.FwStatus, timeout=5.0)
                break
            except (RigLinkError, LinkDown) as e:
                if isinstance(e, RigLinkError) and "refused" in str(e):
                    raise FirmwareError(str(e)) from e
                reconnects += 1
                if reconnects > max_reconnects:
                    raise FirmwareError(f"update of {info.serial} failed after {reconnects} reconnects: {e}") from e
                log.warning("link dropped during update (%s); resuming", e)
                link.close()
                time.sleep(0.3)
                link = _reconnect(connect, reconnect_timeout_s)
    # The rig reboots into the new slot and announces itself.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            new = link.hello(timeout=1.0)
        except (RigLinkError, LinkDown):
            link.close()
            link = _reconnect(connect, reconnect_timeout_s)
            continue
        if new.fw_version == m.version:
            link.close()
            return new.fw_version
    raise FirmwareError(f"rig {info.serial} did not come back with firmware {m.version_str}")


def _reconnect(connect: Callable[[], RigLink], timeout_s: float) -> RigLink:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return connect()
        except LinkDown as e:
            if time.monotonic() > deadline:
                raise FirmwareError(f"rig did not come back within {timeout_s:.0f} s ({e})") from e
            time.sleep(0.3)


# ----------------------------------------------------------------------------------------------- source


class RigLinkSource:
    """``RigSource`` over a rig link: IMU, gripper, events, clock exchanges at 10 Hz, link gaps."""

    def __init__(
        self, connect: Callable[[], RigLink], rig: str = "rig0", sync_hz: float = 10.0, gap_timeout_s: float = 0.5
    ) -> None:
        self._connect = connect
        self.rig = rig
        self.sync_period_ns = int(1e9 / sync_hz)
        self.gap_timeout_ns = int(gap_timeout_s * 1e9)
        self.clock = LiveClockSync()
        self.link: RigLink | None = None
        self.info: proto.DeviceInfo | None = None
        self.imu_rate_hz = 200.0
        self._stop = False
        self._closed = False
        self.gaps: list[base.LinkGap] = []

    def _ensure(self) -> RigLink:
        if self.link is None or self._closed:
            self._closed = False
            self._stop = False
            self.link = self._connect()
            self.info = self.link.hello()
            try:
                v = self.link.request(proto.ConfigGet(proto.CONFIG_IDS["imu_rate_hz"]), proto.ConfigValue).message
                assert isinstance(v, proto.ConfigValue)
                self.imu_rate_hz = float(v.value)
            except RigLinkError:
                pass
        return self.link

    def describe(self) -> base.SourceDescription:
        self._ensure()
        assert self.info is not None
        return base.SourceDescription(
            rig=self.rig,
            info=to_device_info(self.info),
            imu_rate_hz=self.imu_rate_hz,
            gripper="gripper" in self.info.sensors,
            events=True,
            clocksync=True,
        )

    def stop(self) -> None:
        self._stop = True

    def samples(self) -> Iterator[base.Sample]:
        link = self._ensure()
        last_rx = time.monotonic_ns()
        next_sync = last_rx
        next_hello = last_rx + 1_000_000_000
        exchange = 0
        pending: dict[int, int] = {}
        gap_start: int | None = None
        gap_reason = ""
        last_imu_host = 0
        while not self._stop:
            now = time.monotonic_ns()
            try:
                if gap_start is None and now >= next_sync:
                    exchange = (exchange + 1) & 0xFFFFFFFF
                    t_send = time.monotonic_ns()
                    link.send(proto.TimeSyncRequest(exchange, t_send))
                    pending[exchange] = t_send
                    if len(pending) > 50:
                        pending.pop(next(iter(pending)))
                    next_sync = now + self.sync_period_ns
                if now >= next_hello:
                    link.send(proto.Hello(link.host_epoch))  # keepalive: network rigs reply to its sender
                    next_hello = now + 1_000_000_000
                frames = link.poll(0.01)
            except LinkDown as e:
                if gap_start is None:
                    gap_start, gap_reason = last_rx, f"link down: {e}"
                    log.warning("%s: %s", self.rig, gap_reason)
                time.sleep(0.2)
                with contextlib.suppress(LinkDown):
                    link.reopen()
                continue
            t_now = time.monotonic_ns()
            if frames and gap_start is not None:
                gap = base.LinkGap(self.rig, gap_start, frames[0][1], gap_reason)
                self.gaps.append(gap)
                log.info("%s: link back after %.2f s", self.rig, (gap.t1_ns - gap.t0_ns) / 1e9)
                yield gap
                gap_start = None
                last_imu_host = max(last_imu_host, gap.t1_ns)  # back-dating never reaches into the gap
                next_sync = t_now
            if not frames:
                if gap_start is None and t_now - last_rx > self.gap_timeout_ns:
                    gap_start, gap_reason = last_rx, "rig silent"
                    log.warning("%s: rig silent for %.1f s", self.rig, (t_now - last_rx) / 1e9)
                continue
            last_rx = frames[-1][1]
            for frame, t_host in frames:
                m = frame.message
                t_dev = frame.t_device_us * 1000
                if isinstance(m, proto.ImuBatch):
                    n = len(m.dt_us)
                    if n == 0:
                        continue
                    dt_ns = m.dt_us.astype(np.int64) * 1000
                    # Back-date each sample from the arrival of the batch by its device-time distance from
                    # the last one; keep host stamps increasing across batches.
                    th = t_host - (dt_ns[-1] - dt_ns)
                    th = np.maximum(th, last_imu_host + 1 + np.arange(n))
                    last_imu_host = int(th[-1])
                    yield base.ImuBatch(self.rig, th.astype(np.int64), t_dev + dt_ns, m.gyro(), m.accel())
                elif isinstance(m, proto.Gripper):
                    yield base.GripperSample(self.rig, t_host, t_dev, m.width_um * 1e-6, float(m.encoder_counts))
                elif isinstance(m, proto.Button):
                    name = "trigger" if m.button == proto.BUTTON_TRIGGER else f"button{m.button}"
                    yield base.RigEvent(self.rig, t_host, t_dev, "button", f"{name}:{'down' if m.pressed else 'up'}")
                    if m.episode == proto.EPISODE_START:
                        yield base.RigEvent(self.rig, t_host, t_dev, "episode", "start")
                    elif m.episode == proto.EPISODE_STOP:
                        yield base.RigEvent(self.rig, t_host, t_dev, "episode", "stop")
                elif isinstance(m, proto.CameraTrigger):
                    yield base.RigEvent(
                        self.rig,
                        t_host,
                        t_dev,
                        "trigger",
                        f"cam{m.camera} frame={m.frame_counter} "
                        f"exposure_start_ns={m.exposure_start_us * 1000} "
                        f"exposure_ns={m.exposure_us * 1000}",
                    )
                elif isinstance(m, proto.TimeSyncResponse):
                    t_send = pending.pop(m.exchange_id, -1)
                    if t_send != m.t_host_send_ns:
                        continue  # duplicate or stale answer
                    ex = base.ClockExchange(self.rig, t_send, m.t_device_rx_ns, m.t_device_tx_ns, t_host)
                    self.clock.add(ex)
                    yield ex
                elif isinstance(m, proto.Status):
                    yield base.RigEvent(
                        self.rig,
                        t_host,
                        t_dev,
                        "status",
                        f"battery_pct={m.battery_pct} battery_mv={m.battery_mv} "
                        f"temperature_c={m.temperature_centi_c / 100:.2f} "
                        f"storage_free_kib={m.storage_free_kib} errors={list(m.errors)}",
                    )
                elif isinstance(m, proto.Log):
                    yield base.RigEvent(self.rig, t_host, t_dev, "log", m.text)
                elif isinstance(m, proto.DeviceInfo):
                    self.info = m
        if gap_start is not None:
            gap = base.LinkGap(self.rig, gap_start, time.monotonic_ns(), gap_reason + " (not resumed)")
            self.gaps.append(gap)
            yield gap
        link.close()
        self._closed = True  # a later samples() reconnects; self.link keeps its statistics
