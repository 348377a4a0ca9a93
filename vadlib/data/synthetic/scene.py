"""Scenes of the synthetic dataset: camera, walkways, static background, occluders, light and noise.

A scene is a ground plane seen by a raised camera (:class:`~.camera.Camera`) with a row of buildings
(or a tree line) at depth ``z_far``. Walkways are straight strips on the ground; those that reach the
far row pass through a gap in it, so walkers there come from, or vanish into, the distance. Scene kinds
(plaza, park, campus, station) differ in ground material, walkway layout, far row and props; every
scene has at least one one-directional walkway (painted arrows) and one two-directional walkway.

The background is painted once per scene, at twice the resolution, with ground textures computed in
ground coordinates (so tiles and joints shrink with distance), then reduced by area averaging. Props
(trees, lamps, benches, planters, pillars, bins) and the far row are also :class:`Occluder` s: the
renderer repaints them over moving objects that are behind them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from .camera import Camera, box_faces, ground_ellipse
from .paint import paint

KINDS = ("plaza", "park", "campus", "station")
SS = 2  # supersampling of the background
ENTRY_MARGIN = 1.2  # metres of a walkway's stretch beyond the view, so walkers enter from outside it


@dataclass(frozen=True)
class Walkway:
    """A straight walkway from ``start`` to ``end`` (ground X, Z in metres)."""

    start: tuple[float, float]
    end: tuple[float, float]
    width: float
    oneway: bool              # walkers go from start to end only
    s_in: float = 0.0         # the stretch [s_in, s_out] (m from start) that walkers walk: where they
    s_out: float = 0.0        # are in view, plus a margin out of view where the view's edge is crossed

    @property
    def length(self) -> float:
        return float(np.hypot(self.end[0] - self.start[0], self.end[1] - self.start[1]))

    @property
    def direction(self) -> np.ndarray:
        d = np.subtract(self.end, self.start)
        return d / np.hypot(*d)

    @property
    def normal(self) -> np.ndarray:
        d = self.direction
        return np.array([-d[1], d[0]])

    def point(self, s: float, lateral: float = 0.0) -> np.ndarray:
        """Ground point ``s`` metres along the walkway and ``lateral`` metres to its left."""
        return np.asarray(self.start, dtype=np.float64) + s * self.direction + lateral * self.normal

    @property
    def lateral_extent(self) -> float:
        """How much of the view's width the visible stretch spans, in metres along X (for choosing)."""
        return abs(float(self.point(self.s_out)[0] - self.point(self.s_in)[0]))


@dataclass(frozen=True)
class Occluder:
    """Static pixels of the background that hide moving objects farther than ``depth``."""

    depth: float
    mask: np.ndarray           # bool [H, W]
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)


@dataclass(frozen=True)
class Light:
    gain: float                        # global brightness
    tint: tuple[float, float, float]   # RGB multipliers
    flicker: float                     # amplitude of slow brightness drift (fraction)
    period: float                      # its period (s)
    shadow_dir: tuple[float, float]    # ground direction of cast shadows
    shadow_len: float                  # shadow length per metre of height (0: overcast blob)
    shadow_dark: float                 # multiplier of shadowed pixels
    noise: float                       # sensor noise standard deviation (grey levels)
    blur: float                        # optical blur (Gaussian sigma, px; 0: none)


@dataclass(frozen=True)
class Scene:
    index: int
    kind: str
    camera: Camera
    walkways: tuple[Walkway, ...]
    z_near: float          # ground depth at the bottom row
    z_far: float           # depth of the far row of buildings / trees
    background: np.ndarray  # uint8 [H, W, 3], RGB, unlit
    occluders: tuple[Occluder, ...]
    light: Light

    def depth_at(self, t: float) -> float:
        """Ground depth at the fraction ``t`` of the way from the bottom row (0) to the far row (1)."""
        cam = self.camera
        y_far = cam.horizon + cam.focal * cam.elevation / self.z_far
        return float(cam.depth_at_row(cam.height - t * (cam.height - y_far)))


# ------------------------------------------------------------------------------------------ layout

