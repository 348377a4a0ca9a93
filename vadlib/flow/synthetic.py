"""Frame pairs with known motion for checking and timing optical flow.

Smooth random textures (multi-scale smoothed noise) moved by a sub-pixel translation, a rotation, or
rendered as a scene of textured figures moving over a textured background. Every function returns
float32 images on the 0..255 scale and the true flow from the first image to the second ([..., 2], x, y
in pixels), so a flow can be scored by its end-point error.
"""

from __future__ import annotations

import numpy as np


def textured_image(height: int, width: int, seed: int, sigmas: tuple[float, ...] = (1.5, 3.0, 6.0)) -> np.ndarray:
    """float32 [H, W] on 0..255: the sum of Gaussian-smoothed noise at ``sigmas`` (pixels)."""
    import cv2

    rng = np.random.default_rng(seed)
    image = np.zeros((height, width), np.float32)
    for sigma in sigmas:
        noise = rng.standard_normal((height, width)).astype(np.float32)
        layer = cv2.GaussianBlur(noise, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
        image += layer / (layer.std() + 1e-8)
    image -= image.min()
    return (image * (255.0 / max(float(image.max()), 1e-8))).astype(np.float32)


def _sample(image: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    """``image`` at (map_x, map_y), bicubic, reflected border."""
    import cv2

    return cv2.remap(image, map_x.astype(np.float32), map_y.astype(np.float32), cv2.INTER_CUBIC,
                     borderMode=cv2.BORDER_REFLECT)


def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:height, 0:width]
    return xs.astype(np.float64), ys.astype(np.float64)


def translated_pair(height: int, width: int, dx: float, dy: float, seed: int = 0
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(I0, I1, flow): I1(x) = I0(x - d), so the flow is ``d = (dx, dy)`` everywhere."""
    margin = int(np.ceil(max(abs(dx), abs(dy)))) + 8
    big = textured_image(height + 2 * margin, width + 2 * margin, seed)
    xs, ys = _grid(height, width)
    i0 = big[margin:margin + height, margin:margin + width].copy()
    i1 = _sample(big, xs + margin - dx, ys + margin - dy)
    flow = np.broadcast_to(np.array([dx, dy], np.float32), (height, width, 2)).copy()
    return i0, i1, flow


def rotated_pair(height: int, width: int, degrees: float, seed: int = 0
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(I0, I1, flow): I1 is I0 rotated by ``degrees`` about the image centre; the flow of pixel x is
    R x' - x' with x' = x - centre."""
    margin = int(np.ceil(np.hypot(height, width) * abs(np.sin(np.radians(degrees))))) + 8
    big = textured_image(height + 2 * margin, width + 2 * margin, seed)
    xs, ys = _grid(height, width)
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    # I1(x) = I0(R^-1 (x - centre) + centre)
    src_x = c * (xs - cx) + s * (ys - cy) + cx
    src_y = -s * (xs - cx) + c * (ys - cy) + cy
    i0 = big[margin:margin + height, margin:margin + width].copy()
    i1 = _sample(big, src_x + margin, src_y + margin)
    fx = c * (xs - cx) - s * (ys - cy) + cx - xs
    fy = s * (xs - cx) + c * (ys - cy) + cy - ys
    return i0, i1, np.stack((fx, fy), axis=-1).astype(np.float32)


def moving_figures(height: int, width: int, frames: int, seed: int = 0, figures: int = 3,
                   max_speed: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """(video [T, H, W], flows [T-1, H, W, 2]): textured discs and boxes, each moving at its own constant
    sub-pixel velocity over a static textured background, painted in order with a one-pixel soft edge.
    The flow of a pixel is the velocity of the top figure covering it in the first frame (zero on the
    background)."""
    rng = np.random.default_rng(seed)
    background = textured_image(height, width, seed) * 0.6 + 40.0
    xs, ys = _grid(height, width)
    specs = []
    for k in range(figures):
        radius = rng.uniform(0.1, 0.2) * min(height, width)
        specs.append({
            "kind": "disc" if k % 2 == 0 else "box",
            "radius": radius,
            "start": rng.uniform([radius, radius], [width - radius, height - radius]),
            "velocity": rng.uniform(-max_speed, max_speed, size=2),
            "texture": textured_image(height + 64, width + 64, seed + 1000 + k, sigmas=(1.0, 2.5)),
            "gain": rng.uniform(0.6, 1.0),
        })
    video = np.empty((frames, height, width), np.float32)
    flows = np.zeros((max(frames - 1, 0), height, width, 2), np.float32)
    for t in range(frames):
        image = background.astype(np.float64)
        top = np.full((height, width), -1)
        for k, spec in enumerate(specs):
            cx, cy = spec["start"] + t * spec["velocity"]
            if spec["kind"] == "disc":
                inside = spec["radius"] - np.hypot(xs - cx, ys - cy)
            else:
                inside = spec["radius"] - np.maximum(np.abs(xs - cx), np.abs(ys - cy))
            alpha = np.clip(inside + 0.5, 0.0, 1.0)
            texture = _sample(spec["texture"], xs - cx + width / 2 + 32, ys - cy + height / 2 + 32)
            image = (1 - alpha) * image + alpha * texture * spec["gain"]
            top[alpha > 0.5] = k
        video[t] = np.clip(image, 0, 255)
        if t < frames - 1:
            for k, spec in enumerate(specs):
                flows[t][top == k] = spec["velocity"]
    return video, flows


def end_point_error(flow: np.ndarray, reference: np.ndarray, border: int = 0) -> float:
    """Mean Euclidean distance between two flows ([..., H, W, 2]), ``border`` pixels left out per side."""
    diff = np.asarray(flow, np.float64) - np.asarray(reference, np.float64)
    if border:
        diff = diff[..., border:-border, border:-border, :]
    return float(np.sqrt((diff ** 2).sum(-1)).mean())
