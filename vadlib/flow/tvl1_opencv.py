"""The reference: OpenCV's Dual TV-L1 optical flow (``cv2.optflow``, opencv-contrib), one pair per call."""

from __future__ import annotations

import numpy as np

from vadlib.flow.tvl1_params import TVL1Params


def opencv_tvl1(params: TVL1Params | None = None):
    """A ``cv2.optflow.DualTVL1OpticalFlow`` with ``params`` (reusable across pairs of one size)."""
    import cv2

    if not hasattr(cv2, "optflow"):
        raise ImportError("cv2.optflow is missing: Dual TV-L1 needs opencv-contrib-python(-headless)")
    prm = params or TVL1Params()
    return cv2.optflow.DualTVL1OpticalFlow_create(
        tau=prm.tau, lambda_=prm.lambda_, theta=prm.theta, nscales=prm.nscales, warps=prm.warps,
        epsilon=prm.epsilon, innnerIterations=prm.inner_iterations, outerIterations=prm.outer_iterations,
        scaleStep=prm.scale_step, gamma=prm.gamma, medianFiltering=prm.median_filtering,
        useInitialFlow=False)


def tvl1_opencv(prev: np.ndarray, nxt: np.ndarray, params: TVL1Params | None = None,
                flow_op=None) -> np.ndarray:
    """Flow from ``prev`` to ``nxt`` ([N, H, W] or [H, W] grayscale, uint8 or float on the 0..255 scale)
    -> [N, H, W, 2] (or [H, W, 2]) float32, one OpenCV call per pair.

    Float frames are handed to OpenCV as uint8-equivalent values (OpenCV multiplies float input by 255,
    so they are divided by 255 first). ``flow_op`` reuses an :func:`opencv_tvl1` object.
    """
    prev, nxt = np.asarray(prev), np.asarray(nxt)
    if prev.shape != nxt.shape or prev.ndim not in (2, 3):
        raise ValueError(f"frame pairs must be two [N, H, W] or [H, W] arrays of one shape, got "
                         f"{list(prev.shape)} and {list(nxt.shape)}")
    single = prev.ndim == 2
    prev, nxt = (prev[None], nxt[None]) if single else (prev, nxt)
    if prev.dtype != np.uint8:
        prev, nxt = (np.ascontiguousarray(a, dtype=np.float32) / np.float32(255) for a in (prev, nxt))
    op = flow_op or opencv_tvl1(params)
    flows = np.stack([op.calc(a, b, None) for a, b in zip(prev, nxt)])
    return flows[0] if single else flows
