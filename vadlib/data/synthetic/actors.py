"""Actors: objects that move through a scene over the frames of a video, and the normal crowd.

An actor answers :meth:`Actor.sprites` for a frame index with what to draw there (:class:`Sprite`: its
depth for the painter's order, its primitives, its shadow, whether it is anomalous at that frame).

A :class:`Person` follows a straight :class:`Track` (usually a walkway's visible stretch) through a
list of :class:`Segment` s: walk, run, stand, fight, stoop down and up (to put a bag down), fall, lie,
rise. The trajectory, gait phase and pose of every frame are computed once, when the actor is made.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import figures
from .figures import Look
from .scene import Scene, Walkway

WALK_SPEED = (1.1, 1.65)      # m/s, normal walking
STRIDE = {"walk": 1.45, "run": 2.7}  # metres per gait cycle (two steps) for a 1.75 m person
PUNCH_HZ = 2.4                # punch cycles per second in a fight (both arms)


@dataclass
class Sprite:
    depth: float                      # ground depth of the object, for the painter's order
    prims: list                       # compiled primitives (see .paint)
    shadow: np.ndarray | None         # image polygon of its ground shadow
    anomalous: bool = False


@dataclass(frozen=True)
class Track:
    """A straight line on the ground: ``origin`` + dist * ``heading`` (+ lateral offset to the left)."""

    origin: np.ndarray
    heading: np.ndarray
    length: float

    @property
    def normal(self) -> np.ndarray:
        return np.array([-self.heading[1], self.heading[0]])

    def at(self, dist: float | np.ndarray, lateral: float = 0.0) -> np.ndarray:
        dist = np.asarray(dist, dtype=np.float64)
        return self.origin + dist[..., None] * self.heading + lateral * self.normal


def walkway_track(w: Walkway, forward: bool = True) -> Track:
    """The visible stretch of walkway ``w`` in either direction."""
    if forward:
        return Track(w.point(w.s_in), w.direction, w.s_out - w.s_in)
    return Track(w.point(w.s_out), -w.direction, w.s_out - w.s_in)


def first_in_view(scene: Scene, track: Track, lateral: float = 0.0, half_width: float = 0.3,
                  height: float = 1.75) -> float:
    """Distance along ``track`` at which an object of that size (m) first overlaps the view."""
    cam = scene.camera
    dist = np.arange(0.0, track.length, 0.05)
    ground = track.at(dist, lateral)
    foot = cam.project(np.stack([ground[:, 0], np.zeros(len(dist)), ground[:, 1]], axis=1))
    sc = cam.scale(ground[:, 1])
    ok = ((foot[:, 0] + half_width * sc > 0) & (foot[:, 0] - half_width * sc < cam.width)
          & (foot[:, 1] - height * sc < cam.height) & (foot[:, 1] > 0))
    return float(dist[np.argmax(ok)]) if ok.any() else 0.0


class Actor:
    def sprites(self, t: int) -> list[Sprite]:  # pragma: no cover - interface
        raise NotImplementedError


def _shadow(scene: Scene, pos: np.ndarray, height: float, width: float) -> np.ndarray:
    light = scene.light
    return figures.shadow(scene.camera, pos, np.asarray(light.shadow_dir), light.shadow_len, height, width)


@dataclass
class Segment:
    """A stretch of a person's script. ``frames`` may be fractional; the last one lasts forever."""

    frames: float
    gait: str                   # walk, run, stand, fight, stoop_down, stoop_up, fall, lie, rise
    speed: float = 0.0          # m/s along ``facing``
    facing: int = 1             # +1 along the track, -1 against it
    anomalous: bool = False
    bag: bool = False           # carries a bag in the right hand