def _layout(kind: str, rng: np.random.Generator, cam: Camera, z_near: float, z_far: float,
            z_back: float) -> list[Walkway]:
    y_far = cam.horizon + cam.focal * cam.elevation / z_far

    def gz(t: float) -> float:
        return float(cam.depth_at_row(cam.height - t * (cam.height - y_far)))

    def lateral(t: tuple, width: tuple, oneway: bool) -> Walkway:
        t0 = rng.uniform(*t)
        z0, z1 = gz(t0), gz(float(np.clip(t0 + rng.uniform(-0.08, 0.08), 0.05, 0.9)))
        hw = cam.half_width(max(z0, z1)) * 1.3 + 4
        return _orient(Walkway((-hw, z0), (hw, z1), rng.uniform(*width), oneway), rng)

    def depth(r0: tuple, r1: tuple, width: tuple, oneway: bool) -> Walkway:
        za, zb = z_near * 0.6, z_far
        xa = rng.uniform(*r0) * cam.half_width(z_near)
        xb = rng.uniform(*r1) * cam.half_width(z_far)
        # extend the line to just before the backdrop
        k = (z_back * 0.97 - za) / (zb - za)
        return _orient(Walkway((xa, za), (xa + k * (xb - xa), za + k * (zb - za)), rng.uniform(*width),
                               oneway), rng)

    if kind == "plaza":
        return [lateral((0.3, 0.5), (3.0, 4.2), False),
                depth((-0.9, -0.4), (-0.35, 0.05), (2.5, 3.5), False),
                depth((0.45, 0.85), (0.3, 0.6), (2.0, 2.6), True)]
    if kind == "park":
        return [lateral((0.1, 0.22), (2.5, 3.2), False),
                lateral((0.55, 0.72), (2.0, 2.6), True),
                depth((-0.6, 0.6), (-0.45, 0.45), (2.2, 3.0), False)]
    if kind == "campus":
        return [depth((-0.25, 0.25), (-0.15, 0.15), (3.5, 4.8), False),
                lateral((0.3, 0.5), (2.5, 3.2), True),
                lateral((0.72, 0.82), (2.0, 2.5), False)]
    # station: two one-way lanes side by side (in and out) and a two-way crossing path
    w = rng.uniform(2.0, 2.5)
    centre = rng.uniform(-0.3, 0.3)
    lane = depth((centre, centre), (0.0, 0.0), (w, w), True)
    off = (w + 0.6) / 2 * lane.normal
    a = Walkway(tuple(np.add(lane.start, off)), tuple(np.add(lane.end, off)), w, True)
    b = Walkway(tuple(np.subtract(lane.end, off)), tuple(np.subtract(lane.start, off)), w, True)
    return [a, b, lateral((0.45, 0.65), (3.0, 4.0), False)]


def _orient(w: Walkway, rng: np.random.Generator) -> Walkway:
    """One-way walkways go either way along their line."""
    if w.oneway and rng.random() < 0.5:
        return Walkway(w.end, w.start, w.width, True)
    return w


def _visible_stretch(w: Walkway, cam: Camera) -> Walkway:
    s = np.arange(0.0, w.length, 0.2)
    pts = np.asarray(w.start) + s[:, None] * w.direction
    foot = cam.project(np.stack([pts[:, 0], np.zeros(len(s)), pts[:, 1]], axis=1))
    h = 1.75 * cam.scale(pts[:, 1])
    half = 0.25 * h  # half the width of a person
    ok = ((foot[:, 0] > -half) & (foot[:, 0] < cam.width + half) & (foot[:, 1] - h < cam.height)
          & (foot[:, 1] > 0) & (pts[:, 1] > 0.5))
    if not ok.any():
        raise RuntimeError("a walkway of the synthetic scene is out of view")
    first, last = float(s[ok].min()), float(s[ok].max())
    return Walkway(w.start, w.end, w.width, w.oneway, max(0.0, first - ENTRY_MARGIN),
                   min(w.length, last + ENTRY_MARGIN))


# --------------------------------------------------------------------------------------- painting

