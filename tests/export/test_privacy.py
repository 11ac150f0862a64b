"""Faces are blurred beyond detection (real photo: matplotlib's Grace Hopper sample)."""

from __future__ import annotations

import numpy as np
import pytest

from export.privacy import FaceBlurrer, detect_faces

pytest.importorskip("dlib", reason="face blurring needs dlib-bin")


@pytest.fixture(scope="module")
def portrait() -> np.ndarray:
    import matplotlib.cbook as cbook
    from PIL import Image

    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    return np.asarray(Image.open(path).convert("RGB"))


def test_face_is_found_and_blurred_beyond_detection(portrait):
    (box,) = detect_faces(portrait)
    x0, y0, x1, y1 = box
    assert 100 < x0 < x1 < 420 and 80 < y0 < y1 < 420
    blur = FaceBlurrer(stride=1)
    out = blur(portrait)
    assert detect_faces(out) == []
    face = (slice(y0, y1), slice(x0, x1))
    assert np.abs(out[face].astype(int) - portrait[face].astype(int)).mean() > 5
    # Outside the grown box nothing changes.
    assert np.array_equal(out[:20, :20], portrait[:20, :20])
    assert blur.frames_with_faces == 1


def test_no_face_no_change():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    assert np.array_equal(FaceBlurrer(stride=1)(img), img)


def test_head_camera_is_exported_with_faces_blurred(portrait, tmp_path):
    import json

    import av

    import export
    from capture.session import Session
    from flags.synthetic import make_session

    s = Session(make_session(tmp_path / "s", n_frames=12, episodes=1, width=480, height=360, head_camera=portrait))
    raw = [img for k, img in s.frames("head.cam0") if k % 4 == 0]
    assert all(detect_faces(img) for img in raw)  # the planted face is findable
    res = export.run([s], "lerobot", tmp_path / "ds")
    info = json.loads((tmp_path / "ds" / "meta" / "info.json").read_text())
    assert info["features"]["observation.images.head_cam0"]["shape"] == [360, 480, 3]
    assert info["features"]["observation.state"]["shape"] == [8]  # the head camera adds no pose
    assert res.extra["faces_blurred_frames"] == res.frames
    path = tmp_path / "ds" / "videos" / "observation.images.head_cam0" / "chunk-000" / "file-000.mp4"
    with av.open(str(path)) as c:
        exported = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(exported) == res.frames
    assert all(detect_faces(img) == [] for img in exported[::4])
