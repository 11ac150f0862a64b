"""A virtual rig: the firmware side of protocol v1 in its own process, over a pty or UDP.

Run ``python -m devices.link.virtual_firmware --pty`` (prints ``PTY /dev/pts/N``) or
``--udp PORT``. It streams IMU batches, gripper width, button/episode edges, camera
trigger timestamps and status from a motion model (``devices.sim.SimRig`` when present),
answers time sync, config, pairing and firmware update (A/B slots in ``--state-dir``),
and injects faults on request: corrupted bytes, dropped/reordered/duplicated frames,
silent disconnects, device clock jumps and a brownout at a chosen update step.
No camera images travel over the link: rig cameras are UVC/RealSense.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import random
import select
import socket
import subprocess
import sys
import tempfile
import time
import tty
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from democap.errors import ProtocolError
from devices.link import protocol as proto
from devices.link.firmware import FirmwareError, Manifest, verify_signature
from devices.link.framing import FrameParser
from devices.link.security import (
    AuthError,
    FrameAuthenticator,
    PairingSide,
    confirm_proof,
    derive_pairing,
    encode_authenticated,
)

log = logging.getLogger("democap.virtual_rig")

G = 9.80665


class MotionModel(Protocol):
    """What the firmware needs from a simulation: IMU and gripper as functions of true time (s)."""

    def imu(self, t_s: NDArray[np.float64], rate_hz: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(gyro rad/s (N, 3), accel m/s^2 (N, 3)) in the IMU frame at times t_s (N,)."""
        ...

    def gripper_width(self, t_s: float) -> float: ...

    def episodes(self) -> list[tuple[float, float]]:
        """Demonstrations (start, stop) in seconds; they repeat every ``period_s``."""
        ...

    period_s: float


