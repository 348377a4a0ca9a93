"""Per-frame masks: LaMa's random masks, object masks, and the masks stage."""

from vadlib.masks.lama import PRESETS, LamaMaskGenerator, lama_config
from vadlib.masks.stage import check_masks_for_frames, make_masks, video_name, video_seed

__all__ = ["PRESETS", "LamaMaskGenerator", "lama_config", "check_masks_for_frames", "make_masks",
           "video_name", "video_seed"]
