"""ORB-SLAM3 as the reference method of ``democap bench slam`` (optional, GPL: benchmark only).

ORB-SLAM3 comes from the optional ``pyorbslam3`` wheel and is never imported by the product:
only ``slam.bench`` calls :func:`estimate`, and it runs ORB-SLAM3 in a child process
(``python -m slam.orbslam3 track ...``) so that a crash inside the C++ code is a failed row
in the table, not a crashed benchmark.

Three parts:

* **Vocabulary.** The standard ``ORBvoc.txt`` cannot be had offline, so a DBoW2 vocabulary
  is built here by hierarchical k-majority clustering (k-medians for binary descriptors, as
  DBoW2's ``HKmeansStep``) of ``cv2.ORB`` descriptors from shared photos that are neither in
  an evaluated sequence nor pasted onto the virtual rig's table (:func:`training_images`).
  It is written in the text format of ORB-SLAM3's ``TemplatedVocabulary::loadFromTextFile``
  and cached under ``~/.cache/democap/orbslam3/`` keyed by a hash of its inputs.
* **Settings.** :func:`settings_yaml` writes ORB-SLAM3's v1.0 settings file from a
  :class:`~democap.model.RigCalibration` (pinhole-radtan → ``PinHole``, fisheye-equidistant
  → ``KannalaBrandt8``, ``T_imu_cam0`` → ``IMU.T_b_c1``, IMU noise densities).
* **Runner.** The child feeds frames and IMU samples on the same corrected timeline as our
  estimators (``capture.timebase`` via ``slam.imu``) and saves ORB-SLAM3's own final
  trajectory (``SaveTrajectoryEuRoC``: every tracked frame re-expressed through its
  reference keyframe after bundle adjustment, the way ORB-SLAM3 is evaluated upstream).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from democap import geometry
from democap.model import CameraCalibration, RigCalibration, TrackState, Trajectory

log = logging.getLogger(__name__)

DESCRIPTOR_BYTES = 32  # ORB: 256 bits (DBoW2 FORB::L)
SCORING_L1 = 0  # DBoW2 ScoringType L1_NORM, as ORBvoc.txt
WEIGHTING_TF_IDF = 0  # DBoW2 WeightingType TF_IDF, as ORBvoc.txt
#: ORB extractor parameters: ORB-SLAM3's EuRoC/TUM-VI values (1200-1500 features, 1.2, 8, 20/7).
ORB_FEATURES = 1200
ORB_SCALE = 1.2
ORB_LEVELS = 8
FAST_INI, FAST_MIN = 20, 7
VOCAB_K, VOCAB_L = 10, 5
_VOCAB_VERSION = 1  # bump when the builder changes what it writes
SAVE_TIMEOUT_S = 30

# ORB-SLAM3's eTrackingState values (pyorbslam3.TrackingState).
_NOT_INITIALIZED, _OK, _RECENTLY_LOST, _LOST = 1, 2, 3, 4


# ------------------------------------------------------------------ vocabulary


@dataclass(frozen=True, eq=False)
class Vocabulary:
    """A DBoW2 vocabulary tree. Node 0 is the root; nodes are in file order (parents first).

    parent: (M,) int (parent[0] = -1); is_leaf: (M,) bool; descriptors: (M, 32) uint8
    (row 0 unused); weights: (M,) float (idf of words, 0 for inner nodes).
    """

    k: int
    L: int
    parent: NDArray[np.int64]
    is_leaf: NDArray[np.bool_]
    descriptors: NDArray[np.uint8]
    weights: NDArray[np.float64]
    scoring: int = SCORING_L1
    weighting: int = WEIGHTING_TF_IDF

    @property
    def n_words(self) -> int:
        return int(self.is_leaf.sum())

    def children(self) -> list[NDArray[np.int64]]:
        order = np.argsort(self.parent[1:], kind="stable") + 1
        starts = np.searchsorted(self.parent[order], np.arange(len(self.parent) + 1))
        return [order[starts[i] : starts[i + 1]] for i in range(len(self.parent))]

    def leaf_of(self, descriptor: NDArray[np.uint8]) -> int:
        """The leaf node a descriptor (32,) reaches descending as DBoW2's ``transform`` (first minimum wins)."""
        kids = self.children()
        node = 0
        d = _as_words(descriptor[None])[0]
        while len(kids[node]):
            c = kids[node]
            dist = hamming(d[None], _as_words(self.descriptors[c]))[0]
            node = int(c[int(np.argmin(dist))])
        return node


