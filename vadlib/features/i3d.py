"""The I3D ResNet-50 feature networks and their Kinetics-400 checkpoints.

Two backbones (``features.i3d.backbone``): ``pytorchvideo`` (the default, below) and ``resnet3d``,
pytorch-resnet3d's ``I3Res50``, the backbone of the published RTFM features
(:mod:`vadlib.features.resnet3d`); :func:`build_i3d` builds either.

The ``pytorchvideo`` network is pytorchvideo's ``i3d_r50`` ("Quo Vadis, Action Recognition?", 8x8 R50 setting of its
model zoo). Features are the 2048-d global average pool before the classification head: the output of
the last residual stage averaged over time, height and width, so any clip length and crop size works
(the zoo head's fixed ``(4, 7, 7)`` pooling only fits 8x224x224 clips).

Weights. ``load_checkpoint`` reads the zoo's ``I3D_8x8_R50.pyth`` (a ``torch.save``'d dict with the
state dict under ``model_state``) into the full classifier, strictly: a missing file, missing or
unexpected keys and shape mismatches raise :class:`WeightsError` naming the file and the first
offending keys.

Without weights (``pretrained: false``, "untrained") the network is a seeded random-feature extractor.
pytorchvideo's ResNet initialisation alone is degenerate for that use: it zeroes the last BatchNorm of
every bottleneck, and with eval-mode BatchNorm (running mean 0, variance 1) the network reduces to the
stem and the strided 1x1 projection shortcuts, whose features depend on a sparse grid of stem positions
only (a square moved between grid sites leaves them unchanged). So, after the seeded initialisation,
:func:`calibrate_untrained` sets those BatchNorm weights to 1 (residual branches active) and fits every
BatchNorm's running statistics in one train-mode pass over seeded smooth noise clips (Gaussian noise
trilinearly upsampled from ``[4, 8, 8]`` to ``[16, 64, 64]``, standardised), so activations stay bounded
through the 16 blocks and features respond to the whole crop. This is a choice for a network without
weights; loaded checkpoints are used exactly as stored.

Cost on one CPU core: importing torch and pytorchvideo about 4 s, building the network about 0.3 s,
the calibration of an untrained one about 1 s; the extractor caches the built network within a process.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import torch
import torch.nn as nn

FEATURE_DIM = 2048
CHECKPOINT_KEY = "model_state"


class WeightsError(ValueError):
    """A weights file is missing, unreadable or does not fit the network."""


def _i3d_r50() -> nn.Module:
    """pytorchvideo's I3D R50 classifier (Kinetics-400 head), randomly initialised."""
    with warnings.catch_warnings():  # pytorchvideo's imports emit deprecation warnings of torch
        warnings.simplefilter("ignore")
        from pytorchvideo.models.hub import i3d_r50

        return i3d_r50(pretrained=False)


class I3DFeatures(nn.Module):
    """Clips ``[N, 3, T, H, W]`` -> features ``[N, 2048]`` (global average pool of the last stage)."""

    def __init__(self, classifier: nn.Module):
        super().__init__()
        self.blocks = nn.Sequential(*list(classifier.blocks)[:-1])  # stem, res2, pool, res3-res5

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.blocks(clips).float().mean(dim=(2, 3, 4))


CALIBRATION_CLIPS, CALIBRATION_SHAPE = 4, (16, 64, 64)


