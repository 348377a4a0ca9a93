"""Baseline snippet MLP (MT-VAE paper, sec. 3.1).

Each snippet feature goes through a small MLP and a sigmoid; the video score is the mean of its
snippet scores, trained with BCE against the video label (:func:`vadlib.weak.losses.video_bce`).

The paper gives no layer widths; the defaults ``[512, 32]`` with ReLU are the widths of the MIL
baseline of "Real-world Anomaly Detection in Surveillance Videos" (CVPR 2018), with the feature width
as input. That baseline's dropout (0.6) is off by default (``dropout: 0``): the paper does not mention
it, and with it the BCE on mean scores trains slowly and compresses the snippet scores below the 0.5
that selects the MT-VAE's abnormal snippets.
"""

from __future__ import annotations

import torch
from torch import nn


def xavier_init(module: nn.Module) -> None:
    """Xavier-uniform weights and zero biases for every Linear / Conv1d (the published codes' init)."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv1d)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def score_head(dim: int, hidden: tuple[int, ...], dropout: float) -> nn.Sequential:
    """Linear + ReLU + dropout per ``hidden`` width, then a linear layer to one logit per vector (the
    baseline MLP, and RTFM's snippet classifier)."""
    layers: list[nn.Module] = []
    width = dim
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
        width = h
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


class SnippetMLP(nn.Module):
    """``[B, T, C, D]`` features -> ``{"scores": [B, T, C]}`` snippet scores in (0, 1)."""

    def __init__(self, dim: int = 2048, hidden: tuple[int, ...] = (512, 32), dropout: float = 0.0):
        super().__init__()
        self.net = score_head(dim, hidden, dropout)
        xavier_init(self)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        return {"scores": torch.sigmoid(self.net(x).squeeze(-1))}
