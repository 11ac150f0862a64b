"""The virtual tabletop: textured planes, AprilTags at known poses, finger textures.

Every surface is a one-sided textured rectangle; all textures live in one atlas image so
a frame is rendered with a single ``cv2.remap``. Textures are photographs from the shared
test data when it is present (read at run time, never copied into the repository), laid
over seeded procedural material (multi-scale noise, shapes, text) that also stands in
when there are no photos. Same seed and same photos, same scene.

Frames: world z up, table top at z = 0, the operator stands near x = 0 facing +x.
A plane's texture axes ``e_u`` (image right) and ``e_v`` (image down) satisfy
``e_u x e_v = -normal``, so its texture reads unmirrored from the visible side.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from democap import geometry
from devices.sim import body

log = logging.getLogger(__name__)

TAG_FAMILY = "tag36h11"
TAG_CELL_M = 0.009  # 8 cells across the black square: 72 mm tags
TAG_SIZE_M = 8 * TAG_CELL_M
TABLE_PX_PER_M = 1000.0
#: (id, x, y) of the table tags' centres (world, metres), around the task area.
TABLE_TAGS: tuple[tuple[int, float, float], ...] = (
    (0, 0.30, -0.32),
    (1, 0.30, 0.32),
    (2, 0.52, -0.40),
    (3, 0.52, 0.40),
    (4, 0.76, -0.30),
    (5, 0.76, 0.30),
    (6, 0.88, 0.0),
    (7, 0.26, 0.0),
)
TABLE_X = (0.10, 1.10)
TABLE_Y = (-0.65, 0.65)
#: A monitor standing on the far side of the table (behind tag 6), facing the operator: it shows
#: the host clock as a QR code (``democap.formats.clock_code``) for latency calibration.
SCREEN_CENTRE = (0.96, 0.0, 0.18)
SCREEN_SIZE_M = (0.30, 0.20)
SCREEN_PX_PER_M = 1200.0
FINGER_PX_PER_M = 3000.0  # 8 texels per cell of the 6-cell 16 mm finger markers
BACKGROUND_GRAY = 40


@dataclass(frozen=True, eq=False)
class TexturedPlane:
    """A one-sided textured rectangle. origin: world corner of texel (0, 0); size_m: (u, v) extent."""

    name: str
    origin: NDArray[np.float64]
    e_u: NDArray[np.float64]
    e_v: NDArray[np.float64]
    size_m: tuple[float, float]
    px_per_m: float
    texture: NDArray[np.uint8] = field(repr=False)  # (H, W, 3) RGB, shading baked in

    @property
    def normal(self) -> NDArray[np.float64]:
        return np.cross(self.e_v, self.e_u)

    @classmethod
    def facing(
        cls,
        name: str,
        centre: NDArray[np.float64],
        normal: NDArray[np.float64],
        down: NDArray[np.float64],
        size_m: tuple[float, float],
        px_per_m: float,
        texture: NDArray[np.uint8],
    ) -> TexturedPlane:
        """A rectangle centred at ``centre`` seen from the side ``normal`` points to; ``down`` is texture v."""
        n = np.asarray(normal, dtype=np.float64)
        e_v = np.asarray(down, dtype=np.float64)
        e_u = np.cross(n, e_v)
        origin = np.asarray(centre, dtype=np.float64) - e_u * size_m[0] / 2 - e_v * size_m[1] / 2
        return cls(name, origin, e_u, e_v, size_m, px_per_m, texture)


@dataclass(frozen=True, eq=False)
class PlaneSet:
    """Planes packed for vectorised ray casting: arrays (P, 3) / (P,) and atlas texel offsets (P, 2)."""

    origin: NDArray[np.float64]
    e_u: NDArray[np.float64]
    e_v: NDArray[np.float64]
    normal: NDArray[np.float64]
    size_m: NDArray[np.float64]
    px_per_m: NDArray[np.float64]
    atlas_xy: NDArray[np.float64]

    @classmethod
    def of(cls, planes: list[TexturedPlane], atlas_xy: NDArray[np.float64]) -> PlaneSet:
        return cls(
            np.array([p.origin for p in planes]),
            np.array([p.e_u for p in planes]),
            np.array([p.e_v for p in planes]),
            np.array([p.normal for p in planes]),
            np.array([p.size_m for p in planes]),
            np.array([p.px_per_m for p in planes]),
            np.asarray(atlas_xy, dtype=np.float64),
        )

    def concat(self, other: PlaneSet) -> PlaneSet:
        return PlaneSet(
            *(
                np.concatenate([getattr(self, f), getattr(other, f)])
                for f in ("origin", "e_u", "e_v", "normal", "size_m", "px_per_m", "atlas_xy")
            )
        )

    def transformed(self, T_a_b: NDArray[np.float64]) -> PlaneSet:
        """The same planes expressed in frame a (they were in frame b)."""
        R, t = T_a_b[:3, :3], T_a_b[:3, 3]
        return PlaneSet(
            self.origin @ R.T + t,
            self.e_u @ R.T,
            self.e_v @ R.T,
            self.normal @ R.T,
            self.size_m,
            self.px_per_m,
            self.atlas_xy,
        )


# --------------------------------------------------------------------- textures


def _noise(rng: np.random.Generator, h: int, w: int, octaves: int = 6) -> NDArray[np.float32]:
    """Multi-scale value noise in [0, 1], (h, w)."""
    out = np.zeros((h, w), np.float32)
    total = 0.0
    for o in range(octaves):
        cells = 2 ** (o + 1)
        gh, gw = max(2, int(cells * h / max(h, w)) + 2), max(2, int(cells * w / max(h, w)) + 2)
        amp = 0.6**o
        out += amp * cv2.resize(rng.random((gh, gw), dtype=np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
        total += amp
    out /= total
    return np.clip((out - out.mean()) * 2.5 + 0.5, 0, 1)


_WORDS = ("democap", "SLAM", "tray", "cup 3", "lab 4", "box", "grip", "bench", "wipe", "pour", "42", "A7")


def procedural_texture(rng: np.random.Generator, h: int, w: int, density: float = 1.0) -> NDArray[np.uint8]:
    """A seeded, non-repetitive RGB material: coloured multi-scale noise with shapes and text."""
    base = _noise(rng, h, w)
    c0, c1 = rng.uniform(40, 140, 3), rng.uniform(120, 235, 3)
    shade = (c0[None, None] + (c1 - c0)[None, None] * base[..., None]).astype(np.float32)
    grain = _noise(rng, h, w, octaves=8)[..., None]
    img: NDArray[np.uint8] = np.clip(shade * (0.85 + 0.3 * grain), 0, 255).astype(np.uint8)
    n_shapes = int(density * h * w / 1200)
    for _ in range(n_shapes):
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        s = int(rng.integers(3, max(4, min(h, w) // (8 if rng.random() < 0.1 else 30))))  # mostly small
        kind = rng.integers(0, 5)
        if kind == 0:
            cv2.circle(img, (x, y), s, colour, -1 if rng.random() < 0.6 else 2, cv2.LINE_AA)
        elif kind == 1:
            cv2.rectangle(img, (x, y), (x + s, y + int(rng.integers(3, s + 4))), colour, -1)
        elif kind == 2:
            cv2.line(
                img,
                (x, y),
                (x + int(rng.integers(-3 * s, 3 * s)), y + int(rng.integers(-3 * s, 3 * s))),
                colour,
                int(rng.integers(1, 4)),
                cv2.LINE_AA,
            )
        elif kind == 3:
            pts = (np.array([x, y]) + rng.integers(-s, s + 1, (int(rng.integers(3, 7)), 2))).astype(np.int32)
            cv2.fillPoly(img, [pts], colour, cv2.LINE_AA)
        else:
            cv2.putText(
                img,
                str(rng.choice(_WORDS)),
                (x, y),
                cv2.FONT_HERSHEY_SIMPLEX,
                float(rng.uniform(0.3, 1.2)),
                colour,
                int(rng.integers(1, 3)),
                cv2.LINE_AA,
            )
    return img


@functools.lru_cache(maxsize=4)
def load_photos(root: Path) -> tuple[NDArray[np.uint8], ...]:
    """Real photographs (RGB) from the shared data folder, in a fixed order; () when none.

    EuRoC room views, two chessboard webcam photos and GoPro frames: none shows a
    tag36h11 or ArUco marker, so the table tags and finger markers are the only fiducials.
    """
    files = sorted((root / "euroc_v1_01_easy_micro" / "mav0" / "cam0" / "data").glob("*.png"))[::8]
    # Two chessboard photos only: their regular squares make poor, repetitive SLAM texture.
    files += sorted((root / "opencv_chessboard_stereo").glob("left*.jpg"))[1:9:6]
    photos = []
    for f in files:
        img = cv2.imread(str(f), cv2.IMREAD_COLOR)
        if img is not None:
            photos.append(np.ascontiguousarray(img[..., ::-1]))
    video = root / "gopro_gpmf_karma" / "karma.mp4"
    if video.is_file():
        try:
            import av

            with av.open(str(video)) as container:
                for i, frame in enumerate(container.decode(video=0)):
                    if i % 40 == 0:
                        photos.append(frame.to_ndarray(format="rgb24"))
                    if i >= 160:
                        break
        except Exception as e:  # a broken or unsupported video only costs us some texture variety
            log.warning("could not decode %s for textures: %s", video, e)
    log.debug("loaded %d texture photos from %s", len(photos), root)
    return tuple(photos)


def default_texture_root() -> Path | None:
    """The shared data folder from ``DEMOCAP_TEST_DATA`` when set and present."""
    env = os.environ.get("DEMOCAP_TEST_DATA")
    return Path(env) if env and Path(env).is_dir() else None


def _paste_photos(
    rng: np.random.Generator,
    img: NDArray[np.uint8],
    photos: tuple[NDArray[np.uint8], ...],
    count: int,
    scale: tuple[float, float],
) -> None:
    """Lay photo prints at random places, sizes and quarter turns (in place)."""
    h, w = img.shape[:2]
    for _ in range(count):
        p = photos[int(rng.integers(0, len(photos)))]
        ph, pw = p.shape[:2]
        ch, cw = int(ph * rng.uniform(0.5, 1.0)), int(pw * rng.uniform(0.5, 1.0))
        y0, x0 = int(rng.integers(0, ph - ch + 1)), int(rng.integers(0, pw - cw + 1))
        crop = np.rot90(p[y0 : y0 + ch, x0 : x0 + cw], int(rng.integers(0, 4)))
        s = rng.uniform(*scale) * min(h, w) / max(crop.shape[:2])
        tw, th = max(8, int(crop.shape[1] * s)), max(8, int(crop.shape[0] * s))
        if tw >= w - 4 or th >= h - 4:
            continue
        crop = cv2.resize(np.ascontiguousarray(crop), (tw, th), interpolation=cv2.INTER_AREA)
        x, y = int(rng.integers(0, w - tw)), int(rng.integers(0, h - th))
        b = 3
        img[max(0, y - b) : y + th + b, max(0, x - b) : x + tw + b] = 245  # white print border
        img[y : y + th, x : x + tw] = crop


def _material(
    rng: np.random.Generator,
    h: int,
    w: int,
    photos: tuple[NDArray[np.uint8], ...],
    n_photos: int,
    photo_scale: tuple[float, float] = (0.2, 0.45),
    density: float = 1.0,
) -> NDArray[np.uint8]:
    img = procedural_texture(rng, h, w, density)
    if photos and n_photos:
        _paste_photos(rng, img, photos, n_photos, photo_scale)
    return img


def _shade(img: NDArray[np.uint8], normal: NDArray[np.float64]) -> NDArray[np.uint8]:
    """Bake Lambertian shading from a light above, behind the operator (planes are flat: one factor)."""
    light = np.array([0.35, 0.25, 1.0])
    light /= np.linalg.norm(light)
    k = 0.45 + 0.55 * max(0.0, float(np.asarray(normal) @ light))
    return np.clip(img.astype(np.float32) * k, 0, 255).astype(np.uint8)


def _tag_image(tag_id: int, cell_px: int) -> NDArray[np.uint8]:
    d = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_APRILTAG_36h11)
    return cv2.aruco.generateImageMarker(d, tag_id, 8 * cell_px)


def finger_texture(marker_id: int, rng: np.random.Generator) -> NDArray[np.uint8]:
    """A finger face: dark plastic with a DICT_4X4_50 marker near the tip (v = 0 at the tip)."""
    h = int(round(body.FINGER_LENGTH_M * FINGER_PX_PER_M))
    w = int(round(body.FINGER_WIDTH_M * FINGER_PX_PER_M))
    n = _noise(rng, h, w, octaves=5)[..., None]
    img = np.clip(np.array([55.0, 60.0, 70.0]) * (0.7 + 0.6 * n), 0, 255).astype(np.uint8)
    m = int(round(body.FINGER_MARKER_SIZE_M * FINGER_PX_PER_M))
    y0 = int(round(body.FINGER_MARKER_FROM_TIP_M * FINGER_PX_PER_M))
    x0 = (w - m) // 2
    d = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50)
    marker = cv2.aruco.generateImageMarker(d, marker_id, m)
    img[max(0, y0 - 8) : y0 + m + 8, max(0, x0 - 8) : x0 + m + 8] = 235
    img[y0 : y0 + m, x0 : x0 + m] = marker[..., None]
    return img


def _pack(textures: list[NDArray[np.uint8]], width: int = 2048) -> tuple[NDArray[np.uint8], NDArray[np.float64]]:
    """Shelf-pack RGB textures into one atlas; returns (atlas (H, W, 3), offsets (n, 2) x, y).

    A 2-texel gutter of background between textures keeps bilinear lookups at plane edges clean.
    """
    gutter = 2
    order = sorted(range(len(textures)), key=lambda i: -textures[i].shape[0])
    offsets = np.zeros((len(textures), 2))
    x = y = shelf = 0
    for i in order:
        h, w = textures[i].shape[:2]
        if x + w + gutter > width:
            x, y, shelf = 0, y + shelf + gutter, 0
        offsets[i] = (x + gutter, y + gutter)
        x += w + gutter
        shelf = max(shelf, h)
    height = int(y + shelf + 2 * gutter)
    atlas = np.full((height, width, 3), BACKGROUND_GRAY, np.uint8)
    for i, tex in enumerate(textures):
        ox, oy = int(offsets[i, 0]), int(offsets[i, 1])
        atlas[oy : oy + tex.shape[0], ox : ox + tex.shape[1]] = tex
    return atlas, offsets


def _tag_texel_origin(x: float, y: float) -> tuple[int, int]:
    """Top-left texel (u0, v0) of the black square of a table tag centred near (x, y)."""
    cell = int(round(TAG_CELL_M * TABLE_PX_PER_M))
    return (
        int(round((x - TABLE_X[0]) * TABLE_PX_PER_M)) - 4 * cell,
        int(round((TABLE_Y[1] - y) * TABLE_PX_PER_M)) - 4 * cell,
    )


def table_tag_poses() -> dict[int, NDArray[np.float64]]:
    """T_world_tag (4, 4) of every table tag, exactly as drawn (no scene needed)."""
    cell = int(round(TAG_CELL_M * TABLE_PX_PER_M))
    poses = {}
    for tag_id, x, y in TABLE_TAGS:
        u0, v0 = _tag_texel_origin(x, y)
        centre = np.array(
            [TABLE_X[0] + (u0 + 4 * cell) / TABLE_PX_PER_M, TABLE_Y[1] - (v0 + 4 * cell) / TABLE_PX_PER_M, 0.0]
        )
        poses[tag_id] = geometry.se3(np.eye(3), centre)
    return poses


class Scene:
    """Static world planes, camera-attached finger planes (in cam0) and the atlas they share.

    ``tags``: T_world_tag (4, 4) per tag id, OpenCV marker convention (origin at the tag
    centre, x right, y up in the tag image, z out of the table); ``tag_size_m`` is the edge
    of the black square.
    """

    def __init__(
        self,
        planes: list[TexturedPlane],
        fingers: list[NDArray[np.uint8]],
        tags: dict[int, NDArray[np.float64]],
        tag_size_m: float,
        seed: int,
        photos_used: int,
    ) -> None:
        atlas, offsets = _pack([p.texture for p in planes] + fingers + [np.full((4, 4, 3), BACKGROUND_GRAY, np.uint8)])
        #: Atlas rectangle (x, y, w, h) in texels of the screen plane, when the scene has one.
        self.screen_rect: tuple[int, int, int, int] | None = None
        for i, p in enumerate(planes):
            if p.name == "screen":
                h, w = p.texture.shape[:2]
                self.screen_rect = (int(offsets[i, 0]), int(offsets[i, 1]), w, h)
        self.planes = tuple(planes)
        self.atlas_rgb = atlas
        self.atlas_gray = cv2.cvtColor(atlas, cv2.COLOR_RGB2GRAY)
        self.world = PlaneSet.of(planes, offsets[: len(planes)])
        self.finger_atlas_xy = offsets[len(planes) : len(planes) + len(fingers)]
        self.background_xy = offsets[-1] + 1.5
        self.tags = tags
        self.tag_size_m = tag_size_m
        self.seed = seed
        self.photos_used = photos_used

    def fingers_cam0(self, width_m: float) -> PlaneSet:
        """The two finger faces in cam0 at gripper opening width_m."""
        faces = body.finger_faces(width_m)
        return PlaneSet(
            np.array([f.origin_cam for f in faces]),
            np.array([f.e_u for f in faces]),
            np.array([f.e_v for f in faces]),
            np.array([np.cross(f.e_v, f.e_u) for f in faces]),
            np.array([f.size_m for f in faces]),
            np.full(2, FINGER_PX_PER_M),
            self.finger_atlas_xy,
        )

    @classmethod
    def tabletop(
        cls, seed: int = 0, texture_root: Path | str | None = None, photos: bool = True, screen: bool = False
    ) -> Scene:
        """A table with tags, a few boxes, floor and walls around it.

        ``texture_root``: the shared data folder to take photographs from (default: the
        ``DEMOCAP_TEST_DATA`` folder if set); ``photos=False`` or no folder gives purely
        procedural textures. ``screen``: add the clock monitor (``SCREEN_*``); renderers
        draw its content per frame.
        """
        rng = np.random.default_rng([seed, 7003])
        root = Path(texture_root) if texture_root is not None else default_texture_root()
        pics = load_photos(root.resolve()) if (photos and root is not None and root.is_dir()) else ()
        up, down_z = np.array([0.0, 0.0, 1.0]), np.array([0.0, 0.0, -1.0])
        planes: list[TexturedPlane] = []

        # Table: photo prints and clutter on a procedural top, then the tags on white margins.
        tw, th = TABLE_X[1] - TABLE_X[0], TABLE_Y[1] - TABLE_Y[0]
        tex = _material(
            rng, int(round(th * TABLE_PX_PER_M)), int(round(tw * TABLE_PX_PER_M)), pics, 14, (0.12, 0.3), density=1.5
        )
        # Texture u runs along +x and v along -y; texel (0, 0) sits at (x0, y1).
        cell = int(round(TAG_CELL_M * TABLE_PX_PER_M))
        for tag_id, x, y in TABLE_TAGS:
            u0, v0 = _tag_texel_origin(x, y)
            tex[v0 - 2 * cell : v0 + 10 * cell, u0 - 2 * cell : u0 + 10 * cell] = 240
            tex[v0 : v0 + 8 * cell, u0 : u0 + 8 * cell] = _tag_image(tag_id, cell)[..., None]
        tags = table_tag_poses()
        planes.append(
            TexturedPlane.facing(
                "table",
                np.array([sum(TABLE_X) / 2, sum(TABLE_Y) / 2, 0.0]),
                up,
                np.array([0.0, -1.0, 0.0]),
                (tw, th),
                TABLE_PX_PER_M,
                _shade(tex, up),
            )
        )
        # Table edge facing the operator, floor and three walls: context for wide lenses.
        front_n = np.array([-1.0, 0.0, 0.0])
        edge_tex = _shade(_material(rng, 40, int(th * 500), (), 0), front_n)
        planes.append(
            TexturedPlane.facing(
                "table_front", np.array([TABLE_X[0], 0.0, -0.04]), front_n, down_z, (th, 0.08), 500.0, edge_tex
            )
        )
        floor_size, floor_ppm = 4.0, 200.0
        planes.append(
            TexturedPlane.facing(
                "floor",
                np.array([0.6, 0.0, -0.75]),
                up,
                np.array([-1.0, 0.0, 0.0]),
                (floor_size, floor_size),
                floor_ppm,
                _shade(_material(rng, 800, 800, pics, 6, (0.2, 0.4)), up),
            )
        )
        wall_ppm = 320.0
        for name, centre, n, size in (
            ("wall_back", [1.6, 0.0, 0.3], [-1.0, 0.0, 0.0], (3.2, 2.1)),
            ("wall_left", [0.6, 1.4, 0.3], [0.0, -1.0, 0.0], (3.2, 2.1)),
            ("wall_right", [0.6, -1.4, 0.3], [0.0, 1.0, 0.0], (3.2, 2.1)),
        ):
            tex = _material(rng, int(size[1] * wall_ppm), int(size[0] * wall_ppm), pics, 8, (0.25, 0.5), 0.6)
            tex = cv2.GaussianBlur(tex, (0, 0), 0.8)  # far away: pre-filter against aliasing
            planes.append(
                TexturedPlane.facing(
                    name,
                    np.array(centre, float),
                    np.array(n, float),
                    down_z,
                    size,
                    wall_ppm,
                    _shade(tex, np.array(n, float)),
                )
            )
        # Boxes on the table, clear of the tags and of the task area.
        for bi, (cx, cy) in enumerate(((0.98, -0.42), (0.98, 0.42), (0.22, 0.52), (0.22, -0.52))):
            sx, sy, sz = rng.uniform(0.08, 0.16), rng.uniform(0.08, 0.16), rng.uniform(0.05, 0.14)
            box_ppm = 800.0
            faces = [("top", [cx, cy, sz], up, np.array([0.0, -1.0, 0.0]), (sx, sy))]
            for n, size in (
                ([1.0, 0, 0], (sy, sz)),
                ([-1.0, 0, 0], (sy, sz)),
                ([0, 1.0, 0], (sx, sz)),
                ([0, -1.0, 0], (sx, sz)),
            ):
                nn = np.array(n)
                centre = np.array([cx, cy, sz / 2]) + nn * np.array([sx / 2, sy / 2, 0.0])
                faces.append((f"side{int(np.argmax(np.abs(nn)))}{int(np.sign(nn.sum()))}", centre, nn, down_z, size))
            for fname, centre, nn, dv, size in faces:
                h, w = max(8, int(size[1] * box_ppm)), max(8, int(size[0] * box_ppm))
                tex = _material(rng, h, w, pics, 1, (0.5, 0.9), 2.0)
                planes.append(
                    TexturedPlane.facing(
                        f"box{bi}_{fname}", np.asarray(centre, float), nn, dv, size, box_ppm, _shade(tex, nn)
                    )
                )
        if screen:
            sw, sh = SCREEN_SIZE_M
            blank = np.full((int(round(sh * SCREEN_PX_PER_M)), int(round(sw * SCREEN_PX_PER_M)), 3), 255, np.uint8)
            planes.append(
                TexturedPlane.facing(
                    "screen", np.array(SCREEN_CENTRE), np.array([-1.0, 0.0, 0.0]), down_z, SCREEN_SIZE_M,
                    SCREEN_PX_PER_M, blank,
                )
            )  # fmt: skip
        fingers = [finger_texture(mid, rng) for mid in body.FINGER_MARKER_IDS]
        return cls(planes, fingers, tags, TAG_SIZE_M, seed, len(pics))
