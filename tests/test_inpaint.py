"""Latent-diffusion inpainting: model assembly, DDIM sampling, diffusers-format save/load, training."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from diffusers import UNet2DModel

import vadlib.inpaint
from vadlib.inpaint import (
    ARCHITECTURE,
    InpaintingLDM,
    ddim_inpaint,
    example_grid,
    inpaint_frames,
    inpaint_video,
    train_ldm,
)
from vadlib.stores import StoreError, open_store, write_store

TINY = dict(ARCHITECTURE, vq_channels=[8, 16, 16], vq_layers=1, codes=32, unet_channels=[16, 32],
            unet_layers=1, unet_attention=[False, True], attention_head_dim=8)
FRAME_ATTRS = {"source": "test", "fps": 25, "original_size": [0, 0], "stored_size": [0, 0]}
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return InpaintingLDM.build(TINY).eval()


def test_the_figure_job_loads_no_diffusers():
    """Names of vadlib.inpaint load their module on first use: the figure job skips seconds of imports."""
    probe = "import sys; from vadlib.inpaint import example_grid; print('diffusers' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
    with pytest.raises(AttributeError, match="no attribute 'inpaint_all'"):
        vadlib.inpaint.inpaint_all  # noqa: B018 - the attribute access is what fails


def _frames(seed=0, n=3, h=30, w=45):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def _masks(n=3, h=30, w=45):
    masks = np.zeros((n, h, w), bool)
    masks[:, 4:17, 9:31] = True
    masks[1, 20:, :5] = True
    return masks


def test_layout_of_the_unet_input(tiny):
    assert tiny.unet.config.in_channels == 7 and tiny.unet.config.out_channels == 3
    assert tiny.multiple == 8  # VQ factor 4 times one UNet downsampling
    image = torch.rand(2, 3, 16, 24) * 2 - 1
    mask = torch.zeros(2, 1, 16, 24)
    mask[:, :, :8, :12] = 1
    cond = tiny.condition(image, mask)
    assert cond.shape == (2, 4, 4, 6)
    assert set(cond[:, 3].unique().tolist()) == {-1.0, 1.0}  # mask channel in {-1, 1}, nearest-resized
    assert torch.equal(cond[:, 3, :2, :3], torch.ones(2, 2, 3))
    # The masked image is (1 - mask) * image in [0, 1] mapped to [-1, 1]: -1 under the mask.
    masked = image.clone()
    masked[mask.expand_as(image) > 0] = -1
    assert torch.allclose(cond[:, :3], tiny.encode(masked))


def test_ddim_shapes_and_outside_pixels(tiny):
    image = torch.rand(2, 3, 16, 24) * 2 - 1
    mask = torch.zeros(2, 1, 16, 24)
    mask[:, :, 4:12, 4:20] = 1
    out = ddim_inpaint(tiny, image, mask, steps=4, generator=torch.Generator().manual_seed(0))
    assert out.shape == image.shape
    assert torch.equal(out * (1 - mask), image * (1 - mask))
    assert not torch.equal(out, image)


def test_outside_mask_pixels_are_exactly_the_input(tiny):
    frames, masks = _frames(), _masks()
    out = inpaint_frames(tiny, frames, masks, 3, 0.0, torch.Generator().manual_seed(0), CPU)
    assert out.shape == frames.shape and out.dtype == np.uint8
    assert np.array_equal(out[~masks], frames[~masks])
    assert (out[masks] != frames[masks]).mean() > 0.5
    again = inpaint_frames(tiny, frames, masks, 3, 0.0, torch.Generator().manual_seed(0), CPU)
    assert np.array_equal(out, again)
    with_eta = inpaint_frames(tiny, frames, masks, 3, 1.0, torch.Generator().manual_seed(0), CPU)
    assert not np.array_equal(out, with_eta)


def test_save_and_reload_gives_identical_outputs(tiny, tmp_path):
    tiny = copy.deepcopy(tiny)
    tiny.latent_scale = 0.7
    tiny.save_pretrained(tmp_path / "model", {"pretrained": False})
    loaded = InpaintingLDM.from_pretrained(tmp_path / "model")
    assert loaded.latent_scale == pytest.approx(0.7) and loaded.pretrained is False
    frames, masks = _frames(1), _masks()
    a = inpaint_frames(tiny, frames, masks, 4, 0.0, torch.Generator().manual_seed(5), CPU)
    b = inpaint_frames(loaded, frames, masks, 4, 0.0, torch.Generator().manual_seed(5), CPU)
    assert np.array_equal(a, b)


def test_user_weights_directory(tiny, tmp_path):
    """A user's diffusers-format model: vqvae/, unet/ and a scheduler config at the top."""
    tiny.vqvae.save_pretrained(tmp_path / "user" / "vqvae")
    tiny.unet.save_pretrained(tmp_path / "user" / "unet")
    tiny.scheduler.save_config(tmp_path / "user")
    model = InpaintingLDM.from_pretrained(tmp_path / "user")
    assert model.pretrained is True and model.latent_scale == 1.0
    assert model.scheduler.config.steps_offset == 1
    with pytest.raises(FileNotFoundError, match="nothing: no such inpainting model directory .*inpaint.weights"):
        InpaintingLDM.from_pretrained(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="vqvae/config.json is missing"):
        InpaintingLDM.from_pretrained(tmp_path / "empty")
    # A plain (non-inpainting) UNet with 4 input channels is refused with the field named.
    UNet2DModel(in_channels=4, out_channels=3, block_out_channels=(16, 32), layers_per_block=1,
                down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
                norm_num_groups=8).save_pretrained(tmp_path / "bad" / "unet")
    tiny.vqvae.save_pretrained(tmp_path / "bad" / "vqvae")
    with pytest.raises(ValueError, match="bad/unet: in_channels 4 / out_channels 3, expected 7"):
        InpaintingLDM.from_pretrained(tmp_path / "bad")


