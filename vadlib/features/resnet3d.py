"""The ResNet-50 I3D of pytorch-resnet3d (``I3Res50``) as a 2048-d feature network, and its checkpoint.

pytorch-resnet3d (github.com/Tushar-N/pytorch-resnet3d, ``models/resnet.py``) ports the Kinetics-400
I3D ResNet-50 of "Non-local Neural Networks" (Wang et al., CVPR 2018) to PyTorch; its checkpoint
``i3d_r50_kinetics.pth`` (the variant without non-local blocks) is the backbone behind the published
ten-crop I3D features of ShanghaiTech and UCF-Crime that RTFM and the works after it use. This module
rebuilds that network with the checkpoint's own module names, so the file loads as it is:

=============  =====================================================================================
``conv1``      Conv3d 3 -> 64, kernel (5, 7, 7), stride (2, 2, 2), padding (2, 3, 3), no bias
``bn1``        BatchNorm3d(64), ReLU
``maxpool1``   MaxPool3d kernel (2, 3, 3), stride (2, 2, 2), no padding
``layer1``     3 bottlenecks of width 64 (out 256), spatial stride 1; temporal kernels 3, 3, 3
``maxpool2``   MaxPool3d kernel (2, 1, 1), stride (2, 1, 1)
``layer2``     4 bottlenecks of width 128 (out 512), spatial stride 2; temporal kernels 3, 1, 3, 1
``layer3``     6 bottlenecks of width 256 (out 1024), spatial stride 2; temporal kernels 3, 1, 3, 1, 3, 1
``layer4``     3 bottlenecks of width 512 (out 2048), spatial stride 2; temporal kernels 1, 3, 1
``avgpool``    global average over time, height and width -> 2048-d feature
``fc``         Linear 2048 -> 400 (Kinetics classes; kept so the checkpoint loads strictly, unused)
=============  =====================================================================================

A bottleneck ``layerK.i`` is ``conv1`` (kernel ``(3, 1, 1)`` where the block inflates in time, padding
``(1, 0, 0)``, else ``(1, 1, 1)``; temporal stride 1 everywhere), ``bn1``, ReLU, ``conv2`` (kernel
``(1, 3, 3)``, the layer's spatial stride in its first block, padding ``(0, 1, 1)``), ``bn2``, ReLU,
``conv3`` (1x1x1 to 4 x width), ``bn3``, plus the shortcut, ReLU. The first block of each layer has
``downsample`` (``downsample.0`` a 1x1x1 Conv3d with the layer's spatial stride, ``downsample.1`` its
BatchNorm3d). All convolutions are bias-free, all BatchNorms ``eps = 1e-5``. A 16-frame clip leaves
``conv1`` with 8 frames, ``maxpool1`` with 4 and ``maxpool2`` with 2, which ``avgpool`` averages.

Checkpoint. ``i3d_r50_kinetics.pth`` is a plain ``torch.save``'d state dict with exactly these keys
(``conv1.weight``, ``bn1.running_mean``, ``layer1.0.conv1.weight``, ``layer1.0.downsample.0.weight``,
... ``fc.bias``); a dict holding it under ``state_dict`` (or ``model_state``, so that a pytorchvideo
checkpoint given by mistake is reported by its keys) is read too. BatchNorm's ``num_batches_tracked``
(not in files written before PyTorch 0.4.1) may be absent; any other missing or unexpected key, or a
shape that differs, raises :class:`~vadlib.features.i3d.WeightsError` naming the file and the keys.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn as nn

from vadlib.features.i3d import FEATURE_DIM, WeightsError, fit_problems

NUM_CLASSES = 400
#: ``(width, blocks, spatial stride, temporal kernel of each block's conv1: 1 + 2 x flag)`` per layer.
LAYERS = ((64, 3, 1, (1, 1, 1)),
          (128, 4, 2, (1, 0, 1, 0)),
          (256, 6, 2, (1, 0, 1, 0, 1, 0)),
          (512, 3, 2, (0, 1, 0)))
#: Keys under which a checkpoint dict may hold the state dict (checked in order; the file itself is one).
WRAPPER_KEYS = ("state_dict", "model_state")


class Bottleneck(nn.Module):
    """The bottleneck block of ``I3Res50``: (3x1x1 or 1x1x1) -> 1x3x3 -> 1x1x1, with a shortcut."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int, inflate: bool,
                 downsample: nn.Module | None = None):
        super().__init__()
        t = 1 if inflate else 0
        self.conv1 = nn.Conv3d(inplanes, planes, kernel_size=(1 + 2 * t, 1, 1), padding=(t, 0, 0), bias=False)
        self.bn1 = nn.BatchNorm3d(planes)
        self.conv2 = nn.Conv3d(planes, planes, kernel_size=(1, 3, 3), stride=(1, stride, stride),
                               padding=(0, 1, 1), bias=False)
        self.bn2 = nn.BatchNorm3d(planes)
        self.conv3 = nn.Conv3d(planes, planes * self.expansion, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm3d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class I3DResNet50(nn.Module):
    """pytorch-resnet3d's ``I3Res50`` without non-local blocks. ``forward``: clips ``[N, 3, T, H, W]``
    -> features ``[N, 2048]`` (the average pool before ``fc``); :meth:`logits` gives the class scores."""

    def __init__(self, num_classes: int = NUM_CLASSES):
        super().__init__()
        self.conv1 = nn.Conv3d(3, 64, kernel_size=(5, 7, 7), stride=(2, 2, 2), padding=(2, 3, 3), bias=False)
        self.bn1 = nn.BatchNorm3d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool1 = nn.MaxPool3d(kernel_size=(2, 3, 3), stride=(2, 2, 2))
        self.maxpool2 = nn.MaxPool3d(kernel_size=(2, 1, 1), stride=(2, 1, 1))
        inplanes = 64
        for k, (planes, blocks, stride, inflate) in enumerate(LAYERS, 1):
            layer = self._make_layer(inplanes, planes, blocks, stride, inflate)
            setattr(self, f"layer{k}", layer)
            inplanes = planes * Bottleneck.expansion
        self.avgpool = nn.AdaptiveAvgPool3d((1, 1, 1))
        self.fc = nn.Linear(FEATURE_DIM, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    @staticmethod
    def _make_layer(inplanes: int, planes: int, blocks: int, stride: int, inflate: tuple[int, ...]) -> nn.Sequential:
        out = planes * Bottleneck.expansion
        downsample = None
        if stride != 1 or inplanes != out:
            downsample = nn.Sequential(nn.Conv3d(inplanes, out, kernel_size=1, stride=(1, stride, stride), bias=False),
                                       nn.BatchNorm3d(out))
        layers = [Bottleneck(inplanes, planes, stride, bool(inflate[0]), downsample)]
        layers += [Bottleneck(out, planes, 1, bool(flag)) for flag in inflate[1:]]
        return nn.Sequential(*layers)

    def features(self, clips: torch.Tensor) -> torch.Tensor:
        x = self.maxpool1(self.relu(self.bn1(self.conv1(clips))))
        x = self.maxpool2(self.layer1(x))
        x = self.layer4(self.layer3(self.layer2(x)))
        return self.avgpool(x).flatten(1)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.features(clips).float()

    def logits(self, clips: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(clips))


def load_resnet3d_checkpoint(model: I3DResNet50, path: str | os.PathLike) -> None:
    """Load ``i3d_r50_kinetics.pth`` (a plain state dict, or one under ``state_dict``) into ``model``."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such weights file (config key features.i3d.weights)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises several types for unreadable files
        raise WeightsError(f"{path}: not a readable torch checkpoint ({err})") from err
    for key in WRAPPER_KEYS:        # a training script's dict around the state dict, another zoo's layout
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        found = list(state)[:5] if isinstance(state, dict) else type(state).__name__
        raise WeightsError(f"{path}: expected a state dict of tensors (pytorch-resnet3d's "
                           f"i3d_r50_kinetics.pth), found {found} (config key features.i3d.backbone)")
    expected = model.state_dict()
    optional = {k for k in expected if k.endswith(".num_batches_tracked")}
    problems = fit_problems(expected, state, optional)
    if problems:
        raise WeightsError(f"{path}: the checkpoint does not fit pytorch-resnet3d's I3Res50 "
                           f"(features.i3d.backbone: resnet3d): " + "; ".join(problems))
    full = dict(state)
    for key in optional - state.keys():
        full[key] = expected[key]
    model.load_state_dict(full)
