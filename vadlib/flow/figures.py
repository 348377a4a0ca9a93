"""The report's figure of temporal pseudo-anomalies: flow fields before and after the mixup under
their frame's mask box."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vadlib.flow.mixup import _mask_reader
from vadlib.masks.stage import video_name
from vadlib.runtime import save_figure
from vadlib.stores import StoreError, open_store

PANEL_INCHES = 2.2  # width and height of one flow panel
DPI = 100
WHEEL = 0.6  # width of the colour wheel's column, in panels


def flow_to_rgb(flow: np.ndarray, max_norm: float | None = None) -> np.ndarray:
    """uint8 [H, W, 3] colour coding of a flow field [H, W, 2] (x, y): hue is the direction (rightward
    red, then yellow, green, ... counter-clockwise in image coordinates), saturation the magnitude over
    ``max_norm`` (default: the field's largest), so no motion is white, as on Middlebury's colour wheel."""
    flow = np.nan_to_num(np.asarray(flow, np.float32))
    magnitude = np.hypot(flow[..., 0], flow[..., 1])
    scale = float(max_norm if max_norm is not None else magnitude.max()) or 1.0
    angle = np.degrees(np.arctan2(-flow[..., 1], flow[..., 0])) % 360.0  # image y points down
    hsv = np.empty(flow.shape[:2] + (3,), np.uint8)
    hsv[..., 0] = np.round(angle / 2.0).astype(np.uint16) % 180  # OpenCV hue: 0..179
    hsv[..., 1] = np.round(255 * np.clip(magnitude / scale, 0.0, 1.0)).astype(np.uint8)
    hsv[..., 2] = 255
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def colour_wheel(size: int = 64) -> np.ndarray:
    """The key of :func:`flow_to_rgb`: RGB [size, size, 3] of the flow pointing from the centre, unit
    magnitude on the circle, white outside it."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    r = (size - 1) / 2.0
    wheel = flow_to_rgb(np.stack([(x - r) / r, (y - r) / r], axis=-1), 1.0)
    wheel[np.hypot(x - r, y - r) > r] = 255
    return wheel


def mixup_grid(flow_path: str | Path, masks_path: str | Path, mixup_path: str | Path, out_png: str | Path,
               n: int = 6) -> Path:
    """Write a 2 x ``n`` grid of ``n`` mixed flow frames spread evenly over the video: the original
    flow with its frame's mask (outline) and mask box (red) and the donor patch ``p_r`` (dashed blue),
    then the mixup flow with the box. Both panels of a column share one colour scale, so the change
    under the box reads directly; the colour wheel is the key."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    flow = open_store(flow_path, "flow")
    mixup = open_store(mixup_path, "flow")
    masks = open_store(masks_path, "masks")
    video = video_name(flow_path)
    if mixup.shape != flow.shape:
        raise StoreError(f"video {video}: mixup store {mixup_path} is {list(mixup.shape)}, "
                         f"its flow {flow_path} is {list(flow.shape)}")
    if masks.shape[0] != len(flow) + 1:
        raise StoreError(f"video {video}: masks store {masks_path} is [T, H, W] = {list(masks.shape)}, "
                         f"its flow {flow_path} is [T-1, H, W] = {list(flow.shape[:3])}")
    boxes, lambdas, sources = (mixup.attrs.get(key) for key in ("boxes", "lambdas", "sources"))
    if not all(isinstance(v, list) and len(v) == len(flow) for v in (boxes, lambdas, sources)):
        raise StoreError(f"{mixup_path}: attrs 'boxes', 'lambdas' and 'sources' must list one entry per "
                         f"flow frame ({len(flow)}); is it a mixup store?")
    mixed = np.flatnonzero([box is not None for box in boxes])
    if mixed.size == 0:
        raise ValueError(f"{mixup_path}: no flow frame of video {video} has a mask box "
                         f"(masks {masks_path} are empty); nothing to show")
    chosen = mixed[np.unique(np.linspace(0, mixed.size - 1, min(n, mixed.size)).round().astype(int))]
    mask_at = _mask_reader(masks, flow.shape[1:3])
    cols = len(chosen)
    fig, axes = plt.subplots(2, cols + 1, figsize=(PANEL_INCHES * (cols + WHEEL), 2 * PANEL_INCHES), squeeze=False,
                             gridspec_kw={"width_ratios": [1] * cols + [WHEEL]})
    for col, t in enumerate(int(t) for t in chosen):
        before, after = flow.data[t].astype(np.float32), mixup.data[t].astype(np.float32)
        scale = float(max(np.hypot(*before.transpose(2, 0, 1)).max(), np.hypot(*after.transpose(2, 0, 1)).max()))
        y0, y1, x0, x1 = boxes[t]
        ry, rx = sources[t]
        for row, field in enumerate((before, after)):
            ax = axes[row, col]
            ax.imshow(flow_to_rgb(field, scale))
            ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, edgecolor="red", lw=1.5))
            ax.set_xticks([])
            ax.set_yticks([])
        axes[0, col].contour(mask_at(t, t + 1)[0].astype(np.uint8), levels=[0.5], colors="black", linewidths=0.8)
        axes[0, col].add_patch(Rectangle((rx - 0.5, ry - 0.5), x1 - x0, y1 - y0, fill=False, edgecolor="blue",
                                         lw=1.2, linestyle="--"))
        axes[0, col].set_title(f"flow {t}->{t + 1}\nlambda = {lambdas[t]:.2f}", fontsize=9)
    axes[0, 0].set_ylabel("flow, mask, box")
    axes[1, 0].set_ylabel("mixup flow")
    axes[0, cols].imshow(colour_wheel())
    axes[0, cols].set_title("direction\n(white: still)", fontsize=8)
    for ax in axes[:, cols]:
        ax.axis("off")
    fig.suptitle(f"{video}: flow mixup, p = lambda p' + (1 - lambda) p_r under the red box "
                 f"(p_r: dashed blue)", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out_png, dpi=DPI)
