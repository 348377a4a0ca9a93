"""The report's figure of spatial pseudo-anomalies: original, mask and inpainted frames side by side."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vadlib.masks.stage import check_masks_for_frames, video_name
from vadlib.runtime import save_figure
from vadlib.stores import StoreError, open_store


def example_grid(frames_path: str | Path, masks_path: str | Path, inpainted_path: str | Path,
                 out_png: str | Path, n: int = 6) -> Path:
    """Write a 3 x ``n`` grid (rows: original, mask in red over the frame, inpainted) of ``n`` masked
    frames spread evenly over the video."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frames = open_store(frames_path, "frames")
    masks = check_masks_for_frames(masks_path, frames_path)
    inpainted = open_store(inpainted_path, "inpainted")
    if inpainted.shape != frames.shape:
        raise StoreError(f"video {video_name(frames_path)}: inpainted store {inpainted_path} is "
                         f"{list(inpainted.shape)}, its frames are {list(frames.shape)}")
    masked = np.flatnonzero(masks.read().any(axis=(1, 2)))
    if masked.size == 0:  # a valid outcome of a low masks.frame_prob: say so in the figure, do not fail
        fig, ax = plt.subplots(figsize=(6, 1.5))
        ax.axis("off")
        ax.text(0.5, 0.5, f"{video_name(frames_path)}: no frame of this video was masked", ha="center", va="center")
        return save_figure(fig, out_png, dpi=100)
    chosen = masked[np.unique(np.linspace(0, masked.size - 1, min(n, masked.size)).round().astype(int))]
    fig, axes = plt.subplots(3, len(chosen), figsize=(2.2 * len(chosen), 6.6), squeeze=False)
    for col, t in enumerate(chosen):
        frame, mask = frames.data[int(t)], masks.data[int(t)]
        overlay = frame.astype(np.float32)
        overlay[mask] = 0.4 * overlay[mask] + 0.6 * np.array([255.0, 0.0, 0.0])
        for row, image in enumerate((frame, overlay.astype(np.uint8), inpainted.data[int(t)])):
            axes[row, col].imshow(image)
            axes[row, col].set_xticks([])
            axes[row, col].set_yticks([])
        axes[0, col].set_title(f"frame {int(t)}", fontsize=9)
    for row, label in enumerate(("original", "mask", "inpainted")):
        axes[row, 0].set_ylabel(label)
    kind = "pretrained" if inpainted.attrs.get("pretrained") else "embedded small LDM (no pretrained weights)"
    fig.suptitle(f"{video_name(frames_path)}: LDM inpainting, {kind}", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out_png, dpi=100)

