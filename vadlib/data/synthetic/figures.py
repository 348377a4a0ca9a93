"""Moving objects of the synthetic scenes as drawing primitives: articulated people, bicycles, cars, bags.

A person is a 2-D skeleton in its sagittal plane (forward ``f``, up ``u``) with limbs offset sideways
(``l``), posed by a gait (walk, run, stand, fight, stoop) at a gait phase, optionally rotated about the
feet by a fall angle, placed in the world at a ground point with a heading and projected through the
scene's camera. Limb widths follow the camera's scale at the figure's depth, so figures shrink with
distance; the limbs on the far side are drawn first and darker.

Every function returns compiled primitives (:func:`.paint.compile_prims`), ready to draw into the
frame and into the label image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .camera import Camera, box_faces, ground_ellipse, ground_frame
from .paint import ONE, compile_prims, fixed

SHIRTS = [(40, 52, 80), (150, 30, 35), (225, 225, 220), (30, 30, 32), (60, 110, 60), (200, 160, 40),
          (90, 90, 95), (120, 60, 130), (40, 100, 160), (210, 110, 50), (170, 170, 175), (100, 70, 50),
          (20, 60, 110), (230, 190, 190)]
PANTS = [(35, 45, 75), (30, 30, 32), (60, 60, 65), (95, 85, 70), (140, 130, 110), (45, 60, 95),
         (70, 50, 40)]
SKIN = [(240, 200, 170), (220, 175, 140), (190, 140, 105), (150, 105, 75), (105, 70, 50)]
HAIR = [(25, 20, 18), (60, 40, 25), (110, 75, 40), (200, 170, 110), (140, 140, 140)]
SHOES = [(20, 20, 20), (60, 45, 35), (200, 200, 200), (40, 40, 60)]
BAGS = [(25, 25, 30), (90, 55, 30), (40, 50, 90), (120, 30, 30), (70, 75, 55)]
CARS = [(200, 200, 205), (25, 25, 28), (150, 20, 25), (40, 70, 140), (120, 125, 130), (230, 230, 235),
        (60, 90, 60), (210, 170, 40)]
BIKES = [(30, 30, 30), (180, 30, 30), (30, 80, 160), (220, 220, 220), (40, 120, 60)]


@dataclass(frozen=True)
class Look:
    """Clothing, colours and size of one person."""

    shirt: tuple[int, int, int]
    pants: tuple[int, int, int]
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    shoes: tuple[int, int, int]
    height: float           # metres
    bulk: float             # width factor
    short_sleeves: bool

    @cached_property
    def near(self) -> dict[str, tuple[int, int, int]]:
        return {"shirt": self.shirt, "pants": self.pants, "skin": self.skin, "shoes": self.shoes}

    @cached_property
    def far(self) -> dict[str, tuple[int, int, int]]:
        """Colours of the limbs on the far side of the body (in shadow)."""
        return {name: shade(color, 0.78) for name, color in self.near.items()}


def _pick(rng: np.random.Generator, palette: list) -> tuple[int, int, int]:
    base = np.array(palette[int(rng.integers(len(palette)))], dtype=np.float64)
    return tuple(int(v) for v in np.clip(base * rng.uniform(0.85, 1.15) + rng.normal(0, 6, 3), 0, 255))


def random_look(rng: np.random.Generator) -> Look:
    return Look(shirt=_pick(rng, SHIRTS), pants=_pick(rng, PANTS), skin=_pick(rng, SKIN),
                hair=_pick(rng, HAIR), shoes=_pick(rng, SHOES),
                height=float(np.clip(rng.normal(1.72, 0.08), 1.5, 1.95)),
                bulk=float(rng.uniform(0.9, 1.15)), short_sleeves=bool(rng.random() < 0.35))


def random_color(rng: np.random.Generator, palette: list) -> tuple[int, int, int]:
    return _pick(rng, palette)


def shade(color: tuple[int, int, int], k: float) -> tuple[int, int, int]:
    return tuple(int(min(255, max(0, c * k))) for c in color)


# --------------------------------------------------------------------------------------------- people

def _gait(gait: str, phase: float, side: int, amount: float) -> tuple[float, float, float, float, float]:
    """(thigh angle, knee flex, arm swing, elbow flex, torso lean) of one side (+1 left, -1 right).

    Angles are radians from the vertical, positive forward; the knee flexes backward, the elbow forward.
    """
    ps = phase + (0.0 if side > 0 else math.pi)
    sp, cp = math.sin(ps), math.cos(ps)
    if gait == "walk":
        return 0.40 * sp, 0.06 + 0.7 * max(0.0, cp) ** 2, -0.32 * sp, 0.15 + 0.3 * max(0.0, -sp), 0.04
    if gait == "run":
        return 0.15 + 0.72 * sp, 0.35 + 1.45 * max(0.0, cp) ** 1.5, -0.8 * sp, 1.45, 0.24
    if gait == "fight":  # guard stance; each arm punches in turn, ``phase`` is the punch cycle
        p = max(0.0, sp) ** 2
        return (0.3 * side, 0.25 if side > 0 else 0.1, 1.0 + 0.57 * p, 1.8 * (1 - p) + 0.05,
                0.12 + 0.15 * math.sin(phase) ** 2)
    if gait == "stoop":  # bending down to put something on the ground; ``amount`` in 0..1
        return 0.05 * side + 0.25 * amount, 0.05 + 0.6 * amount, 0.1 + 0.5 * amount, 0.05, 0.9 * amount
    return 0.03 * side, 0.03, 0.06, 0.1, 0.0  # stand


# joints: pelvis, neck, head, hair, then per side (left at 4, right at 11): hip, knee, ankle, toe,
# shoulder, elbow, hand; then four corners of a carried bag and the top of its handle.
_SIDE = {1: 4, -1: 11}
_N_JOINTS = 23


def person(cam: Camera, base: np.ndarray, heading: np.ndarray, look: Look, gait: str, phase: float,
           fall: float = 0.0, amount: float = 0.0, bag: tuple[int, int, int] | None = None,
           ) -> list[tuple]:
    """A person standing on ground point ``base`` (X, Z), facing ``heading`` (dX, dZ).

    ``gait`` is walk, run, fight, stoop or stand at ``phase`` (radians); ``fall`` rotates the whole body
    forward about the feet (0 upright, pi/2 lying); ``amount`` is the depth of a stoop; ``bag`` draws a
    bag of that colour in the right hand.
    """
    k = look.height / 1.75
    f = [0.0] * _N_JOINTS
    u = [0.0] * _N_JOINTS
    lat = [0.0] * _N_JOINTS
    arms = {}
    lean = 0.0
    for side, o in _SIDE.items():
        thigh, flex, swing, eflex, lean = _gait(gait, phase, side, amount)
        if bag is not None and side < 0 and gait in ("walk", "stand"):
            swing, eflex = 0.3 * swing, 0.05
        arms[side] = (swing, eflex)
        kf, ku = 0.46 * k * math.sin(thigh), -0.46 * k * math.cos(thigh)
        a = thigh - flex
        af, au = kf + 0.45 * k * math.sin(a), ku - 0.45 * k * math.cos(a)
        f[o:o + 4] = [0.0, kf, af, af + 0.15 * k * math.cos(a)]
        u[o:o + 4] = [0.0, ku, au, au + 0.15 * k * math.sin(a)]
        lat[o:o + 4] = [0.09 * k * side] * 4
    lift = 0.05 * k - min(u[6], u[7], u[13], u[14])  # the sole of the lowest foot touches the ground
    for o in _SIDE.values():
        for j in range(o, o + 4):
            u[j] += lift
    st, ct = math.sin(lean), math.cos(lean)
    f[0], u[0] = 0.0, lift
    f[1], u[1] = 0.55 * k * st, lift + 0.55 * k * ct
    f[2], u[2] = f[1] + 0.19 * k * st, u[1] + 0.19 * k * ct
    f[3], u[3] = f[2] + 0.025 * k * st - 0.01 * k * ct, u[2] + 0.025 * k * ct + 0.01 * k * st
    sf, su = f[1] - 0.05 * k * st, u[1] - 0.05 * k * ct
    for side, o in _SIDE.items():
        swing, eflex = arms[side]
        ef, eu = sf + 0.30 * k * math.sin(swing), su - 0.30 * k * math.cos(swing)
        b = swing + eflex
        f[o + 4:o + 7] = [sf, ef, ef + 0.28 * k * math.sin(b)]
        u[o + 4:o + 7] = [su, eu, eu - 0.28 * k * math.cos(b)]
        lat[o + 4] = 0.19 * k * look.bulk * side
        lat[o + 5] = lat[o + 6] = 0.21 * k * look.bulk * side
    if bag is not None:                              # hangs from the right hand
        hf, hu, hl = f[17], u[17], lat[17]
        for j, (df, du) in enumerate(((-0.2, -0.06), (0.2, -0.06), (0.2, -0.36), (-0.2, -0.36), (0.0, -0.06))):
            f[18 + j], u[18 + j], lat[18 + j] = hf + df * k, hu + du * k, hl
    F, U, L = np.array(f), np.array(u), np.array(lat)
    if fall:
        c, s_ = math.cos(fall), math.sin(fall)
        F, U = F * c + U * s_, np.maximum(-F * s_ + U * c, 0.06 * k)
    hx, hz = heading
    norm = math.hypot(hx, hz)
    hx, hz = hx / norm, hz / norm                    # forward (hx, hz), left (-hz, hx)
    bx, bz = float(base[0]), float(base[1])
    X = bx + F * hx - L * hz
    Z = np.maximum(bz + F * hz + L * hx, 1e-3)
    P = fixed(np.stack([cam.width / 2 + cam.focal * X / Z, cam.horizon + cam.focal * (cam.elevation - U) / Z],
                       axis=1)).tolist()
    sc = cam.focal / bz
    facing = abs(hz)                                 # 0: seen from the side, 1: from the front or back
    toward = -(hx * bx + hz * bz) > 0                # heading points at the camera
    near = 1 if (hz * bx - hx * bz) > 0 else -1      # the side of the body turned to the camera

    def px(w: float) -> int:
        return max(1, int(round(w)))

    leg_w, arm_w = 0.15 * k * sc * look.bulk, 0.095 * k * sc * look.bulk
    leg = (px(leg_w), px(leg_w * 0.85), px(leg_w * 0.7))
    arm = (px(arm_w), px(arm_w * 0.9), max(1, int(round(arm_w * 0.55 * ONE))))
    torso_w = px((0.24 + 0.13 * facing) * k * sc * look.bulk)
    head_r = 0.115 * k * sc * ONE

    def limbs(side: int, c: dict) -> tuple[list, list]:
        o = _SIDE[side]
        legs = [(0, P[o], P[o + 1], leg[0], c["pants"]), (0, P[o + 1], P[o + 2], leg[1], c["pants"]),
                (0, P[o + 2], P[o + 3], leg[2], c["shoes"])]
        arms = [(0, P[o + 4], P[o + 5], arm[0], c["shirt"]),
                (0, P[o + 5], P[o + 6], arm[1], c["skin"] if look.short_sleeves else c["shirt"]),
                (1, P[o + 6], arm[2], c["skin"])]
        return legs, arms

    far_leg, far_arm = limbs(-near, look.far)
    near_leg, near_arm = limbs(near, look.near)
    prims = far_arm + far_leg + near_leg
    prims.append((0, P[0], P[1], torso_w, look.shirt))
    prims.append((0, P[1], P[2], px(head_r * 0.8 / ONE), look.skin))
    hair = (1, P[3], max(1, int(round(head_r))), look.hair)
    if toward:
        prims += [hair, (1, P[2], max(1, int(round(head_r * 0.9))), look.skin)]
    else:
        prims += [(1, P[2], max(1, int(round(head_r * 0.95))), look.skin), hair]
    carried = []
    if bag is not None:
        carried = [(0, P[17], P[22], px(0.03 * sc), shade(bag, 0.7)), (2, [np.array(P[18:22], np.int32)], bag)]
    if near < 0:
        return prims + carried + near_arm
    return carried + prims + near_arm


# ------------------------------------------------------------------------------------------ vehicles

def _circle3d(center: np.ndarray, fwd: np.ndarray, r: float, n: int = 14) -> np.ndarray:
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return center + np.outer(np.cos(a) * r, fwd) + np.outer(np.sin(a) * r, [0.0, 1.0, 0.0])


def cyclist(cam: Camera, base: np.ndarray, heading: np.ndarray, look: Look, frame_color: tuple,
            crank: float) -> list[tuple]:
    """A person riding a bicycle; ``crank`` is the pedal angle (radians), the wheels turn with it."""
    k = look.height / 1.75
    fwd, left = ground_frame(heading)
    up = np.array([0.0, 1.0, 0.0])
    origin = np.array([base[0], 0.0, base[1]])
    sc = float(cam.scale(base[1]))
    near = 1 if float(np.dot(left, cam.position - origin)) > 0 else -1

    def at(f: float, u: float, lat: float = 0.0) -> np.ndarray:
        return origin + f * fwd + u * up + lat * left

    r = 0.34
    rear, front, bb = at(-0.52, r), at(0.52, r), at(0.0, 0.30)
    seat, head_tube, bar = at(-0.2, 0.95), at(0.38, 0.88), at(0.42, 1.05)
    tube_w = max(1.0, 0.045 * sc)
    prims: list = []
    wheel_angle = crank * 2.6
    for hub in (rear, front):
        prims.append(("polyline", cam.project(_circle3d(hub, fwd, r)), max(1.0, 0.06 * sc), (25, 25, 25)))
        for a in (wheel_angle, wheel_angle + np.pi / 2):
            d = (np.cos(a) * fwd + np.sin(a) * up) * r
            prims.append(("line", cam.project(np.stack([hub - d, hub + d])), 1.0, (150, 150, 150)))
    for a, b in ((rear, bb), (bb, seat), (seat, head_tube), (head_tube, bb), (head_tube, front),
                 (head_tube, bar), (rear, seat)):
        prims.append(("line", cam.project(np.stack([a, b])), tube_w, frame_color))
    hip = seat + 0.06 * up
    shoulder = at(0.25, 1.42 * k)
    head = at(0.36, 1.62 * k)
    legs = {}
    for s in (1, -1):
        a = crank + (0.0 if s > 0 else np.pi)
        pedal = bb + 0.17 * (np.cos(a) * fwd - np.sin(a) * up) + 0.1 * s * left
        h = hip + 0.1 * s * left
        d = pedal - h
        dist = min(float(np.linalg.norm(d)), 0.90 * k)
        l1, l2 = 0.46 * k, 0.47 * k
        along = (l1 ** 2 - l2 ** 2 + dist ** 2) / (2 * dist)
        height = np.sqrt(max(l1 ** 2 - along ** 2, 0.0))
        unit = d / max(float(np.linalg.norm(d)), 1e-9)
        perp = np.cross(unit, left)               # in the sagittal plane, pointing forward-up
        if np.dot(perp, fwd) < 0:
            perp = -perp
        knee = h + along * unit + height * perp
        legs[s] = cam.project(np.stack([h, knee, pedal]))
    leg_w = 0.15 * k * sc
    far = [("line", legs[-near][:2], leg_w, shade(look.pants, 0.78)),
           ("line", legs[-near][1:], leg_w * 0.85, shade(look.pants, 0.78))]
    near_leg = [("line", legs[near][:2], leg_w, look.pants), ("line", legs[near][1:], leg_w * 0.85, look.pants)]
    body = [("line", cam.project(np.stack([hip, shoulder])), (0.24 + 0.13 * abs(left[0])) * k * sc, look.shirt),
            ("circle", cam.project(head), 0.115 * k * sc, look.skin),
            ("circle", cam.project(head + 0.03 * up - 0.02 * fwd), 0.11 * k * sc, look.hair),
            ("line", cam.project(np.stack([shoulder, bar])), 0.09 * k * sc, look.shirt)]
    return compile_prims(far + prims + near_leg + body)


def vehicle(cam: Camera, base: np.ndarray, heading: np.ndarray, color: tuple, length: float,
            width: float, wheel_angle: float) -> list[tuple]:
    """A car (body and cabin boxes, wheels on the visible side) on ground point ``base``."""
    fwd, left = ground_frame(heading)
    origin = np.array([base[0], 0.0, base[1]])
    near = 1 if float(np.dot(left, cam.position - origin)) > 0 else -1
    sc = float(cam.scale(base[1]))
    prims: list = []
    r = 0.33
    for f in (-0.32 * length, 0.32 * length):
        hub = origin + f * fwd + near * (width / 2 + 0.01) * left + np.array([0, r, 0])
        prims.append(("poly", cam.project(_circle3d(hub, fwd, r)), (22, 22, 24)))
        prims.append(("circle", cam.project(hub), 0.13 * sc, (150, 150, 155)))
    glass = (45, 55, 70)
    tones = {"top": 1.15, "side": 0.85, "end": 0.7}
    for poly, name in box_faces(cam, base, heading, length, width, 0.28, 0.95):
        prims.append(("poly", poly, shade(color, tones[name])))
    cabin = np.array(base) + np.array([fwd[0], fwd[2]]) * (-0.06 * length)
    for poly, name in box_faces(cam, cabin, heading, 0.52 * length, 0.88 * width, 0.95, 1.45):
        prims.append(("poly", poly, shade(color, 1.1) if name == "top" else glass))
    # lights on the visible end
    end = 1 if float(np.dot(fwd, cam.position - origin)) > 0 else -1
    for s in (1, -1):
        p = origin + end * (length / 2 + 0.01) * fwd + s * 0.36 * width * left + np.array([0, 0.72, 0])
        prims.append(("circle", cam.project(p), 0.09 * sc, (250, 245, 210) if end > 0 else (200, 30, 30)))
    return compile_prims(prims)


def bag_on_ground(cam: Camera, base: np.ndarray, heading: np.ndarray, color: tuple) -> list[tuple]:
    """A bag standing on the ground at ``base``."""
    tones = {"top": 1.2, "side": 1.0, "end": 0.8}
    prims = [("poly", poly, shade(color, tones[name]))
             for poly, name in box_faces(cam, base, heading, 0.5, 0.26, 0.0, 0.42)]
    fwd, _ = ground_frame(heading)
    origin = np.array([base[0], 0.42, base[1]])
    handle = np.stack([origin - 0.1 * fwd, origin + np.array([0, 0.1, 0]), origin + 0.1 * fwd])
    prims.append(("line", cam.project(handle[:2]), max(1.0, 0.03 * float(cam.scale(base[1]))), shade(color, 0.7)))
    prims.append(("line", cam.project(handle[1:]), max(1.0, 0.03 * float(cam.scale(base[1]))), shade(color, 0.7)))
    return compile_prims(prims)


def shadow(cam: Camera, base: np.ndarray, direction: np.ndarray, length: float, size: float,
           width: float) -> np.ndarray:
    """Image polygon of the ground shadow of an object of height ``size`` and ``width`` at ``base``.

    ``direction`` (unit ground vector) and ``length`` (shadow length per metre of height) describe the
    light; with ``length`` 0 (overcast) the shadow is a soft blob under the object.
    """
    reach = size * length
    center = np.asarray(base, dtype=np.float64) + np.asarray(direction) * reach * 0.5
    return ground_ellipse(cam, center, direction, max(width * 0.6, reach * 0.5 + width * 0.3), width * 0.6)