@dataclass
class Person(Actor):
    """A person following ``script`` along ``track`` from distance ``dist0`` at frame ``t0``."""

    scene: Scene
    track: Track
    look: Look
    script: list[Segment]
    n_frames: int
    fps: float
    t0: float = 0.0
    dist0: float = 0.0
    lateral: float = 0.0
    phase0: float = 0.0
    bag_color: tuple = (30, 30, 30)
    sway: float = 0.0           # amplitude (m) of back-and-forth moves while fighting

    def __post_init__(self) -> None:
        """Integrate the script: distance, gait phase and segment of every frame in view."""
        k = self.look.height / 1.75
        dur = np.array([s.frames for s in self.script], dtype=np.float64)
        starts = self.t0 + np.concatenate([[0.0], np.cumsum(dur[:-1])])
        dur[-1] = np.inf
        vel = np.array([s.speed * s.facing / self.fps for s in self.script])
        rate = np.array([2 * np.pi * s.speed / (STRIDE[s.gait] * k) / self.fps if s.gait in STRIDE
                         else 2 * np.pi * PUNCH_HZ / self.fps if s.gait == "fight" else 0.0
                         for s in self.script])
        steps = np.diff(starts)
        dist_start = self.dist0 + np.concatenate([[0.0], np.cumsum(vel[:-1] * steps)])
        phase_start = self.phase0 + np.concatenate([[0.0], np.cumsum(rate[:-1] * steps)])
        t = np.arange(max(0, int(np.ceil(self.t0))), self.n_frames)
        i = np.searchsorted(starts, t, side="right") - 1
        dt = t - starts[i]
        dist = dist_start[i] + vel[i] * dt
        inside = (dist >= -0.3) & (dist <= self.track.length + 0.3)
        if inside.any():
            first = int(np.argmax(inside))
            gone = np.nonzero(~inside[first:])[0]
            last = first + int(gone[0]) if len(gone) else len(t)
        else:
            first = last = 0
        sl = slice(first, last)
        self._first = int(t[first]) if last > first else self.n_frames
        self._dist = dist[sl]
        self._phase = (phase_start[i] + rate[i] * dt)[sl]
        self._seg = i[sl]
        self._u = np.clip(dt / dur[i], 0, 1)[sl]

    def frames_in_view(self) -> range:
        return range(self._first, self._first + len(self._dist))

    def sprites(self, t: int) -> list[Sprite]:
        j = t - self._first
        if not 0 <= j < len(self._dist):
            return []
        dist, phase, u = float(self._dist[j]), float(self._phase[j]), float(self._u[j])
        seg = self.script[int(self._seg[j])]
        gait, fall, amount = seg.gait, 0.0, 0.0
        if seg.gait == "fight":
            dist = dist + self.sway * np.sin(0.9 * phase + self.phase0) * seg.facing
        elif seg.gait == "fall":
            gait, fall = "walk", np.pi / 2 * u ** 2
        elif seg.gait == "lie":
            gait, fall = "stand", np.pi / 2
        elif seg.gait == "rise":
            gait, fall = "stand", np.pi / 2 * (1 - u * u * (3 - 2 * u))
        elif seg.gait == "stoop_down":
            gait, amount = "stoop", float(np.sin(np.pi / 2 * u))
        elif seg.gait == "stoop_up":
            gait, amount = "stoop", float(np.cos(np.pi / 2 * u))
        pos = self.track.at(dist, self.lateral)
        heading = self.track.heading * seg.facing
        bag = self.bag_color if seg.bag else None
        prims = figures.person(self.scene.camera, pos, heading, self.look, gait, phase, fall, amount, bag)
        if fall > 0.3:
            reach = self.look.height * np.sin(fall) * 0.5
            shadow = _shadow(self.scene, pos + heading * reach, 0.3, reach + 0.3)
        else:
            shadow = _shadow(self.scene, pos, self.look.height, 0.45)
        depth = float(pos[1] + (heading[1] * self.look.height * 0.5 * np.sin(fall)))
        return [Sprite(depth, prims, shadow, seg.anomalous)]


