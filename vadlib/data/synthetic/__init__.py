"""The built-in synthetic surveillance dataset: procedurally generated scenes with labelled anomalies.

:func:`plan_videos` lists the videos (cheap, no rendering: the workflow calls it when it builds its
DAG); :func:`render_video` writes one video file, its masks and its annotation; :func:`render_all`
renders a whole dataset. The same config gives the same bytes.

Importing this package imports NumPy only; the rendering names (which need OpenCV) load on first use.
"""

from .plan import ANOMALY_TYPES, SyntheticConfigError, VideoPlan, check_config, plan_videos

_RENDER = ("VIDEO_EXT", "iter_frames", "output_paths", "render_all", "render_arrays", "render_video")

__all__ = ["ANOMALY_TYPES", "SyntheticConfigError", "VideoPlan", "check_config", "plan_videos", *_RENDER]


def __getattr__(name: str):
    if name in _RENDER:
        from . import render

        return getattr(render, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
