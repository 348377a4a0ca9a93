"""Rendering of planned videos: frames, anomaly masks, object masks, and the files of the dataset.

For each frame the actors' sprites are drawn over the scene's background in painter's order (far to
near), with ground shadows first, and static occluders (props, the far row) repainted over sprites
that are behind them. Drawing a label image alongside gives, per pixel, the visible object, from which
come the anomaly mask (pixels of anomalous objects) and the object mask (pixels of every moving
object). Light (gain, tint, slow flicker), optical blur and sensor noise are applied last.

A frame is anomalous when an anomalous object is in view; the annotation's intervals are the runs of
anomalous frames. An anomalous object hidden entirely behind another object keeps its full outline as
its mask, so an anomalous frame never has an empty mask.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ...runtime import atomic_output, progress
from .actors import Actor, crowd
from .anomalies import ANOMALIES
from .paint import SHIFT, draw, fixed
from .plan import VideoPlan, check_config, plan_videos
from .scene import Scene, build_scene

VIDEO_EXT = ".mp4"
FOURCC = "mp4v"
NOISE_BANK = 6


def scene_of(plan: VideoPlan, cfg: dict[str, Any]) -> Scene:
    cfg = check_config(cfg)
    return build_scene(cfg["seed"], plan.scene_index, tuple(cfg["size"]))


def _actors(plan: VideoPlan, scene: Scene, fps: float, rng: np.random.Generator) -> list[Actor]:
    crowd_rng, event_rng = rng.spawn(2)
    density = float(crowd_rng.uniform(1.6, 3.0))
    actors = crowd(scene, crowd_rng, plan.n_frames, fps, density)
    if plan.anomaly is not None:
        actors += ANOMALIES[plan.anomaly](scene, event_rng, plan.n_frames, fps)
    return actors


def iter_frames(plan: VideoPlan, cfg: dict[str, Any]) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield ``(frame uint8 [H, W, 3] RGB, anomaly mask bool [H, W], object mask bool [H, W])`` per frame."""
    cfg = check_config(cfg)
    scene = scene_of(plan, cfg)
    fps = float(cfg["fps"])
    rng = np.random.default_rng(plan.seed)
    actor_rng, sensor_rng = rng.spawn(2)
    actors = _actors(plan, scene, fps, actor_rng)

    bg = scene.background
    H, W = bg.shape[:2]
    light = scene.light
    occluders = sorted(scene.occluders, key=lambda o: -o.depth)
    dark = (np.arange(256) * light.shadow_dark).astype(np.uint8)
    gain = light.gain * sensor_rng.uniform(0.93, 1.07)
    flicker_phase = sensor_rng.uniform(0, 2 * np.pi)
    noise = np.round(sensor_rng.standard_normal((NOISE_BANK, H + 8, W + 8, 3)) * light.noise)
    noise_up = np.clip(noise, 0, 255).astype(np.uint8)
    noise_down = np.clip(-noise, 0, 255).astype(np.uint8)
    picks = sensor_rng.integers(0, [NOISE_BANK, 9, 9], size=(plan.n_frames, 3))
    label = np.zeros((H, W), np.uint8)
    shadows = np.zeros((H, W), np.uint8)

    def restore(o, frame: np.ndarray) -> None:
        x0, y0, x1, y1 = o.box
        m = o.mask[y0:y1, x0:x1]
        lab = label[y0:y1, x0:x1]
        if lab[m].any():
            frame[y0:y1, x0:x1][m] = bg[y0:y1, x0:x1][m]
            lab[m] = 0

    for t in range(plan.n_frames):
        sprites = sorted((s for a in actors for s in a.sprites(t)), key=lambda s: -s.depth)
        if len(sprites) > 255:
            raise RuntimeError(f"{plan.video}: {len(sprites)} objects in frame {t}; at most 255 are supported")
        frame = bg.copy()
        label[:] = 0
        polys = [fixed(s.shadow) for s in sprites if s.shadow is not None]
        if polys:
            shadows[:] = 0
            cv2.fillPoly(shadows, polys, 1, cv2.LINE_8, SHIFT)
            sel = shadows.view(bool)
            frame[sel] = dark[frame[sel]]
        k = 0
        for n, sprite in enumerate(sprites, 1):
            while k < len(occluders) and occluders[k].depth > sprite.depth:
                restore(occluders[k], frame)
                k += 1
            draw(frame, sprite.prims)
            draw(label, sprite.prims, n)
        for o in occluders[k:]:
            restore(o, frame)

        g = gain * (1 + light.flicker * np.sin(2 * np.pi * t / (light.period * fps) + flicker_phase))
        frame = cv2.multiply(frame, (g * light.tint[0], g * light.tint[1], g * light.tint[2], 0.0))
        if light.blur > 0:
            frame = cv2.GaussianBlur(frame, (3, 3), light.blur)
        b, oy, ox = picks[t]
        frame = cv2.add(frame, noise_up[b, oy:oy + H, ox:ox + W])
        frame = cv2.subtract(frame, noise_down[b, oy:oy + H, ox:ox + W])

        lut = np.zeros(256, bool)
        for n, sprite in enumerate(sprites, 1):
            lut[n] = sprite.anomalous
        anomaly = lut[label]
        if not anomaly.any() and lut.any():  # anomalous objects hidden behind others: their outline
            hidden = np.zeros((H, W), np.uint8)
            for sprite in sprites:
                if sprite.anomalous:
                    draw(hidden, sprite.prims, 1)
            anomaly = hidden > 0
        yield frame, anomaly, label > 0