def _value_noise(rng: np.random.Generator, X: np.ndarray, Z: np.ndarray, cell: float) -> np.ndarray:
    """Smooth noise in ground coordinates (about unit variance), sampled at ``X, Z``."""
    n = int(np.ceil(240 / cell)) + 2
    grid = rng.standard_normal((n, n)).astype(np.float32)
    mx = ((X + 120) / cell).astype(np.float32)
    mz = (np.clip(Z, 0, 239) / cell).astype(np.float32)
    return cv2.remap(grid, mx, mz, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _lines(coord: np.ndarray, period: float, width: float, footprint: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage (0..1) of lines of ``width`` every ``period`` along ``coord`` (metres)."""
    d = np.abs((coord / period + 0.5) % 1.0 - 0.5) * period
    return np.clip((width / 2 - d) / np.maximum(footprint, 1e-6) + 0.5, 0, 1)


def _cell_jitter(i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """A pseudo-random value in [-1, 1) per integer cell (tile colour variation)."""
    return (np.modf(np.abs(np.sin(i * 12.9898 + j * 78.233) * 43758.5453))[0] * 2 - 1).astype(np.float32)


def _mix(img: np.ndarray, where: np.ndarray, color, alpha: np.ndarray | float = 1.0) -> None:
    a = (np.asarray(where, dtype=np.float32) * alpha)[..., None]
    img *= 1 - a
    img += a * np.asarray(color, dtype=np.float32)


def _ground(kind: str, rng: np.random.Generator, X: np.ndarray, Z: np.ndarray, fx: np.ndarray,
            fz: np.ndarray) -> np.ndarray:
    """Ground colour (float32 RGB) of the scene kind at ground points ``X, Z``."""
    big, fine = _value_noise(rng, X, Z, 3.0), _value_noise(rng, X, Z, 0.35)
    img = np.empty(X.shape + (3,), np.float32)
    if kind == "park":
        base = np.array([78, 118, 52], np.float32) * rng.uniform(0.9, 1.1)
        img[:] = base
        img *= (1 + 0.12 * big + 0.10 * fine)[..., None]
        _mix(img, np.clip(big - 0.8, 0, 1), (125, 130, 60), 0.5)
        return img
    if kind == "station":
        img[:] = np.array([108, 107, 104], np.float32) * rng.uniform(0.9, 1.1)
        img *= (1 + 0.05 * big + 0.06 * fine)[..., None]
        _mix(img, np.clip(_value_noise(rng, X, Z, 1.2) - 1.2, 0, 1), (70, 70, 70), 0.5)
        slab = np.maximum(_lines(X, 4.0, 0.05, fx), _lines(Z, 4.0, 0.05, fz))
        _mix(img, slab, (80, 80, 80), 0.6)
        return img
    tile = 0.6 if kind == "plaza" else 1.5
    base = np.array([178, 170, 158] if kind == "plaza" else [165, 165, 160], np.float32)
    img[:] = base * rng.uniform(0.92, 1.08)
    jit = _cell_jitter(np.floor(X / tile), np.floor(Z / tile))
    img *= (1 + 0.05 * jit + 0.04 * big + 0.04 * fine)[..., None]
    joints = np.maximum(_lines(X, tile, 0.03, fx), _lines(Z, tile, 0.03, fz))
    _mix(img, joints, base * 0.65, 0.8)
    return img


def _paint_walkways(kind: str, rng: np.random.Generator, img: np.ndarray, X: np.ndarray, Z: np.ndarray,
                    fx: np.ndarray, fz: np.ndarray, walkways: list[Walkway], ground: np.ndarray) -> None:
    material = {"plaza": (150, 95, 80), "park": (150, 145, 135), "campus": (165, 90, 70),
                "station": (128, 126, 120)}[kind]
    kerb = {"plaza": (205, 200, 190), "park": (120, 115, 105), "campus": (200, 198, 190),
            "station": (225, 190, 40)}[kind]
    fine = _value_noise(rng, X, Z, 0.25)
    for w in walkways:
        rel_x, rel_z = X - w.start[0], Z - w.start[1]
        a = rel_x * w.direction[0] + rel_z * w.direction[1]
        b = rel_x * w.normal[0] + rel_z * w.normal[1]
        # footprint of a pixel across and along the walkway
        fa = np.hypot(fx * w.direction[0], fz * w.direction[1])
        fb = np.hypot(fx * w.normal[0], fz * w.normal[1])
        inside = np.clip((w.width / 2 - np.abs(b)) / np.maximum(fb, 1e-6) + 0.5, 0, 1) * ground
        col = np.asarray(material, np.float32) * (1 + 0.06 * fine)[..., None]
        a_ = inside[..., None]
        img *= 1 - a_
        img += a_ * col
        joint = _lines(a, 1.0 if kind != "park" else 8.0, 0.04, fa) * inside
        _mix(img, joint, np.asarray(material) * 0.7, 0.7)
        edge = np.clip((0.12 - np.abs(np.abs(b) - w.width / 2 + 0.08)) / np.maximum(fb, 1e-6) + 0.5, 0, 1)
        _mix(img, edge * ground, kerb, 0.9)
        if w.oneway:
            am = a % 6.0
            shaft = (am > 0.4) & (am < 1.5) & (np.abs(b) < 0.09)
            head = (am >= 1.5) & (am < 2.2) & (np.abs(b) < 0.42 * (2.2 - am) / 0.7)
            _mix(img, (shaft | head) & (ground > 0), (235, 235, 225), 0.9)


def _prop_shapes(kind: str, cam: Camera, rng: np.random.Generator, base: np.ndarray,
                 light: Light) -> tuple[list, list, float]:
    """(ground shadow polygons, primitives, height) of one prop of the scene kind at ground point ``base``."""
    x, z = base
    sc = float(cam.scale(z))
    choices = {"plaza": ("planter", "lamp", "bench", "bin"), "park": ("tree", "tree", "bench", "lamp"),
               "campus": ("tree", "lamp", "bench", "planter"), "station": ("pillar", "pillar", "bin", "lamp")}
    what = choices[kind][int(rng.integers(4))]
    sdir = np.asarray(light.shadow_dir)
    sl = max(light.shadow_len, 0.05)
    heading = rng.normal(size=2) if what in ("bin", "planter") else np.array([1.0, rng.normal(0, 0.15)])
    prims: list = []
    if what == "tree":
        h = rng.uniform(3.5, 5.0)
        r = rng.uniform(1.3, 2.0)
        green = np.array([45, 85, 40]) * rng.uniform(0.8, 1.2)
        trunk = cam.project(np.array([[x, 0, z], [x, h - r * 0.6, z]]))
        prims += [("line", trunk, 0.25 * sc, (85, 65, 45)),
                  ("circle", cam.project(np.array([x, h, z])), r * sc, tuple(int(c) for c in green)),
                  ("circle", cam.project(np.array([x - r * 0.25, h + r * 0.3, z])), r * 0.6 * sc,
                   tuple(int(c) for c in green * 1.3))]
        shadows = [ground_ellipse(cam, base + sdir * h * sl, sdir, r, r * 0.9)]
        return shadows, prims, h + r
    if what == "lamp":
        h = rng.uniform(3.5, 4.5)
        pole = cam.project(np.array([[x, 0, z], [x, h, z]]))
        prims += [("line", pole, max(1.0, 0.12 * sc), (70, 72, 75)),
                  ("circle", cam.project(np.array([x, h, z])), 0.22 * sc, (220, 220, 200))]
        return [ground_ellipse(cam, base + sdir * h * sl * 0.5, sdir, h * sl * 0.5 + 0.1, 0.1)], prims, h
    if what == "pillar":
        h = 6.0
        for poly, name in box_faces(cam, base, np.array([1.0, 0.0]), 0.6, 0.6, 0.0, h):
            prims.append(("poly", poly, (170, 168, 160) if name != "end" else (140, 138, 130)))
        return [ground_ellipse(cam, base + sdir * 2 * sl, sdir, 2 * sl + 0.4, 0.4)], prims, h
    dims = {"bench": (1.7, 0.5, 0.45, (120, 85, 55)), "bin": (0.5, 0.5, 0.9, (50, 70, 55)),
            "planter": (1.3, 1.3, 0.55, (150, 148, 140))}[what]
    length, width, h, color = dims
    for poly, name in box_faces(cam, base, heading, length, width, 0.0, h):
        prims.append(("poly", poly, tuple(int(c * {"top": 1.15, "side": 0.9, "end": 0.75}[name]) for c in color)))
    if what == "planter":
        prims.append(("circle", cam.project(np.array([x, h + 0.35, z])), 0.6 * sc, (60, 105, 50)))
        h += 0.9
    return [ground_ellipse(cam, base + sdir * h * sl * 0.5, sdir, length * 0.6 + h * sl * 0.5, width)], prims, h


def _far_row(kind: str, rng: np.random.Generator, img: np.ndarray, cam: Camera, z_far: float,
             gaps: list[tuple[float, float]], dusk: bool) -> np.ndarray:
    """Paint the row of buildings (or trees) at ``z_far`` except in ``gaps``; return its mask."""
    mask = np.zeros(img.shape[:2], np.uint8)
    hw = cam.half_width(z_far) + 8
    edges = [-hw]
    while edges[-1] < hw:
        edges.append(edges[-1] + rng.uniform(7, 16))
    blocks = []
    for x0, x1 in zip(edges[:-1], edges[1:]):
        pieces = [(x0, x1)]
        for g0, g1 in gaps:
            pieces = [q for a, b in pieces for q in ((a, min(b, g0)), (max(a, g1), b)) if q[1] - q[0] > 0.3]
        blocks += pieces
    if kind == "park":
        hedge = np.array([40, 70, 35]) * rng.uniform(0.85, 1.1)
        for x0, x1 in blocks:
            quad = cam.project(np.array([[x0, 0, z_far], [x1, 0, z_far], [x1, 1.6, z_far], [x0, 1.6, z_far]]))
            paint(img, [("poly", quad, tuple(float(c) for c in hedge))])
            paint(mask, [("poly", quad, (1,))], 1)
            for cx in np.arange(x0 + 1.5, x1 - 1.0, rng.uniform(2.5, 4.0)):
                r = rng.uniform(1.6, 2.6)
                if x1 - x0 < 2 * r:
                    continue
                cx = float(np.clip(cx, x0 + r, x1 - r))
                top = rng.uniform(4.5, 8.0)
                green = hedge * rng.uniform(0.8, 1.35)
                prims = [("line", cam.project(np.array([[cx, 0, z_far], [cx, top, z_far]])),
                          0.3 * cam.scale(z_far), (70, 55, 40)),
                         ("circle", cam.project(np.array([cx, top, z_far])), r * cam.scale(z_far),
                          tuple(float(c) for c in green))]
                paint(img, prims)
                paint(mask, prims, 1)
        return mask > 0
    for x0, x1 in blocks:
        height = rng.uniform(6, 20) if kind != "station" else rng.uniform(9, 12)
        color = np.array([[190, 180, 165], [160, 150, 140], [200, 195, 185], [150, 110, 90],
                          [120, 125, 135]][int(rng.integers(5))]) * rng.uniform(0.85, 1.1)
        quad = cam.project(np.array([[x0, 0, z_far], [x1, 0, z_far], [x1, height, z_far], [x0, height, z_far]]))
        paint(img, [("poly", quad, tuple(float(c) for c in color))])
        paint(mask, [("poly", quad, (1,))], 1)
        glass = np.array([60, 75, 95]) * rng.uniform(0.8, 1.2)
        prims = []
        shop = cam.project(np.array([[x0 + 0.3, 0.2, z_far], [x1 - 0.3, 0.2, z_far], [x1 - 0.3, 2.8, z_far],
                                     [x0 + 0.3, 2.8, z_far]]))
        prims.append(("poly", shop, tuple(float(c) for c in glass * 0.8)))
        for fl in np.arange(3.6, height - 1.5, 3.2):
            for wx in np.arange(x0 + 0.8, x1 - 1.6, 2.4):
                lit = dusk and rng.random() < 0.4
                c = (230, 200, 120) if lit else tuple(float(v) for v in glass * rng.uniform(0.85, 1.2))
                prims.append(("poly", cam.project(np.array([[wx, fl, z_far], [wx + 1.3, fl, z_far],
                                                            [wx + 1.3, fl + 1.6, z_far],
                                                            [wx, fl + 1.6, z_far]])), c))
        roof = cam.project(np.array([[x0, height, z_far], [x1, height, z_far]]))
        prims.append(("line", roof, max(1.0, 0.3 * cam.scale(z_far)), tuple(float(c) for c in color * 0.7)))
        paint(img, prims)
    return mask > 0


def _backdrop(rng: np.random.Generator, shape: tuple[int, int], cam: Camera, z_back: float,
              dusk: bool) -> np.ndarray:
    """Sky and a hazy distant skyline at ``z_back`` (float32 RGB)."""
    h, w = shape
    rows = np.arange(h, dtype=np.float32)[:, None]
    top = np.array([120, 150, 190] if not dusk else [90, 80, 110], np.float32)
    low = np.array([210, 215, 220] if not dusk else [200, 150, 110], np.float32)
    t = np.clip((rows - cam.horizon + 0.6 * h) / (0.6 * h), 0, 1)[..., None]
    img = np.broadcast_to(top * (1 - t) + low * t, (h, w, 3)).astype(np.float32).copy()
    haze = np.array([165, 170, 175] if not dusk else [120, 105, 115], np.float32)
    x = -cam.half_width(z_back) - 10
    while x < cam.half_width(z_back) + 10:
        width, height = rng.uniform(6, 20), rng.uniform(8, 35)
        quad = cam.project(np.array([[x, -2, z_back], [x + width, -2, z_back], [x + width, height, z_back],
                                     [x, height, z_back]]))
        paint(img, [("poly", quad, tuple(float(c) for c in haze * rng.uniform(0.9, 1.1)))])
        x += width
    return img


def _light(rng: np.random.Generator) -> Light:
    mood = ("sunny", "overcast", "sunny", "dusk")[int(rng.integers(4))]
    angle = rng.uniform(0, 2 * np.pi)
    if mood == "sunny":
        return Light(rng.uniform(1.0, 1.08), (1.04, 1.0, 0.94), rng.uniform(0.01, 0.03), rng.uniform(4, 9),
                     (np.cos(angle), np.sin(angle)), rng.uniform(0.5, 1.1), rng.uniform(0.55, 0.65),
                     rng.uniform(1.0, 1.8), 0.0)
    if mood == "overcast":
        return Light(rng.uniform(0.88, 0.98), (0.97, 1.0, 1.04), rng.uniform(0.01, 0.03), rng.uniform(4, 9),
                     (1.0, 0.0), 0.0, 0.78, rng.uniform(1.2, 2.2), rng.uniform(0.0, 0.5))
    return Light(rng.uniform(0.62, 0.75), (1.06, 0.95, 0.84), rng.uniform(0.02, 0.04), rng.uniform(3, 7),
                 (1.0, 0.0), 0.0, 0.8, rng.uniform(2.0, 3.0), rng.uniform(0.5, 0.8))


@lru_cache(maxsize=16)
def build_scene(seed: int, index: int, size: tuple[int, int]) -> Scene:
    """The scene ``index`` of the dataset with ``seed``, rendered at ``size`` (H, W)."""
    H, W = size
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7, index]))
    kind = KINDS[index % len(KINDS)]
    light = _light(rng)
    v_h = rng.uniform(-0.12, 0.04)
    cam = Camera(H, W, v_h * H, rng.uniform(0.8, 1.0) * H, rng.uniform(8.0, 11.0))
    y_far = rng.uniform(0.13, 0.22) * H
    z_near = float(cam.depth_at_row(H))
    z_far = float(cam.depth_at_row(y_far))
    z_back = z_far * 1.8
    walkways = [_visible_stretch(w, cam) for w in _layout(kind, rng, cam, z_near, z_far, z_back)]

    # ground coordinates of every supersampled pixel
    ss = Camera(H * SS, W * SS, cam.horizon * SS, cam.focal * SS, cam.elevation)
    rows = np.arange(H * SS, dtype=np.float64) + 0.5
    cols = np.arange(W * SS, dtype=np.float64) + 0.5
    zr = np.where(rows > ss.horizon + 1e-3, ss.depth_at_row(rows), np.inf)
    Z = np.broadcast_to(np.minimum(zr, 1e4)[:, None], (H * SS, W * SS))
    X = (cols[None, :] - ss.width / 2) * Z / ss.focal
    fx = (Z / ss.focal).astype(np.float32)
    fz = (Z ** 2 / (ss.focal * ss.elevation)).astype(np.float32)
    ground = (Z < z_back).astype(np.float32)
    dusk = light.gain < 0.8
    img = _backdrop(rng, (H * SS, W * SS), ss, z_back, dusk)
    surface = _ground(kind, rng, X.astype(np.float32), Z.astype(np.float32), fx, fz)
    _paint_walkways(kind, rng, surface, X.astype(np.float32), Z.astype(np.float32), fx, fz, walkways, ground)
    img = img * (1 - ground[..., None]) + surface * ground[..., None]

    # gaps in the far row where walkways pass through it
    gaps = []
    for w in walkways:
        d = w.direction
        if abs(d[1]) < 0.3 or max(w.start[1], w.end[1]) < z_far:
            continue
        s = (z_far - w.start[1]) / d[1]
        xc = w.start[0] + s * d[0]
        half = w.width / 2 / abs(d[1]) + 1.2
        gaps.append((xc - half, xc + half))
    wall = _far_row(kind, rng, img, ss, z_far, gaps, dusk)

    # props: off the walkways, in front of the far row
    shadow_layer = np.zeros((H * SS, W * SS), np.uint8)
    props = []
    n_props = int(rng.integers(4, 8))
    for _ in range(60):
        if len(props) >= n_props:
            break
        z = rng.uniform(z_near * 1.4, z_far * 0.92)
        x = rng.uniform(-1.0, 1.0) * cam.half_width(z) * 0.95
        p = np.array([x, z])
        if any(abs(float(np.dot(p - w.start, w.normal))) < w.width / 2 + 1.0 for w in walkways):
            continue
        if any(np.hypot(*(p - q)) < 2.5 for q, _, _ in props):
            continue
        shadows, prims, _ = _prop_shapes(kind, ss, rng, p, light)
        for poly in shadows:
            paint(shadow_layer, [("poly", poly, (1,))], 1)
        props.append((p, prims, shadows))
    dark = 1 - (1 - light.shadow_dark) * (shadow_layer > 0).astype(np.float32) * (ground > 0)
    img *= dark[..., None]
    occluders = []
    for p, prims, _ in sorted(props, key=lambda q: -q[0][1]):
        paint(img, prims)
        m = np.zeros((H * SS, W * SS), np.uint8)
        paint(m, prims, 1)
        occluders.append((float(p[1]), m))
    # vignetting, then down to the output size
    yy, xx = np.mgrid[0:H * SS, 0:W * SS].astype(np.float32)
    r2 = ((xx / (W * SS) - 0.5) ** 2 + (yy / (H * SS) - 0.5) ** 2) / 0.5
    img *= (1 - rng.uniform(0.12, 0.28) * r2)[..., None]
    background = np.clip(cv2.resize(img, (W, H), interpolation=cv2.INTER_AREA), 0, 255).round().astype(np.uint8)

    def occluder(depth: float, mask_ss: np.ndarray) -> Occluder | None:
        mask = cv2.resize(mask_ss.astype(np.float32), (W, H), interpolation=cv2.INTER_AREA) > 0.5
        ys, xs = np.nonzero(mask)
        if not len(ys):
            return None
        return Occluder(depth, mask, (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1))

    occ = [occluder(z_far, wall.astype(np.uint8))] + [occluder(d, m) for d, m in occluders]
    return Scene(index=index, kind=kind, camera=cam, walkways=tuple(walkways), z_near=z_near, z_far=z_far,
                 background=background, occluders=tuple(o for o in occ if o is not None), light=light)
