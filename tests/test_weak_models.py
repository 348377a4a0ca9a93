"""Forward shapes of the weakly supervised models and gradients reaching every parameter."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from vadlib.training import save_checkpoint
from vadlib.weak import losses
from vadlib.weak.checkpoint import load_model
from vadlib.weak.lanet import LANet, gaussian_prior
from vadlib.weak.mlp import SnippetMLP
from vadlib.weak.mtvae import ABNORMAL, MTVAE, NORMAL
from vadlib.weak.rtfm import RTFM

D = 32


def _batch(b: int = 4, t: int = 9, c: int = 2) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(b, t, c, D, generator=g)
    labels = torch.tensor([0, 0, 1, 1][:b])
    return x, torch.tensor([t, t - 2, t, t - 1][:b]), labels


def _assert_all_grads(model: torch.nn.Module) -> None:
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.count_nonzero(p.grad) > 0, f"{name} got a zero gradient"


def test_mlp_shapes_and_gradients():
    model = SnippetMLP(D, hidden=(16, 8), dropout=0.1)
    x, lengths, labels = _batch()
    out = model(x)
    assert out["scores"].shape == (4, 9, 2) and ((out["scores"] > 0) & (out["scores"] < 1)).all()
    losses.video_bce(out["scores"], labels, lengths)[0].backward()
    _assert_all_grads(model)


def test_rtfm_shapes_and_gradients():
    model = RTFM(D, hidden=8, classifier=(16, 8), dropout=0.2)
    x, _, labels = _batch(t=6)
    out = model(x)
    assert out["scores"].shape == (4, 6, 2)
    assert out["features"].shape == (4, 2, 6, D) and out["magnitudes"].shape == (4, 6)
    # the non-local block starts as the identity (zero BatchNorm); open it so that its inner convolutions
    # are reachable too
    torch.nn.init.constant_(model.mtn.non_local.out[1].weight, 0.5)
    out = model(x)
    losses.rtfm_loss(out, labels, k=3, margin=10.0)[0].backward()
    _assert_all_grads(model)


def test_rtfm_scores_crops_independently_in_eval():
    model = RTFM(D, hidden=8, classifier=(16, 8)).eval()
    x, _, _ = _batch(b=1, t=6, c=3)
    with torch.no_grad():
        together = model(x)["scores"]
        alone = torch.cat([model(x[:, :, c:c + 1])["scores"] for c in range(3)], dim=-1)
    torch.testing.assert_close(together, alone)


def test_lanet_shapes_gradients_and_padding():
    model = LANet(D, hidden=8, heads=2, sigma=2.0, mlp=(16, 8), dropout=0.1, kernel=3)
    x, lengths, labels = _batch()
    out = model(x, lengths)
    assert out["scores"].shape == (4, 9, 2) and out["features"].shape == (4, 9, 2, 8)
    losses.ddl_loss(out, labels, lengths)[0].backward()
    _assert_all_grads(model)
    # padded snippets change nothing inside the valid part of a sequence
    model.eval()
    with torch.no_grad():
        y = x.clone()
        y[1, lengths[1]:] = 100.0
        a, b = model(x, lengths)["scores"], model(y, lengths)["scores"]
    torch.testing.assert_close(a[1, :lengths[1]], b[1, :lengths[1]])


def test_lanet_prior_eq_2_is_a_window_of_sigma():
    g = gaussian_prior(40, 16.0)
    # G_ij = exp(-|i - j|^2 / (2 sigma)): at sigma 16 a distance of 4 keeps exp(-0.5), 8 keeps exp(-2)
    assert g[10, 14].item() == pytest.approx(math.exp(-0.5)) and g[20, 12].item() == pytest.approx(math.exp(-2.0))
    assert torch.equal(g, g.T) and torch.all(g.diagonal() == 1.0)


def test_lanet_attention_eqs_1_3_by_hand():
    attn = LANet(2, hidden=2, heads=1, sigma=2.0).attn
    with torch.no_grad():
        for proj in (attn.phi, attn.psi):
            proj.weight.copy_(torch.eye(2))
            proj.bias.zero_()
    x = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])
    # eq. 1 with no 1/sqrt(d): logits phi(x_i)^T psi(x_j) = x_i . x_j
    logits = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 2.0]])
    a = torch.exp(logits) / torch.exp(logits).sum(dim=1, keepdim=True)
    i = torch.arange(3.0)
    g = torch.exp(-((i[:, None] - i[None, :]) ** 2) / (2 * 2.0))           # eq. 2
    torch.testing.assert_close(attn.attention(x)[0, 0], a + g)               # eq. 3: A~ = A + G, not renormalised
    # padded keys get neither attention nor prior
    valid = torch.tensor([[True, True, False]])
    a2 = torch.exp(logits[:, :2]) / torch.exp(logits[:, :2]).sum(dim=1, keepdim=True)
    expected = torch.cat([a2 + g[:, :2], torch.zeros(3, 1)], dim=1)
    torch.testing.assert_close(attn.attention(x, valid)[0, 0], expected)
    # the "w/o prior" ablation is the softmax map alone
    attn.prior = False
    torch.testing.assert_close(attn.attention(x)[0, 0], a)


def test_lanet_eq_4_by_hand():
    torch.manual_seed(0)
    model = LANet(6, hidden=4, heads=2, sigma=3.0, mlp=(5, 3), kernel=2).eval()
    x = torch.rand(1, 5, 1, 6)
    seq = x[:, :, 0]                                                        # [1, T, D]
    t = torch.arange(5.0)
    g = torch.exp(-((t[:, None] - t[None, :]) ** 2) / (2 * 3.0))
    attn, heads = model.attn, []
    for h in range(2):
        rows = slice(2 * h, 2 * h + 2)                                       # D_h / k = 2 channels per head
        phi = seq @ attn.phi.weight[rows].T + attn.phi.bias[rows]
        psi = seq @ attn.psi.weight[rows].T + attn.psi.bias[rows]
        a_tilde = torch.softmax(phi @ psi.transpose(-1, -2), dim=-1) + g     # eqs. 1-3
        heads.append(a_tilde @ (seq @ attn.w_k.weight[rows].T + attn.w_k.bias[rows]))   # A~ X W_k
    stacked = torch.cat(heads, dim=-1) @ attn.w_h.weight.T + attn.w_h.bias
    x_tilde = torch.nn.functional.layer_norm(stacked + seq, (6,), model.norm.weight, model.norm.bias)
    with torch.no_grad():
        h = model.mlp(x_tilde.transpose(1, 2))
        expected = torch.sigmoid(model.causal_logits(h))[0]
        torch.testing.assert_close(model(x)["scores"][0, :, 0], expected)


def test_lanet_causal_convolution_looks_back_only():
    model = LANet(D, hidden=8, heads=2, mlp=(16, 8), kernel=3).eval()
    h = torch.rand(1, 8, 6)
    with torch.no_grad():
        full = model.causal_logits(h)
        h2 = h.clone()
        h2[..., 4:] = 5.0
        cut = model.causal_logits(h2)
        h3 = h.clone()
        h3[..., 1] = 5.0                                       # reaches snippets 1..3 (kernel 3), not 4
        moved = model.causal_logits(h3)
    assert full.shape == (1, 6)
    torch.testing.assert_close(full[..., :4], cut[..., :4])
    assert torch.all(moved[0, 1:4] != full[0, 1:4]) and torch.equal(moved[0, [0, 4, 5]], full[0, [0, 4, 5]])


def test_mtvae_shapes_and_gradients():
    model = MTVAE(D, encoder=(16, 8, 4), decoder=(8, 16))
    x = torch.rand(10, D)
    rec_n, mu, logvar = model(x, NORMAL)
    assert rec_n.shape == (10, D) and mu.shape == logvar.shape == (10, 4)
    xa = torch.rand(6, D)
    total, _ = losses.mtvae_loss((x, rec_n, mu, logvar), (xa, *model(xa, ABNORMAL)), alpha=1.0)
    total.backward()
    _assert_all_grads(model)


@pytest.mark.parametrize("encoder, decoder", [
    ((1024, 512, 256), [512, 1024, 2048]),  # Arch1: "the reverse layout of the encoder: [512, 1024, 2048]"
    ((1024, 512, 256, 128), [256, 512, 1024, 2048]),        # Arch2
    ((1024, 512, 512, 256, 256), [256, 512, 512, 1024, 2048]),   # Arch3
])
def test_mtvae_architectures_mirror_the_encoder(encoder, decoder):
    model = MTVAE(2048, encoder=encoder)
    widths = [m.out_features for m in model.body.modules() if isinstance(m, torch.nn.Linear)]
    assert widths == list(encoder[:-1]) and model.mu.out_features == encoder[-1]
    for which in (NORMAL, ABNORMAL):
        assert [m.out_features for m in model.decoders[which] if isinstance(m, torch.nn.Linear)] == decoder
        assert model.decoders[which][0].in_features == encoder[-1]


def test_checkpoint_round_trip_loads_with_weights_only(tmp_path):
    model = SnippetMLP(D, hidden=(8,))
    args = {"dim": D, "hidden": (8,), "dropout": 0.6}
    extra = {"train_videos": ("v0", "v1"), "best_epoch": np.int64(3), "auc": np.float32(0.5), "rows": np.arange(3)}
    save_checkpoint(tmp_path / "m.pt", {"model": model}, method="mlp", protocol="weak", params={"epochs": 1},
                    pretrained=True, history=[{"loss": 1.0}], model_args=args, extra=extra)
    raw = torch.load(tmp_path / "m.pt", weights_only=True)            # tensors and plain values only
    assert set(raw) == {"format", "method", "protocol", "params", "pretrained", "model_args", "history", "extra",
                        "state_dicts"}
    assert raw["extra"] == {"train_videos": ["v0", "v1"], "best_epoch": 3, "auc": 0.5, "rows": [0, 1, 2]}
    assert type(raw["extra"]["best_epoch"]) is int and raw["model_args"]["hidden"] == [8]
    back, ckpt = load_model(tmp_path / "m.pt", kind="mlp")
    assert ckpt["pretrained"] is True and ckpt["params"] == {"epochs": 1} and ckpt["protocol"] == "weak"
    sidecar = json.loads((tmp_path / "m.json").read_text())            # everything but the weights
    assert sidecar == {k: v for k, v in raw.items() if k != "state_dicts"}
    x = torch.rand(1, 3, 1, D)
    torch.testing.assert_close(back(x)["scores"], model.eval()(x)["scores"])
    with pytest.raises(ValueError, match="field 'method' is 'mlp', expected 'rtfm'"):
        load_model(tmp_path / "m.pt", kind="rtfm")


def test_a_checkpoint_of_the_older_layout_is_refused(tmp_path):
    model = SnippetMLP(D, hidden=(8,))
    old = {"format": 1, "kind": "mlp", "model_args": {"dim": D, "hidden": [8], "dropout": 0.6}, "config": {},
           "pretrained": False, "state_dict": model.state_dict()}
    torch.save(old, tmp_path / "old.pt")
    with pytest.raises(ValueError, match=r"old\.pt: written by an older checkpoint layout \(vadlib\.weak"):
        load_model(tmp_path / "old.pt")
