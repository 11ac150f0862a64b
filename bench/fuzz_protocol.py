"""Coverage-guided fuzzing of the rig-link parser with atheris (libFuzzer), or a seeded random loop.

Each input goes through three doors: the streaming ``FrameParser`` (must never raise),
``decode_body`` on the raw bytes (CRC bypassed, so message decoders see hostile payloads;
only ``ProtocolError`` allowed) and ``decode`` of the bytes framed with a valid CRC; decoded
frames then go through the authenticator. Any other exception is a crash: counted, the
first few printed with their input, and the run continues.

    python bench/fuzz_protocol.py                 # atheris, 1,000,000 inputs
    python bench/fuzz_protocol.py --engine random # no atheris: mutate the test vectors
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

try:
    import atheris
except ImportError:
    atheris = None

if atheris is not None and "--engine=random" not in sys.argv and "random" not in sys.argv:
    with atheris.instrument_imports(include=["devices.link"]):  # coverage of the code under test only
        from devices.link import protocol as proto
        from devices.link.framing import MAX_FRAME, FrameParser, encode_frame
        from devices.link.security import FrameAuthenticator
else:
    from devices.link import protocol as proto
    from devices.link.framing import MAX_FRAME, FrameParser, encode_frame
    from devices.link.security import FrameAuthenticator
from democap.errors import ProtocolError  # noqa: E402

STATE = {"inputs": 0, "crashes": 0, "frames": 0, "t0": time.monotonic(), "target": 0}
_KEY = bytes(range(32))


def one_input(data: bytes) -> None:
    STATE["inputs"] += 1
    try:
        parser = FrameParser()
        cut = data[0] % 32 + 1 if data else 1
        for i in range(0, len(data), cut):
            for body in parser.feed(data[i : i + cut]):
                _decode(body)
        _decode(data)
        _decode(encode_frame(data[: MAX_FRAME - 4])[:-1], framed=True)
    except Exception:  # noqa: BLE001 - a crash is anything but the typed errors; keep fuzzing
        STATE["crashes"] += 1
        if STATE["crashes"] <= 5:
            print(f"CRASH on input {data.hex()}:\n{traceback.format_exc()}", flush=True)
    if STATE["inputs"] == STATE["target"]:
        report()


def _decode(b: bytes, framed: bool = False) -> None:
    try:
        frame = proto.decode(b) if framed else proto.decode_body(b)
    except ProtocolError:
        return
    STATE["frames"] += 1
    auth = FrameAuthenticator(_KEY, expect_from_host=bool(frame.flags & proto.FLAG_FROM_HOST))
    with contextlib.suppress(ProtocolError):
        auth.verify(frame)
    if isinstance(frame.message, proto.ImuBatch):
        frame.message.gyro()
        frame.message.accel()


def report() -> None:
    dt = time.monotonic() - STATE["t0"]
    print(
        f"fuzz_protocol: {STATE['inputs']} inputs, {STATE['crashes']} crashes, "
        f"{STATE['frames']} valid frames decoded, {dt:.0f} s ({STATE['inputs'] / dt:.0f}/s)",
        flush=True,
    )


def seeds() -> list[bytes]:
    vec = json.loads((ROOT / "docs" / "rig-protocol-vectors.json").read_text())
    out = []
    for f in vec["frames"]:
        out.append(bytes.fromhex(f["wire_hex"]))
        out.append(bytes.fromhex(f["body_hex"]))
    return out


def run_random(n: int, seed: int) -> None:
    rng = random.Random(seed)
    corpus = seeds()
    for _ in range(n):
        base = bytearray(rng.choice(corpus))
        for _m in range(rng.randint(1, 8)):
            op = rng.random()
            if op < 0.4 and base:
                base[rng.randrange(len(base))] = rng.randrange(256)
            elif op < 0.6:
                base[rng.randrange(len(base) + 1) : 0] = os.urandom(rng.randint(1, 16))
            elif op < 0.8 and base:
                i = rng.randrange(len(base))
                del base[i : i + rng.randint(1, 16)]
            else:
                base += rng.choice(corpus)
        one_input(bytes(base))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1_000_000)
    ap.add_argument("--engine", choices=["atheris", "random"], default="atheris")
    ap.add_argument("--seed", type=int, default=0)
    args, rest = ap.parse_known_args()
    STATE["target"] = args.runs
    if args.engine == "atheris" and atheris is None:
        print("atheris is not installed: falling back to the random engine", flush=True)
        args.engine = "random"
    if args.engine == "random":
        run_random(args.runs, args.seed)
        return
    corpus = Path(os.environ.get("TMPDIR", "/tmp")) / "democap-fuzz-corpus"
    corpus.mkdir(exist_ok=True)
    for i, s in enumerate(seeds()):
        (corpus / f"seed{i:03d}").write_bytes(s)
    atheris.Setup(
        [
            sys.argv[0],
            f"-runs={args.runs}",
            "-max_len=1200",
            f"-seed={args.seed + 1}",
            "-print_final_stats=1",
            *rest,
            str(corpus),
        ],
        one_input,
    )
    atheris.Fuzz()


if __name__ == "__main__":
    main()
