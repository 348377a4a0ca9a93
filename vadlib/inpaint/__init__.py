"""Latent-diffusion inpainting: the model, its training, DDIM inpainting of frames and the example figure."""

from vadlib.inpaint.figures import example_grid
from vadlib.inpaint.model import ARCHITECTURE, InpaintingLDM
from vadlib.inpaint.sample import ddim_inpaint, inpaint_frames, inpaint_video
from vadlib.inpaint.train import TRAIN_DEFAULTS, train_ldm

__all__ = ["ARCHITECTURE", "InpaintingLDM", "TRAIN_DEFAULTS", "ddim_inpaint", "example_grid", "inpaint_frames",
           "inpaint_video", "train_ldm"]
