"""Multi-level memory-augmented autoencoder: MemAE's 3D convolutional autoencoder whose inner skip
connections pass through memory modules (:class:`vadlib.oneclass.memory.Memory`).

Levels are those of :class:`vadlib.oneclass.ae3d.Conv3dAE` (1-3: encoder levels with a skip
connection, 4: the bottleneck). For every level in ``memory_levels`` (default the two inner skip
levels 2 and 3) the encoder feature is read through its own memory before it is concatenated into the
decoder (level 4: the bottleneck itself is replaced by its memory read-out). The outermost skip
(level 1) is not used, as in ML-MemAE-SC (A Hybrid Video Anomaly Detection Framework via
Memory-Augmented Flow Reconstruction and Flow-Guided Frame Prediction, ICCV 2021), where a full
resolution skip would let the decoder copy anomalies straight from the input.

Each memory's queries are the feature vectors at the level's spatio-temporal positions, so the memory
size does not depend on the input size. Loss of the autoencoder:
``MSE(recon, x) + lambda_c L_compact + lambda_s L_separate`` (eq. 10-11, averaged over the memories;
lambda_c = lambda_s = 0.1 as in Learning Memory-guided Normality for Anomaly Detection, CVPR 2020).
The feature compactness index (eq. 12) of a clip is the mean of its memories' indices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from vadlib.oneclass.ae3d import Conv3dAE
from vadlib.oneclass.memory import Memory


@dataclass
class MemAEOutput:
    recon: torch.Tensor          # [B, C, L, H, W]
    compactness: torch.Tensor    # scalar, mean of eq. 10 over the memories
    separation: torch.Tensor     # scalar, mean of eq. 11 over the memories
    index: torch.Tensor          # [B], mean of eq. 12 over the memories


class MultiLevelMemAE(nn.Module):
    """See the module docstring. ``shrink_threshold`` is lambda of the hard shrinkage (eq. 6)."""

    def __init__(self, channels: int = 3, widths: Sequence[int] = (96, 128, 256, 256),
                 memory_levels: Sequence[int] = (2, 3), slots: int = 10, shrink_threshold: float = 0.1,
                 margin: float = 1.0):
        super().__init__()
        levels = sorted(set(int(level) for level in memory_levels))
        if not levels or any(level not in (1, 2, 3, 4) for level in levels):
            raise ValueError(f"memory_levels must be a non-empty subset of 1-4, got {list(memory_levels)}")
        self.levels = levels
        self.ae = Conv3dAE(channels, widths=widths, skips=[lv for lv in levels if lv < 4], out_act="tanh")
        self.memories = nn.ModuleDict({str(lv): Memory(slots, self.ae.widths[lv - 1], shrink_threshold, margin)
                                       for lv in levels})

    def forward(self, x: torch.Tensor) -> MemAEOutput:
        feats = self.ae.encode(x)
        outs = []

        def through_memory(level: int, f: torch.Tensor) -> torch.Tensor:
            read, out = self.memories[str(level)](f)
            outs.append(out)
            return read

        if 4 in self.levels:
            feats = feats[:3] + [through_memory(4, feats[3])]
        recon = self.ae.decode(feats, skip=through_memory)
        return MemAEOutput(recon=recon,
                           compactness=torch.stack([o.compactness for o in outs]).mean(),
                           separation=torch.stack([o.separation for o in outs]).mean(),
                           index=torch.stack([o.index for o in outs]).mean(dim=0))


def memae_loss(model: MultiLevelMemAE, x: torch.Tensor, lambda_compact: float = 0.1,
               lambda_separate: float = 0.1) -> tuple[torch.Tensor, dict[str, float]]:
    """Reconstruction MSE plus the memories' compactness and separation losses."""
    out = model(x)
    rec = F.mse_loss(out.recon, x)
    loss = rec + lambda_compact * out.compactness + lambda_separate * out.separation
    return loss, {"reconstruction": float(rec.detach()), "compactness": float(out.compactness.detach()),
                  "separation": float(out.separation.detach())}
