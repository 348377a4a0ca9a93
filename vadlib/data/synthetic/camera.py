"""The pinhole camera of a synthetic scene and the 3-D shapes drawn through it.

World frame: metres, ``X`` to the right, ``Y`` up (the ground is ``Y = 0``), ``Z`` away from the camera.
The camera sits at ``(0, elevation, 0)`` with its optical axis along ``+Z``; the principal point is at
``(W / 2, horizon)``, so the horizon is the row ``horizon`` (above the image for a camera looking down
at the ground). This is a shifted-sensor model: vertical lines stay vertical, which keeps standing
figures upright, and a point on the ground at depth ``Z`` is drawn at ``f / Z`` pixels per metre.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Camera:
    height: int         # image rows
    width: int          # image columns
    horizon: float      # image row of the horizon (px; negative when above the image)
    focal: float        # focal length (px)
    elevation: float    # camera height above the ground (m)

    def project(self, points: np.ndarray) -> np.ndarray:
        """Image coordinates ``[..., 2]`` (x, y in px) of world points ``[..., 3]`` (X, Y, Z)."""
        points = np.asarray(points, dtype=np.float64)
        z = np.maximum(points[..., 2], 1e-3)
        x = self.width / 2 + self.focal * points[..., 0] / z
        y = self.horizon + self.focal * (self.elevation - points[..., 1]) / z
        return np.stack([x, y], axis=-1)

    def scale(self, z: float | np.ndarray) -> float | np.ndarray:
        """Pixels per metre at depth ``z``."""
        return self.focal / np.maximum(z, 1e-3)

    def depth_at_row(self, y: float | np.ndarray) -> float | np.ndarray:
        """Depth ``Z`` of the ground seen at image row ``y`` (rows below the horizon only)."""
        return self.focal * self.elevation / np.maximum(np.asarray(y, dtype=np.float64) - self.horizon, 1e-6)

    def half_width(self, z: float) -> float:
        """Half the width of the view (m) at depth ``z``."""
        return self.width / 2 * z / self.focal

    @property
    def position(self) -> np.ndarray:
        return np.array([0.0, self.elevation, 0.0])


def ground_frame(heading: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit forward and left vectors (3-D, on the ground) of a heading given as ground (dX, dZ)."""
    hx, hz = np.asarray(heading, dtype=np.float64) / max(float(np.hypot(*heading)), 1e-9)
    return np.array([hx, 0.0, hz]), np.array([-hz, 0.0, hx])


def box_faces(cam: Camera, center: np.ndarray, heading: np.ndarray, length: float, width: float,
              y0: float, y1: float) -> list[tuple[np.ndarray, str]]:
    """The faces of an oriented box that face the camera, as (image polygon [4, 2], face name).

    ``center`` is the ground point (X, Z) under the box, ``heading`` its long axis on the ground; the box
    spans heights ``y0 .. y1``. Face names: ``top``, ``side`` (long faces), ``end`` (short faces).
    """
    fwd, left = ground_frame(heading)
    c = np.array([center[0], 0.0, center[1]])
    up = np.array([0.0, 1.0, 0.0])
    hl, hw = length / 2, width / 2
    faces = []
    # (face centre offset, normal, two half-extent axes, name)
    specs = [
        (up * y1, up, fwd * hl, left * hw, "top"),
        (left * hw + up * (y0 + y1) / 2, left, fwd * hl, up * (y1 - y0) / 2, "side"),
        (-left * hw + up * (y0 + y1) / 2, -left, fwd * hl, up * (y1 - y0) / 2, "side"),
        (fwd * hl + up * (y0 + y1) / 2, fwd, left * hw, up * (y1 - y0) / 2, "end"),
        (-fwd * hl + up * (y0 + y1) / 2, -fwd, left * hw, up * (y1 - y0) / 2, "end"),
    ]
    for offset, normal, a, b, name in specs:
        centre = c + offset
        if np.dot(normal, cam.position - centre) <= 0:
            continue
        corners = np.stack([centre - a - b, centre + a - b, centre + a + b, centre - a + b])
        faces.append((cam.project(corners), name))
    return faces


_ANGLES = np.linspace(0, 2 * np.pi, 12, endpoint=False)
_COS, _SIN = np.cos(_ANGLES), np.sin(_ANGLES)


def ground_ellipse(cam: Camera, center: np.ndarray, axis: np.ndarray, r_major: float,
                   r_minor: float) -> np.ndarray:
    """Image polygon ``[12, 2]`` of an ellipse lying on the ground (e.g. a shadow)."""
    ax, az = axis
    norm = max(float(np.hypot(ax, az)), 1e-9)
    ax, az = ax / norm, az / norm
    c, s = _COS * r_major, _SIN * r_minor
    x = center[0] + c * ax - s * az
    z = np.maximum(center[1] + c * az + s * ax, 1e-3)
    return np.stack([cam.width / 2 + cam.focal * x / z, cam.horizon + cam.focal * cam.elevation / z], axis=1)