def _video(tmp_path, name, frames):
    return write_store(tmp_path / f"{name}.zarr", "frames", frames, FRAME_ATTRS)


def test_train_ldm_lowers_its_losses(tmp_path):
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:24, 0:24]
    paths = []
    for v in range(2):
        frames = np.empty((12, 24, 24, 3), np.uint8)
        for t in range(12):
            frames[t] = (np.stack([x * 8, y * 8, (x + y) * 4], -1) + rng.integers(0, 30, 3)).clip(0, 255)
        paths.append(str(_video(tmp_path, f"v{v}", frames)))
    params = dict(TINY, crop=16, frames_per_video=12, batch_size=8, ae_epochs=12, ae_lr=3e-3,
                  unet_epochs=12, unet_lr=2e-3, ema_decay=0.999, seed=0)
    meta = train_ldm(paths, tmp_path / "ldm", params, "cpu")
    assert meta["frames"] == 24 and meta["pretrained"] is False
    ae, unet = meta["ae_losses"], meta["unet_losses"]
    assert len(ae) == 12 and len(unet) == 12
    assert np.mean(ae[-3:]) < 0.7 * np.mean(ae[:2])
    assert np.mean(unet[-4:]) < 0.9 * np.mean(unet[:2])
    model = InpaintingLDM.from_pretrained(tmp_path / "ldm")
    assert model.pretrained is False and model.latent_scale == pytest.approx(meta["latent_scale"])
    assert json.loads((tmp_path / "ldm" / "vadlib_ldm.json").read_text())["config"]["crop"] == 16


def test_inpaint_video_stage_and_grid(tiny, tmp_path):
    frames = _frames(2, n=5, h=24, w=32)
    masks = np.zeros((5, 24, 32), bool)
    masks[[0, 3], 6:14, 8:20] = True
    _video(tmp_path, "cam1", frames)
    write_store(tmp_path / "m.zarr", "masks", masks, {"generator": "lama", "parameters": {}})
    tiny.save_pretrained(tmp_path / "model", {"pretrained": False})
    params = {"weights": None, "steps": 3, "eta": 0.0, "batch_size": 1, "seed": 0}
    inpaint_video(tmp_path / "cam1.zarr", tmp_path / "m.zarr", tmp_path / "out.zarr", tmp_path / "model", params, "cpu")
    store = open_store(tmp_path / "out.zarr", "inpainted")
    out = store.read()
    assert store.attrs["pretrained"] is False and store.attrs["parameters"]["steps"] == 3
    assert store.attrs["inpainted_frames"] == 2
    assert np.array_equal(out[[1, 2, 4]], frames[[1, 2, 4]])
    assert np.array_equal(out[~masks], frames[~masks])
    assert not np.array_equal(out[0], frames[0])
    # Batching does not change the result (one noise generator per video, drawn frame batch by batch).
    inpaint_video(tmp_path / "cam1.zarr", tmp_path / "m.zarr", tmp_path / "out2.zarr", tmp_path / "model", params,
                  "cpu")
    assert np.array_equal(open_store(tmp_path / "out2.zarr", "inpainted").read(), out)
    png = example_grid(tmp_path / "cam1.zarr", tmp_path / "m.zarr", tmp_path / "out.zarr", tmp_path / "grid.png", 4)
    assert png.stat().st_size > 1000
    import matplotlib.image

    assert matplotlib.image.imread(png).shape[:2] == (660, 440)  # 3 rows x 2 masked frames, 2.2 in each, 100 dpi
    # a video without any masked frame (low masks.frame_prob) gets a figure saying so, not a failed run
    write_store(tmp_path / "none.zarr", "masks", np.zeros_like(masks), {"generator": "lama", "parameters": {}})
    empty = example_grid(tmp_path / "cam1.zarr", tmp_path / "none.zarr", tmp_path / "out.zarr", tmp_path / "e.png")
    assert matplotlib.image.imread(empty).shape[:2] == (150, 600)
    write_store(tmp_path / "bad.zarr", "masks", masks[:4], {"generator": "lama", "parameters": {}})
    with pytest.raises(StoreError, match="cam1"):
        inpaint_video(tmp_path / "cam1.zarr", tmp_path / "bad.zarr", tmp_path / "o.zarr", tmp_path / "model", params,
                      "cpu")
