"""One-class detectors (trained on normal videos only): LUSS-AE, the multi-level MemAE + flow-conditioned
CVAE, and the spatio-temporal pseudo-anomaly autoencoders with a semantic discriminator.

Shared pieces: :mod:`.ae3d` (MemAE's 3D convolutional autoencoder), :mod:`.clips` (clip sampling from
frames / flow stores), :mod:`.errors` (MSE, PSE, BPE, PSNR), :mod:`.rescalings` (min-max, robust),
:mod:`.train` (the training loop and checkpoints), :mod:`.score` (windows to frame scores).

Stage functions (one call each from a workflow script): train_luss / score_luss, train_memae_cvae /
score_memae_cvae, train_stpa / score_stpa.
"""

from vadlib.oneclass.luss import score_luss, train_luss
from vadlib.oneclass.memae_cvae import score_memae_cvae, train_memae_cvae
from vadlib.oneclass.stpa import score_stpa, train_stpa

__all__ = ["train_luss", "score_luss", "train_memae_cvae", "score_memae_cvae", "train_stpa", "score_stpa"]