def _as_words(desc: NDArray[np.uint8]) -> NDArray[np.uint64]:
    """(N, 32) uint8 → (N, 4) uint64 (for XOR + popcount)."""
    return np.ascontiguousarray(desc, dtype=np.uint8).view(np.uint64).reshape(len(desc), 4)


def hamming(a: NDArray[np.uint64], b: NDArray[np.uint64]) -> NDArray[np.int64]:
    """Hamming distances (N, K) between packed descriptors a (N, 4) and b (K, 4) uint64."""
    return np.bitwise_count(a[:, None, :] ^ b[None, :, :]).sum(axis=2, dtype=np.int64)


def _majority(desc: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Bitwise majority (32,) of descriptors (N, 32): DBoW2 FORB::meanValue (ties set the bit)."""
    bits = np.unpackbits(desc, axis=1)
    return np.packbits(bits.sum(0) >= (len(desc) + 1) // 2)


def _kmajority(
    desc: NDArray[np.uint8], k: int, rng: np.random.Generator, iterations: int = 10
) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """k centres (k, 32) of descriptors (N, 32), N > k, and each descriptor's centre (N,).

    k-means++ seeding, then alternate nearest-centre assignment and bitwise majority. The
    returned assignment is the nearest-centre rule under the returned centres, so the tree
    descent of a training descriptor follows exactly the branch it was clustered into.
    """
    words = _as_words(desc)
    first = int(rng.integers(len(desc)))
    centres = [desc[first]]
    dmin = hamming(words, _as_words(desc[first][None]))[:, 0].astype(np.float64)
    while len(centres) < k:
        p = dmin**2
        # All distances zero: fewer distinct descriptors than k; duplicate centres are harmless.
        nxt = int(rng.choice(len(desc), p=p / p.sum())) if p.sum() > 0 else int(rng.integers(len(desc)))
        centres.append(desc[nxt])
        dmin = np.minimum(dmin, hamming(words, _as_words(desc[nxt][None]))[:, 0])
    C = np.stack(centres)
    assign = np.argmin(hamming(words, _as_words(C)), axis=1)
    for _ in range(iterations):
        C = np.stack([_majority(desc[assign == j]) if np.any(assign == j) else C[j] for j in range(k)])
        new = np.argmin(hamming(words, _as_words(C)), axis=1)
        if np.array_equal(new, assign):
            break
        assign = new
    return C, assign


def build_vocabulary(
    descriptors_per_image: Sequence[NDArray[np.uint8]], k: int = VOCAB_K, L: int = VOCAB_L, seed: int = 0
) -> tuple[Vocabulary, NDArray[np.int64]]:
    """A vocabulary tree from ORB descriptors of training images, and each descriptor's leaf node.

    A node is split into k children while it holds more than k descriptors and is above depth
    L; otherwise it is a word (DBoW2 instead makes one chain per descriptor down to depth L;
    stopping early keeps the file small and every leaf is still at depth >= 1, which
    ORB-SLAM3's feature vectors at ``levelsup=4`` need for L <= 5). Word weights are the idf
    ``ln(N_images / N_images_with_word)`` (TF-IDF weighting, L1 scoring, as ORBvoc.txt).
    """
    if k < 2 or not 1 <= L <= 10:
        raise ValueError(f"vocabulary needs k >= 2 and 1 <= L <= 10, got k={k}, L={L}")
    all_desc = np.concatenate([d for d in descriptors_per_image if len(d)]).astype(np.uint8)
    image_of = np.concatenate([np.full(len(d), i) for i, d in enumerate(descriptors_per_image) if len(d)])
    if len(all_desc) <= k:
        raise ValueError(f"{len(all_desc)} descriptors are too few for a vocabulary with k={k}")
    rng = np.random.default_rng(seed)
    parent, leaf, desc_rows = [-1], [False], [np.zeros(DESCRIPTOR_BYTES, np.uint8)]
    leaf_of = np.zeros(len(all_desc), np.int64)
    # Breadth first, so that every parent is written before its children (the text format needs it).
    queue: list[tuple[int, NDArray[np.int64], int]] = [(0, np.arange(len(all_desc)), 0)]
    while queue:
        nxt: list[tuple[int, NDArray[np.int64], int]] = []
        for node, members, depth in queue:
            C, assign = _kmajority(all_desc[members], k, rng)
            for j in range(k):
                sub = members[assign == j]
                if len(sub) == 0:
                    continue
                child = len(parent)
                parent.append(node)
                desc_rows.append(C[j])
                split = depth + 1 < L and len(sub) > k
                leaf.append(not split)
                if split:
                    nxt.append((child, sub, depth + 1))
                else:
                    leaf_of[sub] = child
        queue = nxt
    is_leaf = np.array(leaf)
    weights = np.zeros(len(parent))
    n_img = len(descriptors_per_image)
    words = np.unique(np.stack([leaf_of, image_of], 1), axis=0)
    ids, n_with = np.unique(words[:, 0], return_counts=True)
    weights[ids] = np.log(n_img / n_with)
    vocab = Vocabulary(k, L, np.array(parent), is_leaf, np.stack(desc_rows), weights)
    return vocab, leaf_of


def write_vocabulary_text(vocab: Vocabulary, path: Path) -> None:
    """DBoW2 text format as ORB-SLAM3 reads it: ``k L scoring weighting``, then per node (ids
    1.. in line order) ``parent is_leaf <32 bytes as ints> weight``.

    No trailing newline: ``loadFromTextFile`` loops ``while(!eof)`` and would turn a final
    empty line into a spurious child of the root.
    """
    lines = [f"{vocab.k} {vocab.L} {vocab.scoring} {vocab.weighting}"]
    for i in range(1, len(vocab.parent)):
        d = " ".join(str(int(b)) for b in vocab.descriptors[i])
        lines.append(f"{int(vocab.parent[i])} {int(vocab.is_leaf[i])} {d} {vocab.weights[i]:.9g}")
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_text("\n".join(lines))
    os.replace(tmp, path)


def read_vocabulary_text(path: Path) -> Vocabulary:
    """Inverse of :func:`write_vocabulary_text` (also reads ORB-SLAM3's ORBvoc.txt)."""
    with open(path) as f:
        head = f.readline().split()
        k, L, scoring, weighting = (int(v) for v in head[:4])
        rows = [line.split() for line in f if line.strip()]
    n = len(rows) + 1
    parent = np.full(n, -1, np.int64)
    is_leaf = np.zeros(n, bool)
    desc = np.zeros((n, DESCRIPTOR_BYTES), np.uint8)
    weights = np.zeros(n)
    for i, r in enumerate(rows, start=1):
        if len(r) != 3 + DESCRIPTOR_BYTES:
            raise ValueError(f"{path}: node line {i} has {len(r)} fields, expected {3 + DESCRIPTOR_BYTES}")
        parent[i], is_leaf[i] = int(r[0]), int(r[1]) > 0
        desc[i] = np.array(r[2 : 2 + DESCRIPTOR_BYTES], dtype=np.int64).astype(np.uint8)
        weights[i] = float(r[-1])
        if not 0 <= parent[i] < i:
            raise ValueError(f"{path}: node {i} names parent {parent[i]}, which is not an earlier node")
    return Vocabulary(k, L, parent, is_leaf, desc, weights, scoring, weighting)


def orb_extractor() -> cv2.ORB:
    """OpenCV ORB close to ORB-SLAM3's extractor: 31-px patch, 1.2 scale, 8 levels, FAST 20."""
    return cv2.ORB.create(
        nfeatures=ORB_FEATURES,
        scaleFactor=ORB_SCALE,
        nlevels=ORB_LEVELS,
        edgeThreshold=19,
        patchSize=31,
        fastThreshold=FAST_INI,
    )


def training_images(data_root: Path) -> list[Path]:
    """Shared photos the vocabulary may be trained on, in a fixed order.

    Excluded: everything the benchmark evaluates or renders. The EuRoC clip is an evaluated
    sequence and, like GoPro ``karma.mp4`` frames, is pasted onto the virtual rig's table
    (``devices.sim.scene.load_photos``); so are two chessboard photos, whose stereo pairs are
    excluded with them (found by comparing pixels, so a change in the scene is followed here).
    The TUM folder has no images. What remains: AprilTag, AprilGrid, ChArUco/ArUco, fisheye
    AprilGrid and the other chessboard photos.
    """
    files: list[Path] = []
    files += sorted((data_root / "apriltag_duckietown").glob("*.png"))
    files += sorted((data_root / "yac_d435i_mocap_aprilgrid" / "cam0" / "data").glob("*"))
    files += sorted((data_root / "opencv_aruco_charuco_photos").glob("*.jpg"))
    files += sorted((data_root / "mynteye_fisheye_stereo_aprilgrid").glob("*.png"))
    pasted = _pasted_photo_hashes(data_root)
    boards = sorted((data_root / "opencv_chessboard_stereo").glob("*.jpg"))
    excluded = {f.stem[-2:] for f in boards if _pixel_hash_bgr(f) in pasted}
    files += [f for f in boards if f.stem[-2:] not in excluded]
    return [f for f in files if f.is_file()]


def _pixel_hash_bgr(path: Path) -> str:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return hashlib.sha256(img[..., ::-1].tobytes()).hexdigest() if img is not None else ""


def _pasted_photo_hashes(data_root: Path) -> set[str]:
    from devices.sim.scene import load_photos

    return {hashlib.sha256(np.ascontiguousarray(p).tobytes()).hexdigest() for p in load_photos(data_root.resolve())}


def _cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "democap" / "orbslam3"


@dataclass(frozen=True)
class VocabularyInfo:
    path: Path
    images: int
    descriptors: int
    words: int
    nodes: int
    k: int
    L: int
    build_s: float  # 0 when read from the cache
    sources: tuple[str, ...]  # shared-data folders the training images came from

    def describe(self) -> str:
        how = f"built in {self.build_s:.0f} s" if self.build_s > 0 else "cached"
        return (
            f"DBoW2 vocabulary k={self.k} L={self.L}, {self.words} words, from {self.descriptors} ORB descriptors "
            f"of {self.images} shared photos not in any evaluated sequence ({', '.join(self.sources)}); {how}: "
            f"{self.path} (the standard ORBvoc.txt is not available offline)"
        )


def ensure_vocabulary(data_root: Path, k: int = VOCAB_K, L: int = VOCAB_L, cache: Path | None = None) -> VocabularyInfo:
    """The vocabulary for these training photos and parameters, built once and cached."""
    files = training_images(data_root)
    if len(files) < 5:
        raise FileNotFoundError(f"too few training photos in {data_root} to build an ORB vocabulary")
    h = hashlib.sha256(json.dumps([_VOCAB_VERSION, k, L, ORB_FEATURES, ORB_SCALE, ORB_LEVELS]).encode())
    for f in files:
        h.update(f.name.encode())
        h.update(hashlib.sha256(f.read_bytes()).digest())
    key = h.hexdigest()[:16]
    folder = cache or _cache_dir()
    path = folder / f"vocab-{key}.txt"
    meta = path.with_suffix(".json")
    if path.is_file() and meta.is_file():
        d = json.loads(meta.read_text())
        d.pop("files", None)
        return VocabularyInfo(path=path, build_s=0.0, **{**d, "sources": tuple(d["sources"])})
    t0 = time.perf_counter()
    orb = orb_extractor()
    per_image = []
    for f in files:
        img = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
        _, d = orb.detectAndCompute(img, None)
        per_image.append(d if d is not None else np.zeros((0, DESCRIPTOR_BYTES), np.uint8))
    vocab, _ = build_vocabulary(per_image, k, L)
    folder.mkdir(parents=True, exist_ok=True)
    write_vocabulary_text(vocab, path)
    sources = tuple(sorted({f.relative_to(data_root).parts[0] for f in files}))
    d = {
        "images": len(files),
        "descriptors": int(sum(len(x) for x in per_image)),
        "words": vocab.n_words,
        "nodes": len(vocab.parent) - 1,
        "k": k,
        "L": L,
        "sources": list(sources),
    }
    meta.write_text(json.dumps({**d, "files": [str(f.relative_to(data_root)) for f in files]}, indent=1))
    info = VocabularyInfo(path=path, build_s=time.perf_counter() - t0, **{**d, "sources": sources})
    log.info("%s", info.describe())
    return info


# ------------------------------------------------------------------ settings


def _real(v: float) -> str:
    """A float OpenCV's YAML reader takes as real (it reads ``384`` as an int and ORB-SLAM3 aborts)."""
    s = repr(float(v))
    if "." not in s and "n" not in s:  # '1e-05' -> '1.0e-05'; nan/inf left alone
        m, _, e = s.partition("e")
        s = f"{m}.0" + (f"e{e}" if e else "")
    return s


def _matrix(name: str, T: NDArray[np.float64]) -> str:
    vals = ", ".join(_real(v) for v in np.asarray(T, dtype=np.float64).ravel())
    return f"{name}: !!opencv-matrix\n  rows: 4\n  cols: 4\n  dt: f\n  data: [{vals}]\n"


def _camera_lines(i: int, c: CameraCalibration) -> str:
    m = c.camera
    pinhole = {"fx": m.fx, "fy": m.fy, "cx": m.cx, "cy": m.cy}
    s = "".join(f"Camera{i}.{n}: {_real(v)}\n" for n, v in pinhole.items())
    d = [float(v) for v in m.D]
    if m.model == "fisheye-equidistant":
        names = ["k1", "k2", "k3", "k4"]
    else:
        names = ["k1", "k2", "p1", "p2"] + (["k3"] if len(d) > 4 and d[4] != 0.0 else [])
    s += "".join(f"Camera{i}.{n}: {_real(v)}\n" for n, v in zip(names, d, strict=False))
    if m.model == "fisheye-equidistant":
        # Stereo fisheye: the whole image is the overlap region (no rectification in ORB-SLAM3).
        s += f"Camera{i}.overlappingBegin: 0\nCamera{i}.overlappingEnd: {m.width - 1}\n"
    return s


def settings_yaml(calib: RigCalibration, cameras: Sequence[str], fps: float, n_features: int = ORB_FEATURES) -> str:
    """ORB-SLAM3 v1.0 settings (``File.version: "1.0"``) for a rig's first one or two cameras.

    ``IMU.T_b_c1`` is ``T_imu_cam0``; ``Stereo.T_c1_c2`` is ``T_cam0_cam1``. IMU noise is
    the continuous-time densities, as ORB-SLAM3 expects (it scales them by the rate itself).
    Pinhole stereo is rectified by ORB-SLAM3 from these numbers, so raw images go in.
    """
    cams = [calib.camera(n) for n in cameras]
    models = {c.camera.model for c in cams}
    if len(models) != 1:
        raise ValueError(f"ORB-SLAM3 needs one camera model for all cameras, got {sorted(models)}")
    m0 = cams[0].camera
    kind = "KannalaBrandt8" if m0.model == "fisheye-equidistant" else "PinHole"
    s = f'%YAML:1.0\n---\nFile.version: "1.0"\nCamera.type: "{kind}"\n'
    for i, c in enumerate(cams, start=1):
        s += _camera_lines(i, c)
    s += f"Camera.width: {m0.width}\nCamera.height: {m0.height}\nCamera.fps: {round(fps)}\nCamera.RGB: 0\n"
    if len(cams) > 1:
        T_cam0_cam1 = geometry.se3_inverse(cams[0].T_imu_cam) @ cams[1].T_imu_cam
        s += "Stereo.ThDepth: 60.0\n" + _matrix("Stereo.T_c1_c2", T_cam0_cam1)
    s += _matrix("IMU.T_b_c1", cams[0].T_imu_cam)
    if calib.imu is not None:
        n = calib.imu
        s += (
            f"IMU.NoiseGyro: {_real(n.gyro_noise_density)}\nIMU.NoiseAcc: {_real(n.accel_noise_density)}\n"
            f"IMU.GyroWalk: {_real(n.gyro_random_walk)}\nIMU.AccWalk: {_real(n.accel_random_walk)}\n"
            f"IMU.Frequency: {_real(n.rate_hz)}\n"
        )
    s += (
        f"ORBextractor.nFeatures: {n_features}\nORBextractor.scaleFactor: {ORB_SCALE}\n"
        f"ORBextractor.nLevels: {ORB_LEVELS}\nORBextractor.iniThFAST: {FAST_INI}\nORBextractor.minThFAST: {FAST_MIN}\n"
    )
    # The viewer is off, but ORB-SLAM3's settings reader requires these keys.
    s += (
        "Viewer.KeyFrameSize: 0.05\nViewer.KeyFrameLineWidth: 1.0\nViewer.GraphLineWidth: 0.9\n"
        "Viewer.PointSize: 2.0\nViewer.CameraSize: 0.08\nViewer.CameraLineWidth: 3.0\n"
        "Viewer.ViewpointX: 0.0\nViewer.ViewpointY: -0.7\nViewer.ViewpointZ: -1.8\nViewer.ViewpointF: 500.0\n"
    )
    return s


# ------------------------------------------------------------------ runner


def available() -> str | None:
    """None when ORB-SLAM3 can run here, else why not (one line)."""
    try:
        import pyorbslam3  # noqa: F401
    except ImportError:
        return "pyorbslam3 is not installed (optional extra, GPL-3.0, benchmark only: pip install -e .[orbslam])"
    return None


def _cameras(session: Any, rig: str, calib: RigCalibration) -> list[str]:
    """The cameras the VIO uses too: the rig's calibrated image streams, depth excluded; at most two."""
    videos = session.streams_of("video", rig)
    names = [
        c.name
        for c in calib.cameras
        if f"{rig}.{c.name}" in videos and session.streams[f"{rig}.{c.name}"].get("pix_fmt", "gray") != "gray16le"
    ]
    return names[:2]


@dataclass(frozen=True, eq=False)
class TrackLog:
    """What the child process hands back. t_ns: (N,) camera times (corrected host ns); state: (N,)
    ORB-SLAM3 tracking state per frame; imu_ready: (N,) bool; T_world_imu: (N, 4, 4) from the
    final trajectory; has_pose: (N,) bool (frame in ORB-SLAM3's final trajectory)."""

    t_ns: NDArray[np.int64]
    state: NDArray[np.int8]
    imu_ready: NDArray[np.bool_]
    T_world_imu: NDArray[np.float64]
    has_pose: NDArray[np.bool_]
    track_s: float


def _read_euroc_poses(path: Path) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """ORB-SLAM3's ``SaveTrajectoryEuRoC`` output: ``t[ns] x y z qx qy qz qw`` (quaternion x,y,z,w)."""
    if not path.is_file() or path.stat().st_size == 0:
        return np.zeros(0), np.zeros((0, 4, 4))
    a = np.atleast_2d(np.loadtxt(path))
    q_wxyz = np.stack([a[:, 7], a[:, 4], a[:, 5], a[:, 6]], axis=1)
    return a[:, 0], geometry.se3(geometry.quat_wxyz_to_matrix(q_wxyz), a[:, 1:4])


def track_session(session_path: Path, rig: str, vocab: Path, settings: Path, work: Path) -> TrackLog:
    """Run ORB-SLAM3 (inertial) over a session's frames and IMU. Called in the child process."""
    import pyorbslam3

    from capture.session import Session
    from capture.timebase import stream_times
    from slam.imu import load_imu

    session = Session(session_path)
    calib = session.calibration(rig)
    assert calib is not None
    cams = _cameras(session, rig, calib)
    imu = load_imu(session, rig)
    if imu is None or len(imu) < 10:
        raise RuntimeError(f"{rig} has no IMU stream")
    t_cam = stream_times(session, f"{rig}.{cams[0]}", recorded=False)
    # Seconds from the first sample: small numbers keep ORB-SLAM3's double/float times exact.
    t0 = int(min(int(t_cam[0]), int(imu.t_ns[0])))
    t_s = (t_cam - t0) * 1e-9
    imu_rows = np.column_stack([(imu.t_ns - t0) * 1e-9, imu.gyro_imu, imu.accel_imu])
    stereo = len(cams) > 1
    sensor = pyorbslam3.Sensor.IMU_STEREO if stereo else pyorbslam3.Sensor.IMU_MONOCULAR
    n = len(t_cam)
    state = np.zeros(n, np.int8)
    imu_ready = np.zeros(n, bool)
    slam = pyorbslam3.Slam(str(vocab), str(settings), sensor, use_viewer=False)
    it0 = session.frames(f"{rig}.{cams[0]}")
    it1 = session.frames(f"{rig}.{cams[1]}") if stereo else None
    start = time.perf_counter()
    j_prev = 0
    for i in range(n):
        img0 = _gray(next(it0)[1])
        j = int(np.searchsorted(imu_rows[:, 0], t_s[i], side="right"))  # samples with t <= t_frame
        chunk = imu_rows[j_prev:j]
        j_prev = j
        if it1 is not None:
            res = slam.track_stereo(img0, _gray(next(it1)[1]), float(t_s[i]), imu=chunk)
        else:
            res = slam.track_monocular(img0, float(t_s[i]), imu=chunk)
        state[i] = int(res.state)
        imu_ready[i] = slam.imu_initialized()
    track_s = time.perf_counter() - start
    slam.shutdown()
    frames_file, kf_file = work / "frames_euroc.txt", work / "keyframes_euroc.txt"
    has_pose = np.zeros(n, bool)
    T_world_imu = np.repeat(np.eye(4)[None], n, 0)
    # The states are kept before asking for the trajectory: ORB-SLAM3 hangs or crashes saving
    # it when every map is empty (reset at the end); SIGALRM then ends this process.
    _save_track(work, TrackLog(t_cam.astype(np.int64), state, imu_ready, T_world_imu, has_pose, track_s))
    if np.any(state == _OK):
        signal.alarm(SAVE_TIMEOUT_S)
        slam.save_trajectory_euroc(str(frames_file))
        slam.save_keyframe_trajectory_euroc(str(kf_file))
        signal.alarm(0)
        t_f, T_b0_imu = _read_euroc_poses(frames_file)
        _, T_world_kf = _read_euroc_poses(kf_file)
        if len(t_f) and len(T_world_kf):
            # The frame file is relative to the first keyframe of the biggest map (b0); the
            # keyframe file gives that keyframe in ORB-SLAM3's world, gravity-aligned (z up)
            # once the IMU is initialised.
            idx = np.clip(np.searchsorted(t_s * 1e9, t_f), 1, n - 1)
            idx = np.where(np.abs(t_s[idx - 1] * 1e9 - t_f) < np.abs(t_s[idx] * 1e9 - t_f), idx - 1, idx)
            near = np.abs(t_s[idx] * 1e9 - t_f) < 1e6
            T_world_imu[idx[near]] = T_world_kf[0][None] @ T_b0_imu[near]
            has_pose[idx[near]] = True
    return TrackLog(t_cam.astype(np.int64), state, imu_ready, T_world_imu, has_pose, track_s)


def _save_track(work: Path, tl: TrackLog) -> None:
    np.savez(
        work / "track.npz",
        t_ns=tl.t_ns,
        state=tl.state,
        imu_ready=tl.imu_ready,
        T_world_imu=tl.T_world_imu,
        has_pose=tl.has_pose,
        track_s=tl.track_s,
    )


def _load_track(path: Path) -> TrackLog:
    with np.load(path) as z:
        return TrackLog(z["t_ns"], z["state"], z["imu_ready"], z["T_world_imu"], z["has_pose"], float(z["track_s"]))


def _gray(img: NDArray[Any]) -> NDArray[np.uint8]:
    return img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)


def _episodes(t_s: NDArray[np.float64], state: NDArray[np.int8], log_text: str = "") -> str:
    """A short account of ORB-SLAM3's tracking: when it initialised, how often it lost track or reset."""
    ok = state == _OK
    if not ok.any():
        return "never initialised"
    parts = [f"init at {t_s[int(np.argmax(ok))]:.1f} s"]
    lost_now = (state == _RECENTLY_LOST) | (state == _LOST)
    lost = int(np.sum(lost_now[1:] & ~lost_now[:-1]))
    if lost:
        parts.append(f"lost {lost}x")
    # Back to NOT_INITIALIZED after tracking: the map was reset (lost, or IMU init found too little motion).
    resets = int(np.sum((state[1:] == _NOT_INITIALIZED) & (state[:-1] != _NOT_INITIALIZED)))
    if resets:
        # ORB-SLAM3 drops a map whose IMU initialisation saw too little motion (< 2 cm over two
        # keyframes within its first 10 s of motion): a pause in the demonstration does it.
        slow = log_text.count("Not enough motion for initializing")
        why = f" ({min(slow, resets)} for too little motion at IMU init)" if slow else ""
        parts.append(f"map reset {resets}x{why}")
    return ", ".join(parts)


def estimate(session: Any, rig: str, settings: Mapping[str, Any]) -> tuple[Trajectory, dict[str, Any]]:
    """ORB-SLAM3's trajectory ``T_world_imu`` at the rig's first-camera times, run in a child process.

    ``settings``: ``vocabulary`` (path; default: built from ``data_root``), ``data_root``,
    ``timeout_s``. Frames ORB-SLAM3 tracked ``OK`` are ``TrackState.OK``; frames in its final
    trajectory that it had not tracked OK (IMU-only while recently lost) are ``INTERPOLATED``;
    the rest have no pose (``LOST``). Its world is its own (gravity-aligned, not the table tag):
    ``world_anchor='first_pose'``. The summary's ``reason`` says how tracking went.
    """
    why = available()
    if why is not None:
        raise RuntimeError(why)
    calib = session.calibration(rig)
    if calib is None or not calib.cameras:
        raise RuntimeError(f"session {session.id} has no camera calibration for {rig}")
    cams = _cameras(session, rig, calib)
    if not cams:
        raise RuntimeError(f"no image stream of {rig} matches its calibration")
    vocab = settings.get("vocabulary")
    if vocab is None:
        root = settings.get("data_root")
        if root is None:
            raise RuntimeError("ORB-SLAM3 needs a vocabulary: no shared data folder to build one from")
        vocab = ensure_vocabulary(Path(root)).path
    fps = float(session.streams[f"{rig}.{cams[0]}"].get("rate_hz") or 30.0)
    n = int(session.streams[f"{rig}.{cams[0]}"].get("count", 0))
    timeout = float(settings.get("timeout_s", 120.0 + 1.0 * n))
    mode = "stereo-inertial" if len(cams) > 1 else "mono-inertial"
    with tempfile.TemporaryDirectory(prefix="democap-orbslam3-") as tmp:
        work = Path(tmp)
        (work / "settings.yaml").write_text(settings_yaml(calib, cams, fps))
        cmd = [
            sys.executable, "-m", "slam.orbslam3", "track", str(session.path), "--rig", rig,
            "--vocabulary", str(vocab), "--settings", str(work / "settings.yaml"), "--work", str(work),
        ]  # fmt: skip
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        with open(work / "orbslam3.log", "w") as out:
            env = {**os.environ, "PYORBSLAM3_VOCAB": str(vocab)}  # never let pyorbslam3 download one
            try:
                rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, env=env).returncode
            except subprocess.TimeoutExpired:
                rc = None
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if rc is None:
            raise RuntimeError(f"ORB-SLAM3 ({mode}) timed out after {timeout:.0f} s")
        log_text = (work / "orbslam3.log").read_text(errors="replace")
        failed = ""
        if rc != 0:
            lines = log_text.strip().splitlines()
            tail = lines[-1].strip()[:100] if lines else "no output"
            what = "hung" if rc == -signal.SIGALRM else f"crashed (signal {-rc})" if rc < 0 else f"exited with {rc}"
            if not (work / "track.npz").is_file():
                raise RuntimeError(f"ORB-SLAM3 ({mode}) {what}: {tail}")
            failed = f"ORB-SLAM3 {what} saving its trajectory (log: '{tail}'): no poses"
        tl = _load_track(work / "track.npz")
    t_s = (tl.t_ns - tl.t_ns[0]) * 1e-9
    state = np.full(len(tl.t_ns), TrackState.LOST, np.uint8)
    state[tl.has_pose] = TrackState.INTERPOLATED
    state[tl.has_pose & (tl.state == _OK)] = TrackState.OK
    notes = [mode, _episodes(t_s, tl.state, log_text), *([failed] if failed else [])]
    if tl.imu_ready.any():
        notes.append(f"IMU init at {t_s[int(np.argmax(tl.imu_ready))]:.1f} s")
    if tl.has_pose.any() and not tl.imu_ready[tl.has_pose].any():
        notes.append("final map without IMU init (its world is not gravity-aligned)")
    accel = log_text.count("not enough acceleration")
    if accel and not (tl.state == _OK).any():
        notes.append(f"'not enough acceleration' x{accel}")
    if (tl.state == _OK).any() and (~tl.has_pose & (tl.state == _OK)).any():
        notes.append(f"{int(np.sum(~tl.has_pose & (tl.state == _OK)))} OK frames outside its final map")
    traj = Trajectory(tl.t_ns, tl.T_world_imu, state, (state == TrackState.OK).astype(np.float32))
    summary = {
        "method": "orbslam3",
        "mode": mode,
        "frames": len(tl.t_ns),
        "reason": ", ".join(notes),
        "cpu_s": cpu_s,
        "track_s": tl.track_s,
        "vocabulary": str(vocab),
    }
    return traj, summary


def _main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m slam.orbslam3", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("track", help="run ORB-SLAM3 over a session (child process of slam.orbslam3.estimate)")
    t.add_argument("session", type=Path)
    t.add_argument("--rig", default="rig0")
    t.add_argument("--vocabulary", type=Path, required=True)
    t.add_argument("--settings", type=Path, required=True)
    t.add_argument("--work", type=Path, required=True, help="folder for ORB-SLAM3's files and track.npz")
    args = p.parse_args(argv)
    _save_track(args.work, track_session(args.session, args.rig, args.vocabulary, args.settings, args.work))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
