"""Parameters of the weakly supervised stages, with the papers' settings as defaults.

A stage receives a plain ``params`` dict (the ``weak`` config section merged with the method's own
section and the global ``seed``); :meth:`WeakConfig.from_params` fills what is missing from the
defaults below and checks the rest against the fields' types (:func:`vadlib.params.from_params`), so a
misspelt key or a value of the wrong type fails at once with a :class:`~vadlib.params.ConfigError`
naming it (``rtfm.epoch``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, TypeVar

from vadlib.params import ConfigError, from_params

C = TypeVar("C", bound="WeakConfig")

SELECTIONS = ("final", "best_test")


@dataclass(frozen=True)
class WeakConfig:
    """Keys shared by every weakly supervised stage (the ``weak`` section)."""

    section: ClassVar[str] = "weak"     # the config section that names this stage's keys in errors

    seed: int = 0
    feature_dim: int = 2048     # width of the snippet features
    segments: int = 32          # S: training videos resampled to S segments (MLP, RTFM)

    @classmethod
    def from_params(cls: type[C], params: Mapping[str, Any] | None) -> C:
        """The stage's parameters: ``params`` over the defaults, checked against the fields' types."""
        return from_params(cls, params, cls.section)

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class MLPConfig(WeakConfig):
    """Baseline MLP (MT-VAE paper, sec. 3.1)."""

    section: ClassVar[str] = "mlp"

    hidden: tuple[int, ...] = (512, 32)
    dropout: float = 0.0
    resample: str = "linear"    # linear interpolation to S segments
    crops: str = "all"          # all | each | mean (see vadlib.weak.data); "all": scores averaged over crops
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 32
    epochs: int = 100
    val_fraction: float = 0.2   # held out (normal and abnormal sampled separately) to select the epoch count
    refit: bool = True          # then retrain on every training video for the selected epochs


@dataclass(frozen=True)
class RTFMConfig(WeakConfig):
    """RTFM: multi-scale temporal network + feature-magnitude learning."""

    section: ClassVar[str] = "rtfm"

    hidden: int = 512                       # width of each dilated / non-local branch
    classifier: tuple[int, ...] = (512, 128)
    dropout: float = 0.7
    k: int = 3                              # top-k feature magnitudes
    margin: float = 100.0
    magnitude_weight: float = 1e-4          # weight of the magnitude loss (published code's alpha)
    smooth_weight: float = 8e-4
    sparsity_weight: float = 8e-3
    resample: str = "mean"                  # segment averaging, as the published code
    crops: str = "all"
    lr: float = 1e-3
    weight_decay: float = 5e-3
    batch_size: int = 64                    # 32 normal + 32 abnormal videos
    steps: int = 15000                      # optimisation steps (the published code counts steps)
    selection: str = "final"                # final: the last weights | best_test: the published code's
    #                                         protocol (the step of best test AUC; for comparison only)
    eval_every: int = 5                     # best_test: test AUC every 5 steps ...
    eval_after: int = 200                   # ... after step 200, as the published code

    def __post_init__(self):
        if self.selection not in SELECTIONS:
            raise ConfigError(f"{self.section}.selection", f"{self.selection!r} is not one of {list(SELECTIONS)}")


@dataclass(frozen=True)
class LANetConfig(WeakConfig):
    """LA-Net + DDL, UCF-Crime's settings (XD-Violence's in its dataset file: hidden 128, sigma 6,
    kernel 5, lambda1 2)."""

    section: ClassVar[str] = "lanet"

    hidden: int = 512
    heads: int = 4
    sigma: float = 16.0
    prior: bool = True                      # the location prior G (eqs. 2-3); false: "w/o prior" (Table 3)
    mlp: tuple[int, ...] = (512, 128)
    dropout: float = 0.1
    kernel: int = 10
    max_snippets: int = 200                 # longer videos keep 200 uniformly spread snippets
    crops: str = "each"                     # every crop of a video is a bag of its own
    k_divisor: int = 16                     # abnormal bags: k = floor(T / 16) + 1; normal bags: k = 1
    rank_margin: float = 0.0
    align_eps: float = 1e-7
    lambda1: float = 1.0                    # dynamics ranking loss
    lambda2: float = 1.0                    # dynamics alignment loss
    lr: float = 5e-4
    weight_decay: float = 0.0
    batch_size: int = 128                   # 64 normal + 64 abnormal bags
    epochs: int = 50


@dataclass(frozen=True)
class MTVAEConfig(WeakConfig):
    """MT-VAE (MT-VAE paper, sec. 3.2) and its pseudo videos.

    ``encoder``: hidden widths followed by the latent size; Arch1 ``[1024, 512, 256]``, Arch2
    ``[1024, 512, 256, 128]``, Arch3 ``[1024, 512, 512, 256, 256]``. ``decoder``: hidden widths of each
    of the two decoders, whose output has the feature width; ``None`` mirrors the encoder ("the reverse
    layout of the encoder", sec. 4.1: Arch1's decoder is ``[512, 1024]`` then the feature width).
    ``alpha`` is not given by the paper: 1 (the plain VAE evidence bound) is our choice.
    """

    section: ClassVar[str] = "mtvae"

    encoder: tuple[int, ...] = (1024, 512, 256)
    decoder: tuple[int, ...] | None = None
    alpha: float = 1.0                      # weight of the KL terms (eq. 6); not given by the paper
    lr: float = 1e-4
    lr_decay: float = 0.95                  # lr multiplied by this after every epoch
    epochs: int = 100
    max_snippets: int = 1024                # at most this many random snippets (each with its crops) per video
    threshold: float = 0.5                  # abnormal snippets: baseline score above this
    sample_ratio: float = 2.0               # pseudo videos per original video (paper's ablation: 0.5, 1, 2)
    latent: str = "sample"                  # "sample" z ~ q(z|x), or "mean" (z = mu) when generating