class _SineMotion:
    """Fallback when devices.sim is absent: smooth wrist-like motion with sensor noise."""

    period_s = 60.0

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def imu(self, t_s: NDArray[np.float64], rate_hz: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        w = 2 * np.pi * np.array([0.5, 0.3, 0.7])
        gyro = np.array([0.3, 0.2, 0.1]) * np.sin(np.outer(t_s, w) + [0, 1, 2])
        accel = np.array([0.0, 0.0, G]) + 0.5 * np.sin(np.outer(t_s, w * 2))
        n = len(t_s)
        return gyro + self.rng.normal(0, 0.002, (n, 3)), accel + self.rng.normal(0, 0.02, (n, 3))

    def gripper_width(self, t_s: float) -> float:
        return float(np.clip(0.045 + 0.045 * np.sin(2 * np.pi * 0.2 * t_s), 0.0, 0.085))

    def episodes(self) -> list[tuple[float, float]]:
        return [(5.0, 20.0), (25.0, 40.0)]


def load_motion(seed: int) -> MotionModel:
    try:
        from devices.link.sim_adapter import SimMotion

        return SimMotion(seed)
    except ImportError:  # the simulation package is optional for a firmware-only install
        return _SineMotion(seed)


class DeviceClock:
    """Device time (ns) at a host monotonic instant, from the shared simulation's device clock
    (offset, drift, jumps) with sim time = seconds since the firmware started."""

    def __init__(
        self, offset_ns: int = 5_000_000_000, drift_ppm: float = 40.0, jump_at_s: float | None = None, jump_ns: int = 0
    ) -> None:
        self.t0_ns = time.monotonic_ns()
        try:
            from devices.link.sim_adapter import sim_clock

            sim = sim_clock(offset_ns, drift_ppm, jump_at_s, jump_ns)
            self._f = lambda t: int(sim.device_ns(t)[0])
        except ImportError:

            def f(t: float) -> int:
                jump = jump_ns if jump_at_s is not None and t >= jump_at_s else 0
                return offset_ns + int(round(t * 1e9 * (1 + drift_ppm * 1e-6))) + jump

            self._f = f

    def true_s(self, mono_ns: int) -> float:
        return (mono_ns - self.t0_ns) / 1e9

    def device_ns(self, mono_ns: int) -> int:
        return max(self._f(self.true_s(mono_ns)), 0)


class Brownout(Exception):
    """Raised at the injected power-loss point; the process dies without cleaning up."""


class Bootloader:
    """A/B slots in a folder: ``boot.json`` (replaced atomically) names the active slot.

    Power loss at any step leaves ``boot.json`` pointing at a complete, verified slot,
    so the rig boots either the old or the new firmware.
    """

    def __init__(
        self,
        folder: Path,
        hw_rev: str,
        factory_version: tuple[int, int, int],
        trusted_keys: list[bytes],
        brownout_at: str = "",
    ) -> None:
        self.dir = folder
        self.hw_rev = hw_rev
        self.trusted = trusted_keys
        self.brownout_at = brownout_at
        self.dir.mkdir(parents=True, exist_ok=True)
        boot = self.dir / "boot.json"
        if not boot.exists():
            image = f"factory firmware {factory_version}".encode()
            (self.dir / "slot0.bin").write_bytes(image)
            self._write_boot(
                {
                    "active": 0,
                    "boot_counter": 0,
                    "slots": [
                        {
                            "version": list(factory_version),
                            "sha256": hashlib.sha256(image).hexdigest(),
                            "size": len(image),
                        },
                        None,
                    ],
                }
            )
        self.boot = json.loads(boot.read_text())
        self._check_active()
        self.boot["boot_counter"] += 1
        self._write_boot(self.boot)
        self.state = proto.FW_IDLE
        self.pending: Manifest | None = None
        self._load_progress()

    def _write_boot(self, boot: dict) -> None:
        tmp = self.dir / "boot.json.tmp"
        tmp.write_text(json.dumps(boot))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        if self.brownout_at == "commit" and boot.get("_committing"):
            raise Brownout("commit")
        os.replace(tmp, self.dir / "boot.json")

    def _slot_ok(self, i: int) -> bool:
        s = self.boot["slots"][i]
        p = self.dir / f"slot{i}.bin"
        return bool(s) and p.exists() and hashlib.sha256(p.read_bytes()[: s["size"]]).hexdigest() == s["sha256"]

    def _check_active(self) -> None:
        a = self.boot["active"]
        if not self._slot_ok(a) and self._slot_ok(1 - a):
            log.warning("active slot %d is corrupt; booting slot %d", a, 1 - a)
            self.boot["active"] = 1 - a

    @property
    def active(self) -> int:
        return int(self.boot["active"])

    @property
    def version(self) -> tuple[int, int, int]:
        v = self.boot["slots"][self.active]["version"]
        return (int(v[0]), int(v[1]), int(v[2]))

    @property
    def boot_counter(self) -> int:
        return int(self.boot["boot_counter"])

    def _progress_path(self) -> Path:
        return self.dir / "update.json"

    def _load_progress(self) -> None:
        p = self._progress_path()
        self.received = 0
        self.progress_sha = b""
        if p.exists():
            d = json.loads(p.read_text())
            self.received, self.progress_sha = int(d["received"]), bytes.fromhex(d["sha256"])

    def _save_progress(self) -> None:
        tmp = self._progress_path().with_suffix(".tmp")
        tmp.write_text(json.dumps({"received": self.received, "sha256": self.progress_sha.hex()}))
        os.replace(tmp, self._progress_path())

    def status(self) -> proto.FwStatus:
        return proto.FwStatus(self.state, self.active, self.received, self.progress_sha)

    def begin(self, msg: proto.FwBegin) -> proto.FwStatus:
        if not verify_signature(msg.manifest, msg.signature, self.trusted):
            raise _Nack(proto.ERR_SIGNATURE, "manifest signature is not from a trusted key")
        try:
            m = Manifest.from_bytes(msg.manifest)
        except FirmwareError as e:
            raise _Nack(proto.ERR_BAD_PAYLOAD, str(e)) from e
        if m.hw_rev != self.hw_rev:
            raise _Nack(proto.ERR_HW_MISMATCH, f"image is for {m.hw_rev}, this rig is {self.hw_rev}")
        if m.version < self.version and not msg.force:
            raise _Nack(proto.ERR_DOWNGRADE, f"{m.version_str} is older than running {self.version}")
        self.pending, self.pending_sig = m, msg.signature
        if self.progress_sha != m.image_sha256:
            # A different image: start over in the inactive slot.
            self.received, self.progress_sha = 0, m.image_sha256
            (self.dir / f"slot{1 - self.active}.bin").write_bytes(b"")
            self._save_progress()
        self.state = proto.FW_RECEIVING
        return self.status()

    def chunk(self, msg: proto.FwChunk) -> proto.FwStatus:
        if self.state != proto.FW_RECEIVING or self.pending is None:
            raise _Nack(proto.ERR_STATE, "no update in progress")
        if msg.offset != self.received:
            return self.status()  # out of order or duplicate: tell the host where to continue
        if msg.offset + len(msg.data) > self.pending.image_size:
            raise _Nack(proto.ERR_BAD_VALUE, "chunk beyond image size")
        slot = self.dir / f"slot{1 - self.active}.bin"
        with open(slot, "r+b" if slot.exists() else "wb") as f:
            f.seek(msg.offset)
            if self.brownout_at == f"chunk:{msg.offset}":
                f.write(msg.data[: len(msg.data) // 2])
                f.flush()
                os.fsync(f.fileno())
                raise Brownout(self.brownout_at)
            f.write(msg.data)
            f.flush()
            os.fsync(f.fileno())
        self.received += len(msg.data)
        self._save_progress()
        return self.status()

    def verify(self) -> proto.FwStatus:
        if self.pending is None or self.state not in (proto.FW_RECEIVING, proto.FW_VERIFIED):
            raise _Nack(proto.ERR_STATE, "no update in progress")
        if self.brownout_at == "verify":
            raise Brownout("verify")
        data = (self.dir / f"slot{1 - self.active}.bin").read_bytes()[: self.pending.image_size]
        if len(data) != self.pending.image_size or hashlib.sha256(data).digest() != self.pending.image_sha256:
            self.state = proto.FW_FAILED
            raise _Nack(proto.ERR_HASH, "image hash does not match the signed manifest")
        self.state = proto.FW_VERIFIED
        return self.status()

    def commit(self) -> proto.FwStatus:
        if self.state != proto.FW_VERIFIED or self.pending is None:
            raise _Nack(proto.ERR_STATE, "commit before verify")
        new = 1 - self.active
        boot = dict(self.boot)
        slots = list(boot["slots"])
        slots[new] = {
            "version": list(self.pending.version),
            "sha256": self.pending.image_sha256.hex(),
            "size": self.pending.image_size,
        }
        boot.update(slots=slots, active=new, _committing=True)
        self._write_boot(boot)
        boot.pop("_committing")
        self._write_boot(boot)
        self.boot = boot
        self._progress_path().unlink(missing_ok=True)
        self.received, self.progress_sha, self.pending = 0, b"", None
        self.state = proto.FW_COMMITTED
        return self.status()

    def abort(self) -> proto.FwStatus:
        self._progress_path().unlink(missing_ok=True)
        self.received, self.progress_sha, self.pending, self.state = 0, b"", None, proto.FW_IDLE
        return self.status()


class _Nack(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


@dataclass
class Faults:
    corrupt_rate: float = 0.0  # per frame: flip one byte
    drop_rate: float = 0.0
    dup_rate: float = 0.0
    reorder_rate: float = 0.0  # per frame: hold it back and send after the next one
    disconnect_at_s: float | None = None
    disconnect_for_s: float = 0.0
    exit_at_s: float | None = None  # unplug: the process (and its pty) goes away


class VirtualFirmware:
    """Protocol logic of the rig, without I/O: ``handle`` incoming frames, ``due`` periodic output."""

    def __init__(
        self,
        serial: str,
        hw_rev: str,
        bootloader: Bootloader,
        clock: DeviceClock,
        motion: MotionModel,
        network: bool,
        key: bytes | None,
        key_path: Path,
        pairing_mode: bool,
        episode_every_s: float | None = None,
    ) -> None:
        self.serial, self.hw_rev, self.boot, self.clock, self.motion = serial, hw_rev, bootloader, clock, motion
        self.network, self.key, self.key_path, self.pairing_mode = network, key, key_path, pairing_mode
        self.auth = FrameAuthenticator(key, expect_from_host=True)
        self.config = {
            "imu_rate_hz": 200,
            "gyro_range_dps": 2000,
            "accel_range_g": 16,
            "led_mode": 1,
            "camera_trigger_hz": 30,
            "camera_trigger_enabled": 1,
            "gripper_rate_hz": 50,
            "status_period_ms": 1000,
        }
        self.episode_every_s = episode_every_s
        self.episode_on = False
        self.pairing: tuple[PairingSide, bytes] | None = None
        self.code_shown = ""
        self._next: dict[str, float] = {}
        self._imu_t = 0.0
        self._frame_counter = 0
        self.reboot_requested = False
        self.unpair_after_reply = False
        self.accepted = False
        self._presses = sorted(x for span in motion.episodes() for x in span)
        self._press_index = 0

    def info(self) -> proto.DeviceInfo:
        return proto.DeviceInfo(
            self.serial, self.hw_rev, self.boot.version, proto.SENSORS, proto.CAPABILITIES, self.boot.boot_counter
        )

    def _scales(self) -> tuple[float, float]:
        return (np.deg2rad(self.config["gyro_range_dps"]) / 32768.0, self.config["accel_range_g"] * G / 32768.0)

    def handle(self, frame: proto.Frame, t_rx_dev_ns: int) -> list[proto.Message]:
        m = frame.message
        open_types = (proto.Hello, proto.PairRequest, proto.PairConfirm)
        self.accepted = True
        if self.network:
            try:
                self.auth.verify(frame)
            except AuthError:
                self.accepted = isinstance(m, proto.Hello) or (self.pairing_mode and isinstance(m, open_types))
                if not self.accepted:
                    code = proto.ERR_NOT_PAIRED if self.key is None else proto.ERR_AUTH
                    return [proto.Nack(frame.type_id, frame.seq, code, "authenticate first")]
        try:
            return self._dispatch(frame, m, t_rx_dev_ns)
        except _Nack as e:
            return [proto.Nack(frame.type_id, frame.seq, e.code, e.reason)]

    def _dispatch(self, frame: proto.Frame, m: proto.Message, t_rx: int) -> list[proto.Message]:
        if isinstance(m, proto.Hello):
            return [self.info()]
        if isinstance(m, proto.TimeSyncRequest):
            return [proto.TimeSyncResponse(m.exchange_id, m.t_host_send_ns, t_rx, 0)]  # tx stamped at send
        if isinstance(m, proto.ConfigGet):
            name = proto.CONFIG_KEYS.get(m.key)
            if name is None:
                raise _Nack(proto.ERR_BAD_VALUE, f"unknown config key {m.key}")
            return [proto.ConfigValue(m.key, self.config[name])]
        if isinstance(m, proto.ConfigSet):
            name = proto.CONFIG_KEYS.get(m.key)
            allowed = {
                "imu_rate_hz": (50, 1000),
                "gyro_range_dps": (125, 2000),
                "accel_range_g": (2, 16),
                "led_mode": (0, 3),
                "camera_trigger_hz": (1, 120),
                "camera_trigger_enabled": (0, 1),
                "gripper_rate_hz": (1, 200),
                "status_period_ms": (100, 60000),
            }
            if name is None or not allowed[name][0] <= m.value <= allowed[name][1]:
                raise _Nack(proto.ERR_BAD_VALUE, f"config {name or m.key} = {m.value} out of range")
            self.config[name] = m.value
            return [proto.ConfigValue(m.key, m.value)]
        if isinstance(m, proto.FwBegin):
            return [self.boot.begin(m)]
        if isinstance(m, proto.FwChunk):
            return [self.boot.chunk(m)]
        if isinstance(m, proto.FwVerify):
            return [self.boot.verify()]
        if isinstance(m, proto.FwCommit):
            st = self.boot.commit()
            self.reboot_requested = True
            return [st]
        if isinstance(m, proto.FwAbort):
            return [self.boot.abort()]
        if isinstance(m, proto.PairRequest):
            if self.network and not self.pairing_mode:
                raise _Nack(proto.ERR_STATE, "hold the pair button to pair over the network")
            side = PairingSide()
            key, code = derive_pairing(side, m.public_key, m.public_key, m.nonce, side.public_bytes, side.nonce)
            self.pairing = (side, key)
            self.code_shown = code
            print(f"CODE {code}", file=sys.stderr, flush=True)  # the rig's display
            return [proto.PairResponse(side.public_bytes, side.nonce)]
        if isinstance(m, proto.PairConfirm):
            if self.pairing is None or m.proof != confirm_proof(self.pairing[1]):
                raise _Nack(proto.ERR_AUTH, "pairing proof does not match")
            self.key = self.pairing[1]
            self.key_path.write_text(self.key.hex())
            os.chmod(self.key_path, 0o600)
            self.auth = FrameAuthenticator(self.key, expect_from_host=True)
            self.pairing = None
            return [proto.Ack(m.TYPE, frame.seq)]
        if isinstance(m, proto.Unpair):
            self.unpair_after_reply = True  # the ack still goes out under the old key
            return [proto.Ack(m.TYPE, frame.seq)]
        if isinstance(m, proto.UnknownMessage):
            return []  # newer minor version: ignored by rule
        return []

    def forget_key(self) -> None:
        self.key = None
        self.key_path.unlink(missing_ok=True)
        self.auth = FrameAuthenticator(None, expect_from_host=True)
        self.unpair_after_reply = False

    def _every(self, name: str, period_s: float, t: float) -> bool:
        nxt = self._next.get(name)
        if nxt is None:
            self._next[name] = t + period_s
            return False
        if t >= nxt:
            self._next[name] = max(nxt + period_s, t - period_s)
            return True
        return False

    def due(self, mono_ns: int) -> list[tuple[proto.Message, int]]:
        """Messages to send now, each with its device time (us)."""
        t = self.clock.true_s(mono_ns)
        out: list[tuple[proto.Message, int]] = []
        rate = self.config["imu_rate_hz"]
        if self._every("imu", 0.05, t):
            n = int((t - self._imu_t) * rate)
            if n > 0:
                ts = self._imu_t + np.arange(n) / rate
                self._imu_t = ts[-1] + 1 / rate
                gyro, accel = self.motion.imu(ts, float(rate))
                gs, as_ = self._scales()
                t_dev_ns = np.array([self.clock.device_ns(self.clock.t0_ns + int(x * 1e9)) for x in ts])
                t_dev_us = t_dev_ns // 1000
                for i in range(0, n, 64):  # keep frames well under MAX_FRAME
                    sl = slice(i, min(i + 64, n))
                    out.append(
                        (
                            proto.ImuBatch(
                                gs,
                                as_,
                                (t_dev_us[sl] - t_dev_us[sl][0]).astype(np.uint32),
                                np.clip(np.round(gyro[sl] / gs), -32768, 32767).astype(np.int16),
                                np.clip(np.round(accel[sl] / as_), -32768, 32767).astype(np.int16),
                            ),
                            int(t_dev_us[sl][0]),
                        )
                    )
        dev_us = self.clock.device_ns(mono_ns) // 1000
        if self._every("gripper", 1 / self.config["gripper_rate_hz"], t):
            w = self.motion.gripper_width(t)
            out.append((proto.Gripper(int(w * 200_000), int(round(w * 1e6))), dev_us))
        if self.config["camera_trigger_enabled"] and self._every("cam", 1 / self.config["camera_trigger_hz"], t):
            self._frame_counter += 1
            out.append((proto.CameraTrigger(0, self._frame_counter, dev_us + 100, 8000), dev_us))
        if self._every("status", self.config["status_period_ms"] / 1000, t):
            pct = max(0, 100 - int(t / 60))
            out.append((proto.Status(3700 + 5 * pct, pct, 3150, 12_000_000, 16_000_000, ()), dev_us))
        if self._trigger_due(t):
            self.episode_on = not self.episode_on
            ep = proto.EPISODE_START if self.episode_on else proto.EPISODE_STOP
            out.append((proto.Button(proto.BUTTON_TRIGGER, True, ep), dev_us))
            out.append((proto.Button(proto.BUTTON_TRIGGER, False, proto.EPISODE_NONE), dev_us + 80_000))
        return out

    def _trigger_due(self, t: float) -> bool:
        """The operator presses the trigger at every episode start and stop of the motion model."""
        if self.episode_every_s:
            return self._every("episode", self.episode_every_s, t)
        if not self._presses:
            return False
        k, i = divmod(self._press_index, len(self._presses))
        if t >= k * self.motion.period_s + self._presses[i]:
            self._press_index += 1
            return True
        return False


class _Link:
    """Wire side of the virtual rig: pty master or UDP socket, with fault injection on output."""

    def __init__(self, args: argparse.Namespace, faults: Faults, rng: random.Random) -> None:
        self.faults, self.rng = faults, rng
        self.udp = args.udp is not None
        self.peer: tuple[str, int] | None = None  # where data goes: the last authentic host (or hello)
        self.last_addr: tuple[str, int] | None = None
        if self.udp:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind(("127.0.0.1", args.udp))
            self.fd = self.sock.fileno()
            print(f"UDP 127.0.0.1 {self.sock.getsockname()[1]}", flush=True)
        else:
            self.fd, self.slave = os.openpty()
            tty.setraw(self.slave)
            os.set_blocking(self.fd, False)
            print(f"PTY {os.ttyname(self.slave)}", flush=True)
        self.held: bytes | None = None

    def read(self, timeout: float) -> bytes:
        r, _, _ = select.select([self.fd], [], [], max(timeout, 0))
        if not r:
            return b""
        try:
            if self.udp:
                data, self.last_addr = self.sock.recvfrom(65536)
                return data
            return os.read(self.fd, 65536)
        except (BlockingIOError, OSError):
            return b""

    def write_frame(self, wire: bytes) -> None:
        f, rng = self.faults, self.rng
        if rng.random() < f.drop_rate:
            return
        if rng.random() < f.corrupt_rate:
            b = bytearray(wire)
            i = rng.randrange(len(b))
            b[i] = rng.randrange(256)
            wire = bytes(b)
        if rng.random() < f.reorder_rate and self.held is None:
            self.held = wire
            return
        self._raw(wire)
        if rng.random() < f.dup_rate:
            self._raw(wire)
        if self.held is not None:
            held, self.held = self.held, None
            self._raw(held)

    def _raw(self, wire: bytes) -> None:
        try:
            if self.udp:
                if self.peer is not None:
                    self.sock.sendto(wire, self.peer)
            else:
                os.write(self.fd, wire)
        except (BlockingIOError, OSError):
            pass  # host not reading: a real USB device drops too


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="democap-virtual-rig", description=__doc__.splitlines()[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--pty", action="store_true", help="serve over a new pty (default)")
    g.add_argument("--udp", type=int, metavar="PORT", help="serve over UDP on 127.0.0.1:PORT (0 = any)")
    ap.add_argument("--serial-number", default="VR-0001")
    ap.add_argument("--hw-rev", default="rig-a")
    ap.add_argument("--fw-version", default="1.0.0")
    ap.add_argument("--state-dir", type=Path, help="persistent flash (slots, pairing key); default: a temp dir")
    ap.add_argument("--trusted-key", action="append", default=[], help="hex Ed25519 key trusted for updates")
    ap.add_argument("--pairing-mode", action="store_true", help="accept pairing over the network")
    ap.add_argument("--mdns", action="store_true", help="advertise over mDNS on 127.0.0.1 (with --udp)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--duration", type=float, default=0.0, help="exit after this many seconds (0 = never)")
    ap.add_argument("--episode-every", type=float, default=None, help="toggle an episode every N seconds")
    ap.add_argument("--clock-offset-ms", type=float, default=5000.0)
    ap.add_argument("--drift-ppm", type=float, default=40.0)
    ap.add_argument("--clock-jump-at", type=float, default=None)
    ap.add_argument("--clock-jump-ms", type=float, default=0.0)
    ap.add_argument("--corrupt-rate", type=float, default=0.0)
    ap.add_argument("--drop-rate", type=float, default=0.0)
    ap.add_argument("--dup-rate", type=float, default=0.0)
    ap.add_argument("--reorder-rate", type=float, default=0.0)
    ap.add_argument(
        "--disconnect-at", type=float, default=None, help="go silent this many seconds after the host's first frame"
    )
    ap.add_argument("--disconnect-for", type=float, default=0.0)
    ap.add_argument(
        "--exit-at", type=float, default=None, help="vanish (unplug) this many seconds after the host's first frame"
    )
    ap.add_argument("--brownout-at", default="", help="power loss at update step: chunk:OFFSET | verify | commit")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="virtual-rig %(levelname)s %(message)s")
    state = args.state_dir or Path(tempfile.mkdtemp(prefix="democap-vrig-"))
    state.mkdir(parents=True, exist_ok=True)
    major, minor, patch = (int(x) for x in args.fw_version.split("."))
    version = (major, minor, patch)
    boot = Bootloader(state, args.hw_rev, version, [bytes.fromhex(k) for k in args.trusted_key], args.brownout_at)
    key_path = state / "pairing.key"
    key = bytes.fromhex(key_path.read_text()) if key_path.exists() else None
    motion = load_motion(args.seed)
    motion.imu(np.zeros(1), 200.0)  # synthesise before the clock starts, so faults happen when asked
    faults = Faults(
        args.corrupt_rate,
        args.drop_rate,
        args.dup_rate,
        args.reorder_rate,
        args.disconnect_at,
        args.disconnect_for,
        args.exit_at,
    )
    rng = random.Random(args.seed)
    link = _Link(args, faults, rng)
    clock = DeviceClock(
        int(args.clock_offset_ms * 1e6), args.drift_ppm, args.clock_jump_at, int(args.clock_jump_ms * 1e6)
    )  # true time starts now
    fw = VirtualFirmware(
        args.serial_number,
        args.hw_rev,
        boot,
        clock,
        motion,
        link.udp,
        key,
        key_path,
        args.pairing_mode,
        args.episode_every,
    )
    parser = FrameParser()
    seq = 0
    advertiser = None
    if link.udp and args.mdns:
        from devices.link.discovery import Advertiser

        advertiser = Advertiser(args.serial_number, link.sock.getsockname()[1], args.hw_rev, args.fw_version)

    def send(msg: proto.Message, t_us: int) -> None:
        nonlocal seq
        if isinstance(msg, proto.TimeSyncResponse):
            msg = proto.TimeSyncResponse(
                msg.exchange_id, msg.t_host_send_ns, msg.t_device_rx_ns, clock.device_ns(time.monotonic_ns())
            )
        if fw.network and fw.key is not None:
            wire = encode_authenticated(msg, seq, t_us, fw.key, fw.boot.boot_counter, from_host=False)
        else:
            wire = proto.encode(msg, seq, t_us)
        seq = (seq + 1) & 0xFFFFFFFF
        link.write_frame(wire)

    t_connected: float | None = None
    try:
        while True:
            now = time.monotonic_ns()
            t = clock.true_s(now)
            if args.duration and t >= args.duration:
                return 0
            # Link faults are timed from the host's first frame, so they hit a live connection
            # however long the host took to start.
            tc = t - t_connected if t_connected is not None else -1.0
            if faults.exit_at_s is not None and tc >= faults.exit_at_s:
                log.info("unplugged")
                return 0
            silent = (
                faults.disconnect_at_s is not None
                and faults.disconnect_at_s <= tc < faults.disconnect_at_s + faults.disconnect_for_s
            )
            data = link.read(0.005)
            t_rx = clock.device_ns(time.monotonic_ns())
            if silent:
                fw.due(time.monotonic_ns())  # cable out: sensors run on, nothing in or out
                continue
            for body in parser.feed(data):
                try:
                    frame = proto.decode_body(body)
                except ProtocolError as e:
                    log.debug("bad frame: %s", e)
                    continue
                if t_connected is None:
                    t_connected = clock.true_s(time.monotonic_ns())
                replies = fw.handle(frame, t_rx)
                if link.udp and fw.accepted:
                    link.peer = link.last_addr  # a forged frame cannot redirect the stream
                for reply in replies:
                    send(reply, clock.device_ns(time.monotonic_ns()) // 1000)
                if fw.unpair_after_reply:
                    fw.forget_key()
                if fw.reboot_requested:
                    log.info("rebooting into firmware %s", fw.boot.version)
                    fw.reboot_requested = False
                    fw.boot = Bootloader(state, args.hw_rev, version, boot.trusted, args.brownout_at)
                    seq = 0
                    send(fw.info(), clock.device_ns(time.monotonic_ns()) // 1000)
            for msg, t_us in fw.due(time.monotonic_ns()):
                send(msg, t_us)
    except Brownout as e:
        log.warning("brownout at %s", e)
        os._exit(3)
    except KeyboardInterrupt:
        return 0
    finally:
        if advertiser is not None:
            advertiser.close()


@dataclass
class VirtualRigProcess:
    """A running virtual rig: its process and the address to reach it (``serial:...`` / ``udp:...``)."""

    proc: subprocess.Popen
    address: str

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @property
    def port(self) -> str:
        return self.address.split(":", 1)[1]


def spawn(*args: str, stderr: int | None = subprocess.PIPE) -> VirtualRigProcess:
    """Start ``python -m devices.link.virtual_firmware ARGS`` and wait for its address line."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "devices.link.virtual_firmware", *args], stdout=subprocess.PIPE, stderr=stderr, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    if not line:
        err = proc.stderr.read() if proc.stderr else ""
        raise RuntimeError(f"virtual rig did not start: {err[-2000:]}")
    address = f"serial:{line[1]}" if line[0] == "PTY" else f"udp:{line[1]}:{line[2]}"
    return VirtualRigProcess(proc, address)


if __name__ == "__main__":
    sys.exit(main())
