"""Anomalous events of the synthetic dataset, one script per type.

Every script places its actors in a scene so that the event happens inside the video: the anomalous
actor comes into view, or the event starts, between 15 % and 55 % of the video's length. Actors are anomalous
only while they behave abnormally (a person walking to a fight is normal until the fight starts; the
owner of an abandoned bag is never anomalous, the bag is from the moment it is put down).

============== ========================================================================================
type           event (the anomalous objects)
============== ========================================================================================
running        a person runs along a walkway at 3.5-5 m/s (the runner)
cyclist        a cyclist rides along a walkway at 4-6.5 m/s (rider and bicycle)
vehicle        a car drives across the pedestrian area or along a walkway at 4.5-7.5 m/s (the car)
wrong_way      a person walks against the direction of a one-directional walkway (the walker)
falling        a walker falls, lies 2.5-5 s, gets up and walks on (the person, from fall to standing)
fighting       two people meet, fight 2.5-4 s, then one flees and the other chases (both, from the fight)
abandoned_obj  a person puts a bag down by the walkway and walks on; the bag stays (the bag)
============== ========================================================================================
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import figures
from .actors import WALK_SPEED, Actor, Bag, Car, Person, Rider, Segment, Track, first_in_view, walkway_track
from .scene import Scene, Walkway

FOREVER = 1e9


def _pick(rng: np.random.Generator, walkways: tuple[Walkway, ...], weights) -> Walkway:
    w = np.array([weights(x) for x in walkways], dtype=np.float64)
    return walkways[int(rng.choice(len(walkways), p=w / w.sum()))]


def _crossing(w: Walkway) -> float:
    """Preference for walkways that cross the view sideways (events there are seen best)."""
    return w.lateral_extent + 4.0


def _sideways(w: Walkway) -> float:
    """Preference for walkways seen from the side (two fighters, a lying body, are seen best there)."""
    return abs(float(w.direction[0])) + 0.2


def _direction(rng: np.random.Generator, w: Walkway) -> bool:
    return True if w.oneway else bool(rng.random() < 0.5)


def _start(rng: np.random.Generator, n_frames: int, lo: float = 0.15, hi: float = 0.5) -> float:
    return float(rng.uniform(lo, hi) * n_frames)


def _entry(rng: np.random.Generator, scene: Scene, track: Track, n_frames: int, fps: float, speed: float,
           lateral: float = 0.0, half_width: float = 0.3) -> float:
    """Frame at which an actor starts along ``track`` so that it comes into view at 15-50 %."""
    return _start(rng, n_frames) - first_in_view(scene, track, lateral, half_width) / speed * fps


def _person(scene: Scene, rng: np.random.Generator, track: Track, script: list[Segment], n_frames: int,
            fps: float, t0: float, width: float, dist0: float = 0.0, lateral: float | None = None,
            ) -> Person:
    lateral = float(rng.uniform(-0.25, 0.25) * width) if lateral is None else lateral
    return Person(scene, track, figures.random_look(rng), script, n_frames, fps, t0=t0, dist0=dist0,
                  lateral=lateral, phase0=float(rng.uniform(0, 2 * np.pi)),
                  bag_color=figures.random_color(rng, figures.BAGS))


def running(scene: Scene, rng: np.random.Generator, n_frames: int, fps: float) -> list[Actor]:
    w = _pick(rng, scene.walkways, _crossing)
    track = walkway_track(w, _direction(rng, w))
    speed, lateral = float(rng.uniform(3.5, 5.0)), float(rng.uniform(-0.25, 0.25) * w.width)
    t0 = _entry(rng, scene, track, n_frames, fps, speed, lateral)
    return [_person(scene, rng, track, [Segment(FOREVER, "run", speed, 1, True)], n_frames, fps, t0, w.width,
                    lateral=lateral)]


def cyclist(scene: Scene, rng: np.random.Generator, n_frames: int, fps: float) -> list[Actor]:
    w = _pick(rng, scene.walkways, _crossing)
    track = walkway_track(w, _direction(rng, w))
    track = Track(track.origin - track.heading, track.heading, track.length + 2.0)  # room for the bicycle
    speed, lateral = float(rng.uniform(4.0, 6.5)), float(rng.uniform(-0.2, 0.2) * w.width)
    t0 = _entry(rng, scene, track, n_frames, fps, speed, lateral, half_width=0.9)
    return [Rider(scene, track, figures.random_look(rng), figures.random_color(rng, figures.BIKES),
                  speed, fps, t0, lateral)]


def vehicle(scene: Scene, rng: np.random.Generator, n_frames: int, fps: float) -> list[Actor]:
    sideways = [w for w in scene.walkways if not w.oneway and abs(w.direction[0]) > 0.8]
    if sideways and rng.random() < 0.5:
        w = sideways[int(rng.integers(len(sideways)))]
        track = walkway_track(w, bool(rng.random() < 0.5))
    else:  # straight across the pedestrian area
        z = scene.depth_at(float(rng.uniform(0.2, 0.65)))
        half = scene.camera.half_width(z) + 4.0
        slope = float(rng.uniform(-0.15, 0.15))
        heading = np.array([1.0, slope]) / np.hypot(1.0, slope)
        if rng.random() < 0.5:
            track = Track(np.array([-half, z + slope * half]), heading, 2 * half / heading[0])
        else:
            track = Track(np.array([half, z - slope * half]), -heading, 2 * half / heading[0])
    length, width, speed = float(rng.uniform(3.9, 4.8)), float(rng.uniform(1.7, 1.9)), float(rng.uniform(4.5, 7.5))
    margin = length / 2 + 1.0  # the car starts and ends wholly out of view
    track = Track(track.origin - margin * track.heading, track.heading, track.length + 2 * margin)
    t0 = _entry(rng, scene, track, n_frames, fps, speed, half_width=length / 2)
    return [Car(scene, track, figures.random_color(rng, figures.CARS), length, width, speed, fps, t0)]


def wrong_way(scene: Scene, rng: np.random.Generator, n_frames: int, fps: float) -> list[Actor]:
    oneway = [w for w in scene.walkways if w.oneway]
    w = oneway[int(rng.integers(len(oneway)))]
    track = walkway_track(w, forward=False)
    speed, lateral = float(rng.uniform(*WALK_SPEED)), float(rng.uniform(-0.25, 0.25) * w.width)
    t0 = _entry(rng, scene, track, n_frames, fps, speed, lateral)
    return [_person(scene, rng, track, [Segment(FOREVER, "walk", speed, 1, True)], n_frames, fps, t0, w.width,
                    lateral=lateral)]


def _site(rng: np.random.Generator, scene: Scene, forward: bool | None = None,
          preference: Callable[[Walkway], float] = lambda w: 1.0) -> tuple[Walkway, Track, float]:
    """Where an event happens: a walkway, a track along it (``forward`` or either way) and a distance
    on that track. Places well inside the view, and nearer ones (larger figures), are more likely."""
    cam = scene.camera
    options, weights = [], []
    for w in scene.walkways:
        s = np.linspace(w.s_in, w.s_out, 61)
        ground = np.asarray(w.start) + s[:, None] * w.direction
        foot = cam.project(np.stack([ground[:, 0], np.zeros(len(s)), ground[:, 1]], axis=1))
        ok = ((foot[:, 0] > 0.12 * cam.width) & (foot[:, 0] < 0.88 * cam.width)
              & (foot[:, 1] > 0.3 * cam.height) & (foot[:, 1] < 0.92 * cam.height))
        weights.append(np.where(ok, cam.scale(ground[:, 1]) ** 2 * preference(w), 0.0))
        options += [(w, float(x)) for x in s]
    weight = np.concatenate(weights)
    weight = weight if weight.sum() > 0 else np.ones(len(options))
    w, s = options[int(rng.choice(len(options), p=weight / weight.sum()))]
    forward = _direction(rng, w) if forward is None else forward
    return (w, walkway_track(w, True), s - w.s_in) if forward else (w, walkway_track(w, False), w.s_out - s)


def falling(scene: Scene, rng: np.random.Generator, n_frames: int, fps: float) -> list[Actor]:
    w, track, dist = _site(rng, scene, preference=_sideways)
    speed = float(rng.uniform(*WALK_SPEED))
    t_fall = _start(rng, n_frames, 0.25, 0.55)
    t0 = t_fall - dist / speed * fps
    script = [Segment(t_fall - t0, "walk", speed),
              Segment(0.6 * fps, "fall", speed * 0.4, 1, True),
              Segment(float(rng.uniform(2.5, 5.0)) * fps, "lie", 0.0, 1, True),
              Segment(1.5 * fps, "rise", 0.0, 1, True),
              Segment(FOREVER, "walk", speed)]
    return [_person(scene, rng, track, script, n_frames, fps, t0, w.width)]


def fighting(scene: Scene, rng: np.random.Generator, n_frames: int, fps: float) -> list[Actor]:
    w, track, meet = _site(rng, scene, True, lambda x: _sideways(x) * (0.3 if x.oneway else 1.0))
    va, vb = float(rng.uniform(*WALK_SPEED)), float(rng.uniform(*WALK_SPEED))
    t_meet = _start(rng, n_frames, 0.15, 0.45)
    fight = float(rng.uniform(2.5, 4.0)) * fps
    lateral = float(rng.uniform(-0.2, 0.2) * w.width)
    ta = t_meet - (meet - 0.45) / va * fps
    tb = t_meet - (track.length - meet - 0.45) / vb * fps
    chase = float(rng.uniform(3.8, 4.5))
    a = _person(scene, rng, track, [Segment(t_meet - ta, "walk", va, 1),
                                    Segment(fight + 0.4 * fps, "fight", 0.0, 1, True),
                                    Segment(FOREVER, "run", chase, 1, True)],
                n_frames, fps, ta, w.width, lateral=lateral)
    b = _person(scene, rng, track, [Segment(t_meet - tb, "walk", vb, -1),
                                    Segment(fight, "fight", 0.0, -1, True),
                                    Segment(0.2 * fps, "stand", 0.0, 1, True),
                                    Segment(FOREVER, "run", chase + 0.5, 1, True)],
                n_frames, fps, tb, w.width, dist0=track.length, lateral=lateral)
    a.sway = b.sway = 0.3
    return [a, b]


def abandoned_object(scene: Scene, rng: np.random.Generator, n_frames: int, fps: float) -> list[Actor]:
    w, track, dist = _site(rng, scene)
    speed = float(rng.uniform(*WALK_SPEED))
    t_place = _start(rng, n_frames, 0.2, 0.5)
    bend = 0.5 * fps
    t_drop = t_place - bend
    t0 = t_drop - dist / speed * fps
    lateral = float(rng.uniform(-0.25, 0.25) * w.width)
    owner = _person(scene, rng, track, [Segment(t_drop - t0, "walk", speed, 1, False, True),
                                        Segment(bend, "stoop_down", 0.0, 1, False, True),
                                        Segment(bend, "stoop_up", 0.0, 1, False, False),
                                        Segment(FOREVER, "walk", speed)],
                    n_frames, fps, t0, w.width, lateral=lateral)
    k = owner.look.height / 1.75
    spot = track.at(dist, lateral) + track.heading * 0.3 * k - track.normal * 0.22 * k
    return [owner, Bag(scene, spot, track.heading, owner.bag_color, t_place)]


ANOMALIES: dict[str, Callable[[Scene, np.random.Generator, int, float], list[Actor]]] = {
    "running": running, "cyclist": cyclist, "vehicle": vehicle, "wrong_way": wrong_way,
    "falling": falling, "fighting": fighting, "abandoned_object": abandoned_object,
}
