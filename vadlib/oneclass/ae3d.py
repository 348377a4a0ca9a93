"""The 3D convolutional autoencoder of MemAE (Memorizing Normality to Detect Anomaly, ICCV 2019),
shared by every one-class method of the project.

Encoder: four 3D convolutions (kernel 3, padding 1) with strides (1,2,2), (2,2,2), (2,2,2), (2,2,2),
each followed by batch norm and LeakyReLU(0.2); widths 96, 128, 256, 256 by default. Decoder: four
strided 3D transposed convolutions that mirror them (batch norm and LeakyReLU after all but the last).
A clip ``[B, C, L, H, W]`` becomes ``[B, 256, L/8, H/16, W/16]`` and comes back to its own shape, so
the network is fully convolutional: the same weights shape fits any input size with ``L`` a multiple of
8 and ``H``, ``W`` multiples of 16 (:func:`check_geometry`).

Levels. The encoder's outputs are levels 1-4 (level 4 is the bottleneck). Optional skip connections
concatenate encoder level ``l`` (1-3) to the decoder feature of the same shape before the next transposed
convolution; a ``skip`` callable may transform the skip feature first (the multi-level MemAE passes
its skip connections through memory modules there).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

STRIDES = ((1, 2, 2), (2, 2, 2), (2, 2, 2), (2, 2, 2))
DEFAULT_WIDTHS = (96, 128, 256, 256)


def check_geometry(size: tuple[int, int], clip_len: int) -> None:
    """The autoencoder halves time three times and space four times: check that it comes back."""
    h, w = size
    if clip_len % 8 or clip_len < 8:
        raise ValueError(f"clip_len must be a positive multiple of 8 for the 3D autoencoder, got {clip_len}")
    if h % 16 or w % 16:
        raise ValueError(f"size must be a multiple of 16 for the 3D autoencoder, got [{h}, {w}]")


def _block(conv: nn.Module, channels: int) -> nn.Sequential:
    return nn.Sequential(conv, nn.BatchNorm3d(channels), nn.LeakyReLU(0.2, inplace=True))


class Conv3dAE(nn.Module):
    """MemAE's 3D convolutional autoencoder, with optional skip connections.

    ``out_act``: ``"tanh"`` for frames in [-1, 1], ``None`` for unbounded targets (normalised flow).
    ``skips``: the levels (1-3) whose encoder feature is concatenated into the decoder.
    """

    def __init__(self, in_channels: int = 1, out_channels: int | None = None,
                 widths: Sequence[int] = DEFAULT_WIDTHS, skips: Sequence[int] = (),
                 out_act: str | None = None):
        super().__init__()
        if len(widths) != 4:
            raise ValueError(f"the 3D autoencoder has 4 levels, got widths {list(widths)}")
        if any(level not in (1, 2, 3) for level in skips):
            raise ValueError(f"skip connections exist at levels 1-3, got {list(skips)}")
        if out_act not in (None, "tanh"):
            raise ValueError(f"out_act must be None or 'tanh', got {out_act!r}")
        out_channels = in_channels if out_channels is None else out_channels
        self.widths = tuple(int(w) for w in widths)
        self.skips = tuple(sorted(set(int(s) for s in skips)))
        self.out_act = out_act
        chans = (in_channels,) + self.widths
        self.encoder = nn.ModuleList(
            _block(nn.Conv3d(chans[i], chans[i + 1], 3, stride=STRIDES[i], padding=1), chans[i + 1])
            for i in range(4))
        # decoder[i] maps level i + 1 back to level i (level 0 is the output)
        decoder = []
        for level in range(4, 0, -1):
            c_in = chans[level] * (2 if level in self.skips else 1)
            stride = STRIDES[level - 1]
            deconv = nn.ConvTranspose3d(c_in, chans[level - 1] if level > 1 else out_channels, 3,
                                        stride=stride, padding=1, output_padding=tuple(s - 1 for s in stride))
            decoder.append(_block(deconv, chans[level - 1]) if level > 1 else deconv)
        self.decoder = nn.ModuleList(decoder[::-1])

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Encoder features of levels 1-4 (index 0-3)."""
        feats = []
        for block in self.encoder:
            x = block(x)
            feats.append(x)
        return feats

    def decode(self, feats: list[torch.Tensor],
               skip: Callable[[int, torch.Tensor], torch.Tensor] | None = None,
               activate: bool = True) -> torch.Tensor:
        """Decode from the bottleneck ``feats[3]``; level ``l`` skips pass through ``skip(l, f)``."""
        h = feats[3]
        for level in range(4, 0, -1):
            if level in self.skips:
                s = feats[level - 1]
                h = torch.cat([h, skip(level, s) if skip is not None else s], dim=1)
            h = self.decoder[level - 1](h)
        return torch.tanh(h) if activate and self.out_act == "tanh" else h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))