def calibrate_untrained(model: nn.Module, seed: int) -> None:
    """Activate the residual branches and fit BatchNorm statistics on seeded smooth noise (see above)."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        if getattr(norm, "block_final_bn", False):
            nn.init.ones_(norm.weight)
        norm.reset_running_stats()
        norm.momentum = None                      # cumulative average: one pass gives the batch statistics
    generator = torch.Generator().manual_seed(int(seed))
    coarse = torch.randn(CALIBRATION_CLIPS, 3, 4, 8, 8, generator=generator)
    clips = nn.functional.interpolate(coarse, size=CALIBRATION_SHAPE, mode="trilinear", align_corners=False)
    clips = (clips - clips.mean()) / clips.std()
    model.train()
    with torch.no_grad():
        model(clips)
    model.eval()
    for norm in norms:
        norm.momentum = 0.1


def sha256_file(path: str | os.PathLike, block: int = 1 << 22) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def _first(keys, n: int = 5) -> str:
    keys = sorted(keys)
    return ", ".join(keys[:n]) + (f" (and {len(keys) - n} more)" if len(keys) > n else "")


def fit_problems(expected: dict[str, torch.Tensor], state: dict[str, torch.Tensor],
                 optional: set[str] = frozenset()) -> list[str]:
    """How a loaded state dict fails the network's (``expected``): missing keys (beyond ``optional``),
    unexpected keys, shape mismatches; empty when it fits."""
    missing = expected.keys() - state.keys() - optional
    unexpected = state.keys() - expected.keys()
    shapes = [f"{k} {list(state[k].shape)} vs {list(v.shape)}" for k, v in expected.items()
              if k in state and tuple(state[k].shape) != tuple(v.shape)]
    problems = []
    if missing:
        problems.append(f"missing keys {_first(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {_first(unexpected)}")
    if shapes:
        problems.append(f"shape mismatches (file vs network) {_first(shapes)}")
    return problems


def load_checkpoint(model: nn.Module, path: str | os.PathLike) -> None:
    """Load a pytorchvideo model-zoo checkpoint (state dict under ``model_state``) into ``model``."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such weights file (config key features.i3d.weights)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises several types for unreadable files
        raise WeightsError(f"{path}: not a readable torch checkpoint ({err})") from err
    if not isinstance(checkpoint, dict) or CHECKPOINT_KEY not in checkpoint:
        found = list(checkpoint)[:5] if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise WeightsError(f"{path}: expected a dict with the state dict under {CHECKPOINT_KEY!r}, "
                           f"found {found}")
    state = checkpoint[CHECKPOINT_KEY]
    problems = fit_problems(model.state_dict(), state)
    if problems:
        raise WeightsError(f"{path}: the checkpoint does not fit pytorchvideo's i3d_r50: "
                           + "; ".join(problems))
    model.load_state_dict(state)


BACKBONES = ("pytorchvideo", "resnet3d")
EXTRACTORS = {"pytorchvideo": "i3d_r50", "resnet3d": "i3d_r50_resnet3d"}


def build_i3d(weights: str | os.PathLike | None = None, weights_sha256: str | None = None,
              seed: int = 0, backbone: str = "pytorchvideo") -> tuple[nn.Module, dict]:
    """The feature network (eval mode, on the CPU) and its provenance for the store's attrs.

    ``weights``: path of a checkpoint of the ``backbone`` (pytorchvideo's ``I3D_8x8_R50.pyth``, or
    pytorch-resnet3d's ``i3d_r50_kinetics.pth``) or ``None`` for the seeded random initialisation;
    ``weights_sha256``: when given, the file's checksum must match.
    """
    if backbone not in BACKBONES:
        raise ValueError(f"features.i3d.backbone must be one of {list(BACKBONES)}, got {backbone!r}")
    weights = None if weights is None else str(weights)
    digest = None
    if weights is not None:
        if not Path(weights).is_file():
            raise WeightsError(f"{weights}: no such weights file (config key features.i3d.weights)")
        digest = sha256_file(weights)
        if weights_sha256 and digest != weights_sha256.lower():
            raise WeightsError(f"{weights}: SHA-256 is {digest}, config features.i3d.weights_sha256 "
                               f"expects {weights_sha256}")
    if backbone == "resnet3d":
        from vadlib.features.resnet3d import I3DResNet50, load_resnet3d_checkpoint

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            model = I3DResNet50()
        if weights is not None:
            load_resnet3d_checkpoint(model, weights)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            classifier = _i3d_r50()
        if weights is not None:
            load_checkpoint(classifier, weights)
        model = I3DFeatures(classifier)
    init = "checkpoint"
    if weights is None:
        calibrate_untrained(model, seed)
        init = "seeded; residual branches on; BatchNorm statistics from smooth noise"
    model.eval().requires_grad_(False)
    info = {"extractor": EXTRACTORS[backbone], "backbone": backbone, "weights": weights, "weights_sha256": digest,
            "pretrained": weights is not None, "seed": None if weights else int(seed), "init": init}
    return model, info

