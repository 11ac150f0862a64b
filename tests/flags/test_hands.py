"""The default hand detector against its known weakness: skin-coloured benches and tabletops."""

from __future__ import annotations

import numpy as np

from flags.hands import SkinHandDetector
from flags.synthetic import draw_hand, labelled_frames, scene

# Skin-coloured benches: the frame's dominant surface has a skin chroma.
SKIN_BENCHES = [(200, 150, 110), (180, 130, 95), (150, 105, 75), (220, 180, 150)]


def test_skin_coloured_bench_alone_is_not_a_hand_but_a_hand_on_it_is():
    det = SkinHandDetector()
    rng = np.random.default_rng(5)
    empty = [scene(rng, 640, 480, distractor=d, base_rgb=b) for b in SKIN_BENCHES for d in (False, True)]
    assert not any(det.detect(f).present for f in empty)
    with_hand = [draw_hand(f, np.random.default_rng(40 + i)) for i, f in enumerate(empty)]
    assert sum(det.detect(f).present for f in with_hand) >= len(with_hand) - 1


def test_wood_grain_is_removed_from_the_skin_mask():
    det = SkinHandDetector()
    # A tabletop (distractor) filling the lower part of a neutral grey bench.
    img = scene(np.random.default_rng(8), 640, 480, distractor=True, base_rgb=(120, 120, 130))
    mask = det.skin_mask(img)
    lower = mask[mask.shape[0] * 2 // 3 :]
    assert lower.mean() / 255 < 0.1


def test_precision_and_recall_on_a_small_generated_set():
    """Seed 12 was not used for tuning; a smoke version of bench/bench_flags.py."""
    det = SkinHandDetector()
    frames = list(labelled_frames(20, seed=12))
    pred = np.array([det.detect(f.image).present for f in frames])
    truth = np.array([f.label == "hand" for f in frames])
    tp = int(np.sum(pred & truth))
    assert tp / max(int(pred.sum()), 1) >= 0.9
    assert tp / int(truth.sum()) >= 0.9
