"""Calibration targets: geometry, detection in images and printable renders.

Three kinds: ``chessboard`` (rows/cols count inner corners), ``charuco`` and Kalibr's
``aprilgrid`` (tag36h11 with a 2-bit black border; ``tag_spacing`` is the gap as a
fraction of the tag size). Target frame: origin at the first corner, x along
columns, y along rows, z out of the board (into the camera for a facing board);
for the AprilGrid this is Kalibr's frame, so points match Kalibr/yac detections.

Targets are described in YAML with Kalibr's keys (``target_type``, ``tagRows``/
``tag_rows``, ...), read through ``democap.formats.kalibr``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

from democap.errors import CalibrationError
from democap.formats import kalibr

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Detection:
    """Target points found in one image.

    ids: (N,) int point ids (stable per target); corners_px: (N, 2) pixel positions;
    points_target: (N, 3) the same points in the target frame, metres.
    """

    ids: NDArray[np.int64]
    corners_px: NDArray[np.float64]
    points_target: NDArray[np.float64]
    image_size: tuple[int, int]  # (width, height)

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, keep: NDArray[np.bool_]) -> Detection:
        return Detection(self.ids[keep], self.corners_px[keep], self.points_target[keep], self.image_size)


class Target(Protocol):
    @property
    def kind(self) -> str: ...

    def points(self) -> tuple[NDArray[np.int64], NDArray[np.float64]]: ...
    def detect(self, image: NDArray[Any], refine: bool = True) -> Detection | None: ...
    def render(self, px_per_m: float, margin_m: float = 0.01) -> NDArray[np.uint8]: ...
    def to_dict(self) -> dict[str, Any]: ...
    def min_points(self) -> int: ...


def _gray(image: NDArray[Any]) -> NDArray[np.uint8]:
    img = np.asarray(image)
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY if img.shape[2] == 3 else cv2.COLOR_RGBA2GRAY)
    if img.dtype != np.uint8:
        img = cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    return img


_SUBPIX_CRITERIA = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 40, 0.001)


@dataclass(frozen=True)
class Chessboard:
    """Chessboard with ``rows`` x ``cols`` inner corners and square edge ``square_m``."""

    rows: int
    cols: int
    square_m: float
    kind: str = "chessboard"

    def points(self) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        r, c = np.mgrid[0 : self.rows, 0 : self.cols]
        pts = np.stack([c.ravel() * self.square_m, r.ravel() * self.square_m, np.zeros(r.size)], axis=1)
        return np.arange(r.size), pts

    def min_points(self) -> int:
        return self.rows * self.cols

    def detect(self, image: NDArray[Any], refine: bool = True) -> Detection | None:
        gray = _gray(image)
        flags = cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE
        ok, corners = cv2.findChessboardCorners(gray, (self.cols, self.rows), flags=flags)
        if not ok:
            return None
        if refine:
            # Window as OpenCV's calibration sample: about half a square on VGA images.
            corners = cv2.cornerSubPix(gray, corners, (11, 11), (-1, -1), _SUBPIX_CRITERIA)
        ids, pts = self.points()
        h, w = gray.shape
        return Detection(ids, corners.reshape(-1, 2).astype(np.float64), pts, (w, h))

    def render(self, px_per_m: float, margin_m: float = 0.01) -> NDArray[np.uint8]:
        s = self.square_m * px_per_m
        m = int(round(margin_m * px_per_m))
        nx, ny = self.cols + 1, self.rows + 1
        img = np.full((int(round(ny * s)) + 2 * m, int(round(nx * s)) + 2 * m), 255, np.uint8)
        for j in range(ny):
            for i in range(nx):
                if (i + j) % 2 == 0:
                    img[m + int(round(j * s)) : m + int(round((j + 1) * s)),
                        m + int(round(i * s)) : m + int(round((i + 1) * s))] = 0  # fmt: skip
        return img

    def to_dict(self) -> dict[str, Any]:
        return {"target_type": "checkerboard", "targetRows": self.rows, "targetCols": self.cols,
                "rowSpacingMeters": self.square_m, "colSpacingMeters": self.square_m}  # fmt: skip


def _aruco_dict(name: str) -> Any:
    if not hasattr(cv2.aruco, name):
        raise CalibrationError(f"unknown ArUco dictionary {name!r}")
    return cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, name))


@dataclass(frozen=True)
class Charuco:
    """ChArUco board: ``squares_x`` x ``squares_y`` squares; inner corners are the points."""

    squares_x: int
    squares_y: int
    square_m: float
    marker_m: float
    dictionary: str = "DICT_6X6_250"
    kind: str = "charuco"

    def _board(self) -> Any:
        return cv2.aruco.CharucoBoard(
            (self.squares_x, self.squares_y), self.square_m, self.marker_m, _aruco_dict(self.dictionary)
        )

    def points(self) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        pts = np.asarray(self._board().getChessboardCorners(), np.float64).reshape(-1, 3)
        return np.arange(len(pts)), pts

    def min_points(self) -> int:
        return 6

    def detect(self, image: NDArray[Any], refine: bool = True) -> Detection | None:
        gray = _gray(image)
        board = self._board()
        det = cv2.aruco.CharucoDetector(board)
        ch_corners, ch_ids, _, _ = det.detectBoard(gray)
        if ch_ids is None or len(ch_ids) < self.min_points():
            return None
        ids = ch_ids.ravel().astype(np.int64)
        _, pts = self.points()
        h, w = gray.shape
        return Detection(ids, ch_corners.reshape(-1, 2).astype(np.float64), pts[ids], (w, h))

    def render(self, px_per_m: float, margin_m: float = 0.01) -> NDArray[np.uint8]:
        m = int(round(margin_m * px_per_m))
        size = (
            int(round(self.squares_x * self.square_m * px_per_m)),
            int(round(self.squares_y * self.square_m * px_per_m)),
        )
        img = self._board().generateImage(size, marginSize=0)
        return cv2.copyMakeBorder(img, m, m, m, m, cv2.BORDER_CONSTANT, value=255)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target_type": "charuco", "squaresX": self.squares_x, "squaresY": self.squares_y,
            "squareLength": self.square_m, "markerLength": self.marker_m, "dictionary": self.dictionary,
        }  # fmt: skip


@dataclass(frozen=True)
class AprilGrid:
    """Kalibr AprilGrid: ``tag_rows`` x ``tag_cols`` tag36h11 tags (ids from 0, row-major from the
    bottom-left), edge ``tag_size_m`` including the 2-bit black border, gap ``tag_spacing * tag_size_m``.

    Point id ``4 * tag_id + k``; corner k = 0..3 at (x, y), (x+s, y), (x+s, y+s), (x, y+s) of the tag.
    """

    tag_rows: int
    tag_cols: int
    tag_size_m: float
    tag_spacing: float
    kind: str = "aprilgrid"

    def points(self) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        s, g = self.tag_size_m, self.tag_size_m * (1 + self.tag_spacing)
        n = self.tag_rows * self.tag_cols
        tag = np.arange(n)
        x0, y0 = (tag % self.tag_cols) * g, (tag // self.tag_cols) * g
        off = np.array([[0, 0], [s, 0], [s, s], [0, s]])
        xy = np.stack([x0, y0], 1)[:, None, :] + off[None]
        pts = np.concatenate([xy.reshape(-1, 2), np.zeros((4 * n, 1))], axis=1)
        return np.arange(4 * n), pts

    def min_points(self) -> int:
        return 8  # two tags: enough for a non-degenerate PnP

    def _detector(self, fast: bool) -> Any:
        params = cv2.aruco.DetectorParameters()
        params.markerBorderBits = 2  # Kalibr's tags: 2 black border bits
        params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_NONE
        params.useAruco3Detection = fast
        return cv2.aruco.ArucoDetector(_aruco_dict("DICT_APRILTAG_36h11"), params)

    def detect(self, image: NDArray[Any], refine: bool = True, fast: bool = False,
               complete: bool = True) -> Detection | None:  # fmt: skip
        """``complete``: look for the tags ArUco missed where the found ones predict them (below).
        ``fast``: try ArUco3's scale pyramid first (about 10x faster on boards filling the view, but
        it misses small tags); the exhaustive detector runs when it finds less than half the grid."""
        gray = _gray(image)
        n_tags = self.tag_rows * self.tag_cols
        corners: Any = ()
        ids = None
        if fast:
            corners, ids, _ = self._detector(True).detectMarkers(gray)
        if ids is None or np.sum(ids < n_tags) < n_tags // 2:
            corners, ids, _ = self._detector(False).detectMarkers(gray)
        if ids is None:
            return None
        ids = ids.ravel()
        keep = ids < n_tags
        keep[np.setdiff1d(np.arange(len(ids)), np.unique(ids, return_index=True)[1])] = False
        if keep.sum() * 4 < self.min_points():
            return None
        tag_ids = ids[keep]
        # ArUco numbers corners clockwise from the marker's own top-left; Kalibr's tags are printed
        # upside down relative to that (checked against Kalibr/yac detections): Kalibr k = ArUco [1,0,3,2][k].
        c = np.stack([corners[i].reshape(4, 2) for i in np.flatnonzero(keep)])[:, [1, 0, 3, 2], :]
        px = c.reshape(-1, 2).astype(np.float64)
        side = _median_side(c)
        if refine:
            px = refine_tag_corners(gray, px, tag_side_px=side)
        if complete and len(tag_ids) >= 2:
            extra_ids, extra_px = self._complete(gray, tag_ids, px.reshape(-1, 4, 2), side)
            tag_ids = np.concatenate([tag_ids, extra_ids])
            px = np.concatenate([px, extra_px.reshape(-1, 2)])
        pids = (4 * tag_ids[:, None] + np.arange(4)[None]).ravel().astype(np.int64)
        order = np.argsort(pids)
        _, pts = self.points()
        h, w = gray.shape
        return Detection(pids[order], px[order], pts[pids[order]], (w, h))

    def _complete(self, gray: NDArray[np.uint8], found_ids: NDArray, found_px: NDArray, side: float
                  ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:  # fmt: skip
        """Tags ArUco misses on Kalibr grids (their corners touch the small corner squares, so the
        tag's contour is not a quad): predict each missing tag from a homography of the nearest
        found tags, refine its corners, and keep it only if its bits decode to the expected id."""
        d = _aruco_dict("DICT_APRILTAG_36h11")
        _, pts = self.points()
        obj = pts.reshape(-1, 4, 3)[:, :, :2]
        rc = np.stack(np.divmod(np.arange(self.tag_rows * self.tag_cols), self.tag_cols), 1)
        h, w = gray.shape
        new_ids, new_px = [], []
        for m in np.setdiff1d(np.arange(len(rc)), found_ids):
            near = found_ids[np.argsort(np.abs(rc[found_ids] - rc[m]).sum(1), kind="stable")[:6]]
            idx = [int(np.flatnonzero(found_ids == t)[0]) for t in near]
            H, _ = cv2.findHomography(obj[near].reshape(-1, 2), found_px[idx].reshape(-1, 2))
            if H is None:
                continue
            pred = cv2.perspectiveTransform(obj[m].reshape(-1, 1, 2), H).reshape(4, 2)
            margin = 0.1 * side + 3
            if np.any(pred < margin) or np.any(pred[:, 0] > w - margin) or np.any(pred[:, 1] > h - margin):
                continue
            ref = refine_tag_corners(gray, pred, side)
            if not _decodes(gray, ref, int(m), d):
                continue
            new_ids.append(m)
            new_px.append(ref)
        return np.asarray(new_ids, np.int64), np.asarray(new_px, np.float64).reshape(-1, 4, 2)

    def render(self, px_per_m: float, margin_m: float = 0.01) -> NDArray[np.uint8]:
        d = _aruco_dict("DICT_APRILTAG_36h11")
        s = self.tag_size_m * px_per_m
        gap = self.tag_spacing * s
        m = margin_m * px_per_m
        W = int(round(self.tag_cols * s + (self.tag_cols + 1) * gap + 2 * m))
        H = int(round(self.tag_rows * s + (self.tag_rows + 1) * gap + 2 * m))
        img = np.full((H, W), 255, np.uint8)
        side = int(round(s))
        for tag in range(self.tag_rows * self.tag_cols):
            r, c = divmod(tag, self.tag_cols)
            x = m + gap + c * (s + gap)
            # Row 0 is at the bottom of the print (the target's y axis points up).
            y = H - (m + gap + r * (s + gap)) - s
            # Rotated 180 degrees: Kalibr's tag orientation (see ``detect``).
            marker = cv2.aruco.generateImageMarker(d, tag, side, borderBits=2)[::-1, ::-1]
            xi, yi = int(round(x)), int(round(y))
            img[yi : yi + side, xi : xi + side] = marker
        # Kalibr's small black squares at the gap crossings.
        for r in range(self.tag_rows + 1):
            for c in range(self.tag_cols + 1):
                x = m + c * (s + gap)
                y = H - (m + r * (s + gap)) - gap
                img[int(round(y)) : int(round(y + gap)), int(round(x)) : int(round(x + gap))] = 0
        return img

    def to_dict(self) -> dict[str, Any]:
        return {"target_type": "aprilgrid", "tagRows": self.tag_rows, "tagCols": self.tag_cols,
                "tagSize": self.tag_size_m, "tagSpacing": self.tag_spacing}  # fmt: skip


def _decodes(gray: NDArray[np.uint8], kalibr_px: NDArray[np.float64], tag_id: int, dictionary: Any) -> bool:
    """True when the quad (Kalibr corner order) shows tag ``tag_id``: black 2-cell border, <= 2 bit errors."""
    cell = 8
    canon = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], np.float32) * cell
    M = cv2.getPerspectiveTransform(kalibr_px[[1, 0, 3, 2]].astype(np.float32), canon)
    patch = cv2.warpPerspective(gray, M, (10 * cell, 10 * cell), flags=cv2.INTER_LINEAR)
    # Sample cell centres only: the outer half-cell blurs into the white gap.
    cells = patch.reshape(10, cell, 10, cell)[:, 2:-2, :, 2:-2].mean(axis=(1, 3))
    border = np.ones((10, 10), bool)
    border[2:8, 2:8] = False
    inner = cells[2:8, 2:8]
    lo, hi = np.percentile(cells[border], 90), inner.max()
    if hi - lo < 20:
        return False
    thresh = 0.5 * (lo + hi)
    if np.mean(cells[border] < thresh) < 0.95:
        return False
    bits = (inner > thresh).astype(np.uint8)
    return int(dictionary.getDistanceToId(bits, tag_id, False)) <= 2


def _median_side(corners: NDArray[np.float64]) -> float:
    return float(np.median(np.linalg.norm(np.diff(corners, axis=1, append=corners[:, :1]), axis=2)))


def refine_tag_corners(gray: NDArray[np.uint8], corners_px: NDArray[np.float64], tag_side_px: float,
                       border_fraction: float = 0.2) -> NDArray:  # fmt: skip
    """Sub-pixel refinement of tag corners (L-shaped: black square against white surround).

    The window scales with the black border (``border_fraction`` of the tag side: 2 of 10 cells
    on Kalibr grids, 1 of 6 on 4x4 ArUco, 1 of 8 on tag36h11) so it never reaches the data bits;
    a corner that moves further than the window is kept unrefined (it was a poor fit).
    """
    half = int(np.clip(round(0.6 * border_fraction * tag_side_px), 2, 8))
    pts = corners_px.astype(np.float32).reshape(-1, 1, 2).copy()
    refined = cv2.cornerSubPix(gray, pts.copy(), (half, half), (-1, -1), _SUBPIX_CRITERIA).reshape(-1, 2)
    moved = np.linalg.norm(refined - corners_px, axis=1)
    out = np.where((moved < half)[:, None], refined, corners_px)
    return out.astype(np.float64)


def refine_square_edges(gray: NDArray[np.uint8], corners_px: NDArray[np.float64], reach_px: float = 2.0,
                        samples: int = 12) -> NDArray[np.float64]:  # fmt: skip
    """Corners (4, 2) of a dark square on a light surround from its four edges.

    ``cornerSubPix`` pulls the corners of a blurred L-junction towards the inside of the
    square (a few tenths of a pixel, a percent of a 30 px marker's size and so of its
    distance). The edges are not biased: each is located where the intensity crosses half
    way between the dark and light levels along its normal (exact for any symmetric blur),
    fitted as a line over its middle 60 %, and neighbouring lines are intersected. Corners
    come back unchanged when an edge lacks contrast or the fit moves a corner by more than
    ``reach_px``.
    """
    g = gray.astype(np.float32)
    c = np.asarray(corners_px, np.float64).reshape(4, 2)
    centre = c.mean(axis=0)
    offs = np.arange(-reach_px - 1.0, reach_px + 1.0 + 1e-9, 0.25)
    lines = []
    for k in range(4):
        a, b = c[k], c[(k + 1) % 4]
        d = (b - a) / max(float(np.linalg.norm(b - a)), 1e-9)
        n = np.array([-d[1], d[0]])
        if np.dot(0.5 * (a + b) - centre, n) < 0:
            n = -n  # outwards
        base = a + np.linspace(0.2, 0.8, samples)[:, None] * (b - a)
        pts = (base[:, None, :] + offs[None, :, None] * n).astype(np.float32)
        prof = cv2.remap(g, pts[..., 0], pts[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        lo, hi = prof[:, :3].mean(axis=1), prof[:, -3:].mean(axis=1)
        ok = hi - lo > 20.0
        mid = 0.5 * (lo + hi)
        above = prof >= mid[:, None]
        j = np.argmax(above, axis=1)  # first sample past half way, from the inside out
        ok &= (j > 0) & above[np.arange(samples), j]
        j = np.clip(j, 1, len(offs) - 1)
        p0, p1 = prof[np.arange(samples), j - 1], prof[np.arange(samples), j]
        frac = np.clip((mid - p0) / np.maximum(p1 - p0, 1e-6), 0.0, 1.0)
        off = offs[j - 1] + 0.25 * frac
        if ok.sum() < max(4, samples // 2):
            return c
        edge = base[ok] + off[ok, None] * n
        m = edge.mean(axis=0)
        direction = np.linalg.svd(edge - m)[2][0]
        lines.append((m, direction))
    out = np.empty_like(c)
    for k in range(4):
        (m0, d0), (m1, d1) = lines[(k - 1) % 4], lines[k]
        A = np.stack([d0, -d1], axis=1)
        if abs(np.linalg.det(A)) < 1e-6:
            return c
        s0 = np.linalg.solve(A, m1 - m0)[0]
        out[k] = m0 + s0 * d0
    if np.max(np.linalg.norm(out - c, axis=1)) > reach_px:
        return c
    return out


@dataclass(frozen=True, eq=False)
class TagMap:
    """Single square markers at known poses: a workspace of table tags (the virtual rig's) or any
    non-planar rig of markers. ``tags``: id -> T_frame_tag (4, 4), OpenCV marker convention (origin
    at the centre, x right, y up in the marker image, z out of the face). ``size_m``: black square.
    Point id ``4 * tag_id + k``, k in ArUco corner order (top-left, top-right, bottom-right, bottom-left).
    """

    tags: Mapping[int, NDArray[np.float64]]
    size_m: float
    dictionary: str = "DICT_APRILTAG_36h11"
    kind: str = "tagmap"

    def _corners(self, tag_id: int) -> NDArray[np.float64]:
        h = self.size_m / 2
        local = np.array([[-h, h, 0], [h, h, 0], [h, -h, 0], [-h, -h, 0]])
        T = np.asarray(self.tags[tag_id])
        return local @ T[:3, :3].T + T[:3, 3]

    def points(self) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        ids = sorted(self.tags)
        return (np.array([4 * i + k for i in ids for k in range(4)], np.int64),
                np.concatenate([self._corners(i) for i in ids]) if ids else np.zeros((0, 3)))  # fmt: skip

    def min_points(self) -> int:
        return 4

    def detect(self, image: NDArray[Any], refine: bool = True) -> Detection | None:
        gray = _gray(image)
        params = cv2.aruco.DetectorParameters()
        det = cv2.aruco.ArucoDetector(_aruco_dict(self.dictionary), params)
        corners, ids, _ = det.detectMarkers(gray)
        if ids is None:
            return None
        keep = [i for i, t in enumerate(ids.ravel()) if int(t) in self.tags]
        _, first = np.unique(ids.ravel()[keep], return_index=True)
        keep = [keep[i] for i in first]
        if not keep:
            return None
        c = np.stack([corners[i].reshape(4, 2) for i in keep]).astype(np.float64)
        px = c.reshape(-1, 2)
        if refine:
            px = refine_tag_corners(gray, px, _median_side(c), border_fraction=_border_fraction(self.dictionary))
        tag_ids = ids.ravel()[keep].astype(np.int64)
        pts = np.concatenate([self._corners(int(t)) for t in tag_ids])
        h, w = gray.shape
        return Detection((4 * tag_ids[:, None] + np.arange(4)).ravel(), px, pts, (w, h))

    def render(self, px_per_m: float, margin_m: float = 0.01) -> NDArray[np.uint8]:
        raise CalibrationError("a tag map is not printable as one sheet; print its tags one by one")

    def to_dict(self) -> dict[str, Any]:
        return {"target_type": "tagmap", "dictionary": self.dictionary, "tagSize": self.size_m,
                "tags": {str(k): np.asarray(v).tolist() for k, v in sorted(self.tags.items())}}  # fmt: skip


def _border_fraction(dictionary: str) -> float:
    """Share of a 1-bit-border marker's side that is border: 1 / (bits across + 2)."""
    m = re.search(r"(\d+)X\d+|36h11|25h9|16h5", dictionary)
    bits = {"36h11": 6, "25h9": 5, "16h5": 4}.get(m.group(0), 0) if m else 0
    if m and not bits:
        bits = int(m.group(1))
    return 1.0 / ((bits or 6) + 2)


_FAMILY_DICT = {"tag36h11": "DICT_APRILTAG_36h11", "tag25h9": "DICT_APRILTAG_25h9", "tag16h5": "DICT_APRILTAG_16h5"}


def target_from_dict(d: Mapping[str, Any], source: str = "<target>") -> Target:
    """A target from Kalibr-style keys (camelCase or snake_case)."""

    def get(*keys: str) -> Any:
        for k in keys:
            if k in d:
                return d[k]
        raise CalibrationError(f"target lacks {keys[0]}", source)

    kind = str(d.get("target_type", "")).strip("'\"").lower()
    if kind == "aprilgrid":
        return AprilGrid(int(get("tagRows", "tag_rows")), int(get("tagCols", "tag_cols")),
                         float(get("tagSize", "tag_size")), float(get("tagSpacing", "tag_spacing")))  # fmt: skip
    if kind in ("checkerboard", "chessboard"):
        return Chessboard(int(get("targetRows", "rows")), int(get("targetCols", "cols")),
                          float(get("rowSpacingMeters", "square", "square_m")))  # fmt: skip
    if kind == "charuco":
        return Charuco(int(get("squaresX", "squares_x")), int(get("squaresY", "squares_y")),
                       float(get("squareLength", "square_m")), float(get("markerLength", "marker_m")),
                       str(d.get("dictionary", "DICT_6X6_250")))  # fmt: skip
    if kind == "tagmap":
        tags = {int(k): np.asarray(v, np.float64) for k, v in get("tags").items()}
        dictionary = str(d.get("dictionary") or _FAMILY_DICT.get(str(d.get("tag_family", "tag36h11")), ""))
        return TagMap(tags, float(get("tagSize", "tag_size_m", "tag_size")), dictionary)
    raise CalibrationError(f"unknown target_type {kind!r}; expected aprilgrid, checkerboard, charuco or tagmap", source)


def load_target(path: str | Path) -> Target:
    """A target from a Kalibr ``target.yaml`` (a nested ``calib_target`` mapping is accepted)."""
    d = kalibr.read_kalibr_target_yaml(path)
    if "target_type" not in d and isinstance(d.get("calib_target"), Mapping):
        d = d["calib_target"]
    return target_from_dict(d, str(path))


def save_target(path: str | Path, target: Target) -> None:
    kalibr.write_kalibr_target_yaml(path, target.to_dict())


def write_printable(target: Target, path: str | Path, dpi: float = 300.0, margin_m: float = 0.01) -> Path:
    """Write the target at true scale: a PDF whose page is the target's physical size, or a
    PNG carrying its DPI (print at 100 %, no 'fit to page')."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = Path(path)
    px_per_m = dpi / 0.0254
    img = target.render(px_per_m, margin_m)
    h_in, w_in = img.shape[0] / dpi, img.shape[1] / dpi
    fig = plt.figure(figsize=(w_in, h_in), dpi=dpi)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.imshow(img, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_axis_off()
    fig.savefig(p, dpi=dpi)
    plt.close(fig)
    log.info("wrote %s (%.1f x %.1f mm)", p, w_in * 25.4, h_in * 25.4)
    return p
