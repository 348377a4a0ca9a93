"""MT-VAE: a VAE with one encoder and two decoders, one per class (MT-VAE paper, sec. 3.2).

The encoder maps a snippet feature through the hidden widths of ``encoder[:-1]`` (ReLU) to the mean
and log-variance of a latent of size ``encoder[-1]``; the normal decoder (index 0) and the abnormal
decoder (index 1) map a latent through ``decoder`` (ReLU) back to the feature width. By default the
decoders mirror the encoder, "the reverse layout of the encoder" (sec. 4.1): Arch1 ``[1024, 512, 256]``
decodes through ``[512, 1024]``, Arch2 ``[1024, 512, 256, 128]`` through ``[256, 512, 1024]``, Arch3
``[1024, 512, 512, 256, 256]`` through ``[256, 512, 512, 1024]``. The loss (eq. 4-6) is
:func:`vadlib.weak.losses.mtvae_loss`.

The paper counts "18 fully-connected layers, where the encoder has 6 layers: [1024, 512, 256]": the
count fits three linear layers with their activations in the encoder and in each of the two decoders
(3 x 6 = 18); the widths are what is built (the encoder's last width as the mean and log-variance heads).

Choices where the paper is terse: the decoders end with a linear layer (no output activation); the
model works on single snippet vectors, so ten-crop features are handled crop by crop -- every
(snippet, crop) vector is a training sample, and a pseudo video replaces a snippet by decoding each of
its crops, which keeps the ``[snippets, crops, dim]`` layout of the features.
"""

from __future__ import annotations

import torch
from torch import nn

from vadlib.weak.mlp import xavier_init

NORMAL, ABNORMAL = 0, 1


def mirrored_decoder(encoder: tuple[int, ...] | list[int]) -> list[int]:
    """The decoder's hidden widths that mirror ``encoder`` (hidden widths + latent): ``encoder[-2::-1]``."""
    return list(encoder[:-1])[::-1]


def _mlp(widths: list[int]) -> nn.Sequential:
    """Linear layers through ``widths`` with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class MTVAE(nn.Module):
    """One encoder (``dim -> encoder[:-1] -> (mu, logvar)``), two decoders (``latent -> decoder -> dim``)."""

    def __init__(self, dim: int = 2048, encoder: tuple[int, ...] = (1024, 512, 256),
                 decoder: tuple[int, ...] | None = None):
        super().__init__()
        if not encoder:
            raise ValueError("encoder needs at least the latent size")
        *hidden, latent = encoder
        decoder = mirrored_decoder(encoder) if decoder is None else list(decoder)
        self.latent = latent
        self.body = nn.Sequential(_mlp([dim, *hidden]), nn.ReLU()) if hidden else nn.Identity()
        width = hidden[-1] if hidden else dim
        self.mu = nn.Linear(width, latent)
        self.logvar = nn.Linear(width, latent)
        self.decoders = nn.ModuleList([_mlp([latent, *decoder, dim]) for _ in (NORMAL, ABNORMAL)])
        xavier_init(self)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.mu(h), self.logvar(h)

    def decode(self, z: torch.Tensor, which: int) -> torch.Tensor:
        return self.decoders[which](z)

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """``mu + eps * exp(logvar / 2)``; with a (CPU) ``generator`` the noise is drawn on the CPU, so a
        seed gives the same numbers on every device."""
        if generator is None:
            eps = torch.randn_like(mu)
        else:
            eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype).to(mu.device)
        return mu + eps * torch.exp(0.5 * logvar)

    def forward(self, x: torch.Tensor, which: int, sample: bool = True,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruction by decoder ``which`` (0 normal, 1 abnormal), with ``mu`` and ``logvar``."""
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar, generator) if sample else mu
        return self.decode(z, which), mu, logvar