@dataclass
class Rider(Actor):
    """A cyclist at constant ``speed`` along ``track`` from frame ``t0``."""

    scene: Scene
    track: Track
    look: Look
    frame_color: tuple
    speed: float
    fps: float
    t0: float
    lateral: float = 0.0
    anomalous: bool = True

    def sprites(self, t: int) -> list[Sprite]:
        dist = (t - self.t0) * self.speed / self.fps
        if not 0.0 <= dist <= self.track.length:
            return []
        pos = self.track.at(dist, self.lateral)
        crank = dist / 5.5 * 2 * np.pi
        prims = figures.cyclist(self.scene.camera, pos, self.track.heading, self.look, self.frame_color, crank)
        return [Sprite(float(pos[1]), prims, _shadow(self.scene, pos, 1.6, 0.9), self.anomalous)]


@dataclass
class Car(Actor):
    """A car at constant ``speed`` along ``track`` from frame ``t0``."""

    scene: Scene
    track: Track
    color: tuple
    length: float
    width: float
    speed: float
    fps: float
    t0: float
    anomalous: bool = True

    def sprites(self, t: int) -> list[Sprite]:
        dist = (t - self.t0) * self.speed / self.fps
        if not 0.0 <= dist <= self.track.length:
            return []
        pos = self.track.at(dist)
        prims = figures.vehicle(self.scene.camera, pos, self.track.heading, self.color, self.length,
                                self.width, dist / 0.33)
        # nearest point of the body for the painter's order
        hx, hz = np.abs(self.track.heading)
        depth = float(pos[1] - hz * self.length / 2 - hx * self.width / 2)
        return [Sprite(depth, prims, _shadow(self.scene, pos, 1.4, self.length * 0.9), self.anomalous)]


@dataclass
class Bag(Actor):
    """A bag lying at ground point ``pos`` from frame ``t0`` to the end of the video."""

    scene: Scene
    pos: np.ndarray
    heading: np.ndarray
    color: tuple
    t0: float
    anomalous: bool = True

    def sprites(self, t: int) -> list[Sprite]:
        if t < self.t0:
            return []
        prims = figures.bag_on_ground(self.scene.camera, self.pos, self.heading, self.color)
        return [Sprite(float(self.pos[1]), prims, _shadow(self.scene, self.pos, 0.35, 0.3), self.anomalous)]


def walker(scene: Scene, rng: np.random.Generator, w: Walkway, n_frames: int, fps: float, t_enter: float,
           forward: bool, speed: float | None = None, anomalous: bool = False) -> Person:
    """A person walking the whole visible stretch of ``w``, entering it at frame ``t_enter``."""
    look = figures.random_look(rng)
    speed = float(rng.uniform(*WALK_SPEED)) if speed is None else speed
    lateral = float(rng.uniform(-0.32, 0.32) * w.width)
    return Person(scene, walkway_track(w, forward), look, [Segment(1e9, "walk", speed, 1, anomalous)],
                  n_frames, fps, t0=t_enter, lateral=lateral, phase0=float(rng.uniform(0, 2 * np.pi)))


def crowd(scene: Scene, rng: np.random.Generator, n_frames: int, fps: float, density: float) -> list[Actor]:
    """Normal pedestrians on every walkway (in its allowed directions), arriving at random.

    Arrivals per walkway and direction are a Poisson process whose rate keeps about ``density`` people
    on each walkway at a time; arrivals start long before the first frame so that the first frame is
    already populated. A fifth of the arrivals are pairs walking side by side.
    """
    actors: list[Actor] = []
    for w in scene.walkways:
        directions = (True,) if w.oneway else (True, False)
        crossing = (w.s_out - w.s_in) / np.mean(WALK_SPEED) * fps  # frames to walk through
        rate = density / crossing / len(directions)                 # arrivals per frame and direction
        for forward in directions:
            t = -crossing * 1.1 + rng.exponential(1 / rate)
            while t < n_frames:
                person = walker(scene, rng, w, n_frames, fps, t, forward)
                actors.append(person)
                if rng.random() < 0.2:
                    side = 0.55 if person.lateral < 0 else -0.55
                    mate = walker(scene, rng, w, n_frames, fps, t + rng.uniform(-3, 3), forward,
                                  speed=person.script[0].speed)
                    mate.lateral = person.lateral + side
                    actors.append(mate)
                t += rng.exponential(1 / rate)
    return actors