def intervals(flags: np.ndarray) -> list[tuple[int, int]]:
    """Runs of True in a boolean vector as ``(start, stop)`` pairs, stop exclusive."""
    padded = np.concatenate([[False], np.asarray(flags, bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def annotation(plan: VideoPlan, cfg: dict[str, Any], anomalous: np.ndarray) -> dict[str, Any]:
    """The annotation record of a rendered video (``anomalous``: per-frame flags)."""
    cfg = check_config(cfg)
    runs = intervals(anomalous) if plan.anomaly is not None else []
    if plan.label and not runs:
        raise RuntimeError(f"{plan.video}: the {plan.anomaly} event never came into view")
    return {"video": plan.video, "scene": plan.scene, "label": plan.label,
            "split_oneclass": plan.split_oneclass, "split_weak": plan.split_weak,
            "n_frames": plan.n_frames, "fps": cfg["fps"], "size": list(cfg["size"]),
            "anomalies": [{"type": plan.anomaly, "start": a, "stop": b} for a, b in runs]}


def render_arrays(plan: VideoPlan, cfg: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """``(frames [T, H, W, 3] uint8, masks [T, H, W] bool, objects [T, H, W] bool, annotation)``."""
    frames, masks, objects = [], [], []
    for f, m, o in iter_frames(plan, cfg):
        frames.append(f)
        masks.append(m)
        objects.append(o)
    masks_a = np.stack(masks)
    return np.stack(frames), masks_a, np.stack(objects), annotation(plan, cfg, masks_a.any(axis=(1, 2)))


def save_masks(path: Path, **arrays: np.ndarray) -> None:
    """Write an ``.npz`` of ``arrays`` atomically, deflated (fast level) and with fixed timestamps, so
    that the same arrays give the same bytes; :func:`numpy.load` reads it."""
    with atomic_output(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            zf.writestr(info, buffer.getbuffer(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=1)


def output_paths(root: str | os.PathLike, video: str) -> dict[str, Path]:
    """Where :func:`render_video` writes the files of ``video`` under ``root``."""
    root = Path(root)
    return {"video": root / "videos" / f"{video}{VIDEO_EXT}", "annotation": root / "annotations" / f"{video}.json",
            "masks": root / "masks" / f"{video}.npz"}


def render_video(plan: VideoPlan, cfg: dict[str, Any], root: str | os.PathLike) -> None:
    """Render ``plan`` and write, each atomically, under ``root``:

    - ``videos/{video}.mp4``: the frames (MPEG-4 part 2, 'mp4v'), readable by decord and OpenCV;
    - ``masks/{video}.npz``: ``masks`` bool [T, H, W] (anomalous pixels; all False for normal videos)
      and ``objects`` bool [T, H, W] (pixels of every moving object: people, bicycles, cars, bags);
    - ``annotations/{video}.json``: video, scene, label, splits, n_frames, fps, size [H, W] and the
      anomalies as ``{"type", "start", "stop"}`` (frame indices, stop exclusive). Written last.
    """
    cfg = check_config(cfg)
    paths = output_paths(root, plan.video)
    H, W = cfg["size"]
    masks = np.zeros((plan.n_frames, H, W), bool)
    objects = np.zeros((plan.n_frames, H, W), bool)
    with atomic_output(paths["video"]) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*FOURCC), float(cfg["fps"]), (W, H))
        if not writer.isOpened():
            raise RuntimeError(f"{paths['video']}: OpenCV cannot open a '{FOURCC}' video writer")
        try:
            for t, (frame, mask, obj) in enumerate(iter_frames(plan, cfg)):
                writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
                masks[t], objects[t] = mask, obj
        finally:
            writer.release()
    record = annotation(plan, cfg, masks.any(axis=(1, 2)))
    save_masks(paths["masks"], masks=masks, objects=objects)
    with atomic_output(paths["annotation"]) as tmp:
        tmp.write_text(json.dumps(record, indent=1) + "\n")


def render_all(cfg: dict[str, Any], root: str | os.PathLike, videos: list[str] | None = None) -> list[VideoPlan]:
    """Render every planned video (or only those in ``videos``) under ``root``; return their plans."""
    plans = plan_videos(cfg)
    if videos is not None:
        known = {p.video for p in plans}
        missing = [v for v in videos if v not in known]
        if missing:
            raise KeyError(f"videos {missing[:5]} are not in the synthetic dataset's plan")
        wanted = set(videos)
        plans = [p for p in plans if p.video in wanted]
    for plan in progress(plans, desc="rendering synthetic videos", unit="video"):
        render_video(plan, cfg, root)
    return plans
