"""Weakly supervised video anomaly detection on snippet features (video-level labels in training).

Stages (each a single call from a workflow script):

- :func:`train_baseline` -- baseline snippet MLP (MT-VAE paper, sec. 3.1)
- :func:`train_mtvae` -- MT-VAE on the baseline's abnormal snippets (MT-VAE paper, sec. 3.2)
- :func:`generate_pseudo` -- pseudo-abnormal / pseudo-normal videos as feature stores + index CSV
- :func:`train_rtfm`, :func:`train_lanet` -- RTFM and LA-Net + DDL (with or without pseudo videos)
- :func:`score_detector` -- frame scores of the test videos (a vadlib.scores file)
"""

from vadlib.weak.pseudo import generate_pseudo
from vadlib.weak.score import score_detector
from vadlib.weak.train import train_baseline, train_lanet, train_mtvae, train_rtfm

__all__ = ["train_baseline", "train_mtvae", "generate_pseudo", "train_rtfm", "train_lanet", "score_detector"]
