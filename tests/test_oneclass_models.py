"""Forward shapes and gradients of every one-class model, and the losses on hand-computed inputs."""

import math

import pytest
import torch

from vadlib.oneclass.ae3d import Conv3dAE, check_geometry
from vadlib.oneclass.cvae import FlowCVAE, cvae_loss, gaussian_kl, gradient_loss
from vadlib.oneclass.luss import LUSSAE, luss_loss
from vadlib.oneclass.memae import MultiLevelMemAE, memae_loss
from vadlib.oneclass.stpa import Discriminator, pseudo_anomaly_loss

W = (4, 6, 8, 8)


def all_grads(module: torch.nn.Module) -> None:
    missing = [n for n, p in module.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, f"parameters without a gradient: {missing}"
    assert any(p.grad.abs().sum() > 0 for p in module.parameters())


@pytest.mark.parametrize("size,clip_len", [((32, 32), 8), ((16, 48), 16)])
def test_ae3d_shapes_scale_with_the_input(size, clip_len):
    torch.manual_seed(0)
    ae = Conv3dAE(3, widths=W, skips=(2, 3), out_act="tanh")
    x = torch.rand(2, 3, clip_len, *size) * 2 - 1
    feats = ae.encode(x)
    assert [tuple(f.shape) for f in feats] == [
        (2, 4, clip_len, size[0] // 2, size[1] // 2), (2, 6, clip_len // 2, size[0] // 4, size[1] // 4),
        (2, 8, clip_len // 4, size[0] // 8, size[1] // 8), (2, 8, clip_len // 8, size[0] // 16, size[1] // 16)]
    out = ae(x)
    assert out.shape == x.shape and out.abs().max() <= 1
    out.pow(2).mean().backward()
    all_grads(ae)


def test_ae3d_geometry_and_arguments():
    check_geometry((32, 48), 16)
    with pytest.raises(ValueError, match="multiple of 8"):
        check_geometry((32, 32), 12)
    with pytest.raises(ValueError, match="multiple of 16"):
        check_geometry((40, 32), 8)
    with pytest.raises(ValueError, match="levels 1-3"):
        Conv3dAE(1, widths=W, skips=(4,))


def test_luss_forward_and_loss_gradients():
    torch.manual_seed(0)
    model = LUSSAE(clip_len=8, widths=W, channels=1)
    clips = torch.rand(4, 1, 9, 32, 32) * 2 - 1
    recon, nxt, logits = model(clips[:, :, :8])
    assert recon.shape == (4, 1, 8, 32, 32) and nxt.shape == (4, 1, 32, 32) and logits.shape == (4, 2)
    labels = torch.tensor([0, 1, 0, 1])
    prp_clips = torch.rand(4, 1, 8, 32, 32) * 2 - 1
    loss, parts = luss_loss(model, clips, labels, {"vcr": 0.6, "ffp": 0.4, "prp": 1.0}, prp_clips=prp_clips)
    loss.backward()
    all_grads(model)
    assert loss.item() == pytest.approx(0.6 * parts["vcr"] + 0.4 * parts["ffp"] + parts["prp"], rel=1e-5)


def test_luss_loss_reconstructs_and_predicts_every_normal_rate_clip():
    """VCR and FFP read every sample's own normal-rate clip; PRP reads the separate PRP clips."""
    torch.manual_seed(0)
    model = LUSSAE(clip_len=8, widths=W, channels=1).eval()
    clips = torch.rand(2, 1, 9, 32, 32) * 2 - 1
    prp_clips = torch.rand(2, 1, 8, 32, 32) * 2 - 1
    recon, nxt, _ = model(clips[:, :, :8])
    logits = model(prp_clips)[2]
    labels = torch.tensor([0, 1])
    _, parts = luss_loss(model, clips, labels, {"vcr": 0.6, "ffp": 0.4, "prp": 1.0}, prp_clips=prp_clips)
    assert parts["vcr"] == pytest.approx(((recon - clips[:, :, :8]) ** 2).mean().item(), rel=1e-5)
    assert parts["ffp"] == pytest.approx(((nxt - clips[:, :, 8]) ** 2).mean().item(), rel=1e-5)
    assert parts["prp"] == pytest.approx(torch.nn.functional.cross_entropy(logits, labels).item(), rel=1e-5)


@pytest.mark.parametrize("levels", [(2, 3), (2, 3, 4)])
def test_memae_forward_and_gradients(levels):
    torch.manual_seed(0)
    model = MultiLevelMemAE(3, W, memory_levels=levels, slots=5, shrink_threshold=0.1)
    x = torch.rand(2, 3, 8, 32, 32) * 2 - 1
    out = model(x)
    assert out.recon.shape == x.shape and out.index.shape == (2,)
    loss, parts = memae_loss(model, x)
    loss.backward()
    all_grads(model)
    assert set(parts) == {"reconstruction", "compactness", "separation", "reach"}
    assert [lv for lv in model.levels] == list(levels)
    with pytest.raises(ValueError):
        MultiLevelMemAE(3, W, memory_levels=(5,))


def test_memae_default_placement_is_the_papers():
    """Sec. 3.3: a memory on the bottleneck and on the skip connections of the two inner levels only."""
    model = MultiLevelMemAE(3, W, slots=5)
    assert model.levels == [2, 3, 4] and sorted(model.memories) == ["2", "3", "4"]
    assert model.ae.skips == (2, 3)


def test_memae_bottleneck_passes_through_memory():
    torch.manual_seed(0)
    model = MultiLevelMemAE(1, W, slots=4).eval()
    x = torch.rand(1, 1, 8, 32, 32)
    before = model(x).recon
    model.memories["4"].items = torch.nn.functional.normalize(torch.randn(4, 8), dim=1)
    assert not torch.allclose(before, model(x).recon)


def test_memae_skips_pass_through_memory():
    """Other items in a skip's memory change the output: the skip really is the memory's read-out
    (a permutation of the items would not, addressing is permutation invariant)."""
    torch.manual_seed(0)
    model = MultiLevelMemAE(1, W, memory_levels=(2, 3), slots=4).eval()
    x = torch.rand(1, 1, 8, 32, 32)
    before = model(x).recon
    model.memories["2"].items = torch.nn.functional.normalize(torch.randn(4, 6), dim=1)
    assert not torch.allclose(before, model(x).recon)


def test_cvae_forward_and_gradients():
    torch.manual_seed(0)
    model = FlowCVAE(channels=3, history=4, widths=(4, 8, 8), latent=3)
    frames = torch.rand(2, 4, 3, 16, 16) * 2 - 1
    flows = torch.randn(2, 4, 2, 16, 16)
    target = torch.rand(2, 3, 16, 16) * 2 - 1
    pred, kl = model(frames, flows)
    assert pred.shape == (2, 3, 16, 16) and kl.shape == (2,)
    loss, parts = cvae_loss(model, frames, flows, target)
    loss.backward()
    all_grads(model)
    assert set(parts) == {"prediction", "kl", "gradient"}
    model.eval()
    a, _ = model(frames, flows)
    b, _ = model(frames, flows)
    assert torch.equal(a, b)          # test time: the posterior mean, no sampling


def test_gaussian_kl_by_hand():
    zero = torch.zeros(1, 1, 1, 1)
    assert gaussian_kl(zero, zero, zero, zero).item() == 0.0
    # KL(N(1, 1) || N(0, 1)) = 1/2
    assert gaussian_kl(zero + 1, zero, zero, zero).item() == pytest.approx(0.5)
    # KL(N(0, 1) || N(0, e^2)) = log(e) + 1 / (2 e^2) - 1/2
    assert gaussian_kl(zero, zero, zero, zero + 2).item() == pytest.approx(1 + 1 / (2 * math.e ** 2) - 0.5, rel=1e-6)
    # a diagonal Gaussian's KL is the sum over its elements (eq. 15's KL of the latent): 1/2 + 2
    mu = torch.tensor([[[[1.0, 2.0]]]])
    assert gaussian_kl(mu, mu * 0, mu * 0, mu * 0).tolist() == pytest.approx([0.5 + 2.0])


def test_gradient_loss_by_hand():
    target = torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]])   # |dj| = 1 on both rows, |di| = 0
    output = torch.zeros(1, 1, 2, 2)
    assert gradient_loss(target, output).item() == pytest.approx(2.0)   # eq. 16 sums over the pixels
    # the sign of a gradient does not matter, only its magnitude
    assert gradient_loss(target, 1 - target).item() == pytest.approx(0.0)


def test_stpa_autoencoders_and_discriminator():
    torch.manual_seed(0)
    spatial = Conv3dAE(3, widths=W, out_act="tanh")
    normal = torch.rand(3, 3, 8, 16, 16) * 2 - 1
    pseudo = torch.rand(3, 3, 8, 16, 16) * 2 - 1
    use = torch.tensor([True, False, True])
    loss, parts = pseudo_anomaly_loss(spatial, normal, pseudo, use)
    loss.backward()
    all_grads(spatial)
    assert parts["pseudo_fraction"] == pytest.approx(2 / 3)
    spatial.eval()
    with torch.no_grad():       # the target is the normal clip whatever the input
        x = torch.stack([pseudo[0], normal[1], pseudo[2]])
        assert pseudo_anomaly_loss(spatial, normal, pseudo, use)[0].item() == pytest.approx(
            ((spatial(x) - normal) ** 2).mean().item(), rel=1e-5)
    disc = Discriminator(32, 8)
    logits = disc(torch.randn(5, 32))
    assert logits.shape == (5,)
    logits.sum().backward()
    all_grads(disc)
