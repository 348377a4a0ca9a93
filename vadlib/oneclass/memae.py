"""Multi-layer memory-augmented autoencoder (Long et al., sec. 3.3): MemAE's 3D convolutional
autoencoder with skip connections at its two inner levels, a memory module
(:class:`vadlib.oneclass.memory.Memory`) on each of them and one on the bottleneck.

Levels are those of :class:`vadlib.oneclass.ae3d.Conv3dAE` (1-3: encoder levels that can have a skip
connection, 4: the bottleneck). For every level in ``memory_levels`` the encoder feature is read
through its own memory: on levels 1-3 the read-out is what the skip connection concatenates into the
decoder, on level 4 the read-out replaces the bottleneck. The default ``(2, 3, 4)`` is the paper's
placement: "a memory module between the encoder and the decoder" (the bottleneck, as in MemAE), plus
"memory modules between the jump connections", with "a jump connection only between the two inner
levels" (from the outermost level, "the encoded information at the outermost level masks the effect
of the information at the inner level", sec. 3.3, so level 1 has no skip). ML-MemAE-SC (HF2-VAD,
ICCV 2021) also has three memories with skips at its two inner levels, but reads its decoder features
after the skip concatenation; the paper places the memories on the skip connections themselves,
which is what is done here.

Each memory's queries are the feature vectors at the level's spatio-temporal positions, so the memory
size does not depend on the input size. Loss of the autoencoder (the paper names its parts, not their
weights; sec. 3.2 and Table 3):
    L_MemAE = mean (x^ - x)^2 + lambda_c zeta_compact / K + lambda_s zeta_sep / K
with zeta_compact, zeta_sep the sums of eqs. 10-11 over the ``K`` queries of a memory, averaged over
the memories. The reconstruction error is squared (the paper says only "the error between the
reconstructed frame and the input frame"; squared as MemAE's and as eq. 15's prediction error).
Dividing the sums by ``K`` is a fixed factor at a given input size, folded into the weights (which
the paper does not give): it keeps lambda_c, lambda_s meaningful at any resolution and batch.
lambda_c = lambda_s = 0.1 is our choice (the paper gives none; MNAD's public training code, where
eqs. 10-11 come from, uses 0.01 each). The feature compactness index (eq. 12) of a clip is the mean
of its memories' indices (the paper has one index per frame and does not say how several memories
combine; the mean keeps it on the scale of one memory's).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vadlib.oneclass.ae3d import Conv3dAE
from vadlib.oneclass.memory import Memory, MemoryOutput

PAPER_LEVELS = (2, 3, 4)


@dataclass
class MemAEOutput:
    recon: torch.Tensor          # [B, C, L, H, W]
    compactness: torch.Tensor    # scalar, eq. 10 / K, mean over the memories
    separation: torch.Tensor     # scalar, eq. 11 / K, mean over the memories
    index: torch.Tensor          # [B], eq. 12, mean over the memories
    reach: torch.Tensor          # scalar, fraction of queries inside some U_m, mean over the memories


class MultiLevelMemAE(nn.Module):
    """See the module docstring. ``shrink_threshold`` is lambda of eq. 6, ``tau`` the radius of the
    update sets U_m (eqs. 7-9), ``margin`` gamma of eq. 11."""

    def __init__(self, channels: int = 3, widths: Sequence[int] = (96, 128, 256, 256),
                 memory_levels: Sequence[int] = PAPER_LEVELS, slots: int = 10, shrink_threshold: float = 0.1,
                 tau: float = 0.5, margin: float = 1.0):
        super().__init__()
        levels = sorted(set(int(level) for level in memory_levels))
        if not levels or any(level not in (1, 2, 3, 4) for level in levels):
            raise ValueError(f"memory_levels must be a non-empty subset of 1-4, got {list(memory_levels)}")
        self.levels = levels
        self.ae = Conv3dAE(channels, widths=widths, skips=[lv for lv in levels if lv < 4], out_act="tanh")
        self.memories = nn.ModuleDict({str(lv): Memory(slots, self.ae.widths[lv - 1], shrink_threshold, tau, margin)
                                       for lv in levels})

    def forward(self, x: torch.Tensor) -> MemAEOutput:
        feats = self.ae.encode(x)
        outs: list[MemoryOutput] = []

        def through_memory(level: int, f: torch.Tensor) -> torch.Tensor:
            read, out = self.memories[str(level)](f)
            outs.append(out)
            return read

        if 4 in self.levels:
            feats = feats[:3] + [through_memory(4, feats[3])]
        recon = self.ae.decode(feats, skip=through_memory)
        return MemAEOutput(recon=recon,
                           compactness=torch.stack([o.compactness / o.queries for o in outs]).mean(),
                           separation=torch.stack([o.separation / o.queries for o in outs]).mean(),
                           index=torch.stack([o.index for o in outs]).mean(dim=0),
                           reach=torch.stack([o.reach for o in outs]).mean())


def memae_objective(out: MemAEOutput, x: torch.Tensor, lambda_compact: float = 0.1,
                    lambda_separate: float = 0.1) -> tuple[torch.Tensor, dict[str, float]]:
    """``L_MemAE`` of a forward output ``out`` of clips ``x`` (see the module docstring)."""
    rec = F.mse_loss(out.recon, x)
    loss = rec + lambda_compact * out.compactness + lambda_separate * out.separation
    return loss, {"reconstruction": float(rec.detach()), "compactness": float(out.compactness.detach()),
                  "separation": float(out.separation.detach()), "reach": float(out.reach)}


def memae_loss(model: MultiLevelMemAE, x: torch.Tensor, lambda_compact: float = 0.1,
               lambda_separate: float = 0.1) -> tuple[torch.Tensor, dict[str, float]]:
    """Forward ``x`` and return ``L_MemAE`` and its parts."""
    return memae_objective(model(x), x, lambda_compact, lambda_separate)
