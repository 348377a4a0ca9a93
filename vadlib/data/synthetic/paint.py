"""Drawing primitives with OpenCV at sub-pixel precision, into a frame and into a label image.

A primitive is a tuple whose first item names its kind and whose last item is its RGB colour:

- ``("line", (p0, p1), thickness_px, color)``     (round caps)
- ``("polyline", points [n, 2], thickness_px, color)``   (closed)
- ``("poly", points [n, 2], color)``                       (filled)
- ``("circle", center, radius_px, color)``                 (filled)

Points are image coordinates ``(x, y)`` in pixels. :func:`compile_prims` converts them once to
OpenCV's fixed-point form; :func:`draw` then draws frames anti-aliased and label images (one object id
per pixel) with hard edges, in the same painter's order, so that a label image holds the visible
pixels of every object.
"""

from __future__ import annotations

import cv2
import numpy as np

SHIFT = 4
ONE = 1 << SHIFT
_LIMIT = 30000.0  # keeps fixed-point coordinates far inside int32 for points near the camera

Prim = tuple


def _fx(v: float) -> int:
    return int(round(min(max(float(v), -_LIMIT), _LIMIT) * ONE))


def fixed(points: np.ndarray) -> np.ndarray:
    """Fixed-point int32 copy of image points ``[n, 2]``."""
    return np.round(np.clip(np.asarray(points, dtype=np.float64), -_LIMIT, _LIMIT) * ONE).astype(np.int32)


def compile_prims(prims: list[Prim]) -> list[tuple]:
    """Primitives in OpenCV's fixed-point form, ready for :func:`draw`."""
    out = []
    for prim in prims:
        kind = prim[0]
        if kind == "line":
            (x0, y0), (x1, y1) = prim[1]
            out.append((0, (_fx(x0), _fx(y0)), (_fx(x1), _fx(y1)), max(1, int(round(prim[2]))), prim[3]))
        elif kind == "circle":
            x, y = prim[1]
            out.append((1, (_fx(x), _fx(y)), max(1, int(round(prim[2] * ONE))), prim[3]))
        elif kind == "poly":
            out.append((2, [fixed(prim[1])], prim[2]))
        elif kind == "polyline":
            out.append((3, [fixed(prim[1])], max(1, int(round(prim[2]))), prim[3]))
        else:  # pragma: no cover - a programming error
            raise ValueError(f"unknown primitive kind {kind!r}")
    return out


def draw(image: np.ndarray, compiled: list[tuple], value: int | None = None) -> None:
    """Draw compiled primitives into ``image`` in place.

    With ``value`` given, ``image`` is a single-channel label image and every primitive is drawn with
    that value and hard edges; otherwise each primitive is drawn anti-aliased in its own colour.
    """
    line_type = cv2.LINE_8 if value is not None else cv2.LINE_AA
    fill = (value,) if value is not None else None
    for c in compiled:
        kind = c[0]
        color = fill or c[-1]
        if kind == 0:
            cv2.line(image, c[1], c[2], color, c[3], line_type, SHIFT)
        elif kind == 1:
            cv2.circle(image, c[1], c[2], color, -1, line_type, SHIFT)
        elif kind == 2:
            cv2.fillPoly(image, c[1], color, line_type, SHIFT)
        else:
            cv2.polylines(image, c[1], True, color, c[2], line_type, SHIFT)


def paint(image: np.ndarray, prims: list[Prim], value: int | None = None) -> None:
    """Compile and draw ``prims`` (see :func:`draw`)."""
    draw(image, compile_prims(prims), value)
