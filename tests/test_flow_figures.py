"""The report's flow mixup figure (vadlib.flow.figures) on tiny stores."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pytest

from vadlib.flow.figures import DPI, PANEL_INCHES, WHEEL, colour_wheel, flow_to_rgb, mixup_grid
from vadlib.flow.mixup import mixup_flow
from vadlib.stores import StoreError, write_store


def test_colour_coding_of_directions_and_magnitudes():
    flow = np.array([[[0, 0], [2, 0], [1, 0], [0, -2], [-2, 0]]], np.float32)  # still, right, right/2, up, left
    rgb = flow_to_rgb(flow).astype(int)
    assert rgb[0, 0].tolist() == [255, 255, 255]  # no motion is white
    assert rgb[0, 1].tolist() == [255, 0, 0]  # full magnitude to the right: saturated red
    assert rgb[0, 2, 0] == 255 and 120 < rgb[0, 2, 1] == rgb[0, 2, 2] < 135  # half the magnitude: pale red
    assert rgb[0, 4].tolist() == [0, 255, 255]  # left: cyan, the opposite hue
    assert rgb[0, 3, 1] == 255 and rgb[0, 3, 2] == 0 and rgb[0, 3, 0] < 160  # up: yellow-green
    assert flow_to_rgb(flow, max_norm=4.0)[0, 1].tolist() == rgb[0, 2].tolist()  # scaled by max_norm
    wheel = colour_wheel(33)
    assert wheel[16, 32].tolist() == [255, 0, 0] and wheel[0, 0].tolist() == [255, 255, 255]


def _stores(tmp_path, masked_frames):
    t, h, w = 10, 20, 28
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    flow = np.repeat(np.stack([x / 4, y / 8 - 1], axis=-1)[None], t - 1, axis=0).astype(np.float16)
    masks = np.zeros((t, h, w), bool)
    for i in masked_frames:
        masks[i, 3:9, 5:14] = True
    write_store(tmp_path / "flow" / "v1.zarr", "flow", flow, {"method": "tvl1", "parameters": {}})
    write_store(tmp_path / "masks" / "v1.zarr", "masks", masks, {"generator": "lama", "parameters": {}})
    mixup_flow(tmp_path / "flow" / "v1.zarr", tmp_path / "masks" / "v1.zarr", tmp_path / "mixup" / "v1.zarr",
               {"seed": 0})
    return tmp_path / "flow" / "v1.zarr", tmp_path / "masks" / "v1.zarr", tmp_path / "mixup" / "v1.zarr"


@pytest.mark.parametrize("masked, columns", [([1, 4], 2), ([0, 1, 2, 3, 4, 5, 6, 7, 8], 6)])
def test_grid_has_one_column_per_shown_mixed_flow(tmp_path, masked, columns):
    """Two masked frames give two columns; nine give the ``n = 6`` default; the last mask (frame 9)
    has no flow and is not shown."""
    flow, masks, mixup = _stores(tmp_path, masked)
    out = mixup_grid(flow, masks, mixup, tmp_path / "fig" / "v1.png")
    image = matplotlib.image.imread(out)
    assert image.shape[:2] == (round(2 * PANEL_INCHES * DPI), round((columns + WHEEL) * PANEL_INCHES * DPI))
    red = (image[..., 0] > 0.9) & (image[..., 1] < 0.2) & (image[..., 2] < 0.2)
    assert red.sum() > 50  # the mask boxes are drawn
    assert not list((tmp_path / "fig").glob(".*"))  # no temporary left


def test_video_without_a_mask_fails_naming_the_store(tmp_path):
    flow, masks, mixup = _stores(tmp_path, [9])  # the last frame only: no flow frame is mixed
    with pytest.raises(ValueError, match=r"mixup/v1\.zarr: no flow frame of video v1 has a mask box"):
        mixup_grid(flow, masks, mixup, tmp_path / "v1.png")
    assert not (tmp_path / "v1.png").exists()


def test_plain_flow_store_is_not_taken_for_a_mixup_store(tmp_path):
    flow, masks, _ = _stores(tmp_path, [2])
    with pytest.raises(StoreError, match="boxes"):
        mixup_grid(flow, masks, flow, tmp_path / "v1.png")
