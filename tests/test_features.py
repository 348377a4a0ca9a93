"""Snippet features: ten-crop preprocessing, I3D extraction and checkpoints, import of published features."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
import torch

from vadlib.data.manifest import load_ground_truth, write_manifest
from vadlib.features.extract import SnippetExtractor, extract_features
from vadlib.features.i3d import I3DFeatures, WeightsError, _i3d_r50, build_i3d
from vadlib.features.importer import FeatureImportError, import_ground_truth, import_video, list_imported_videos
from vadlib.features.resnet3d import I3DResNet50
from vadlib.features.tencrop import crop_boxes, preprocess_snippets, resized_size, ten_crop, view_names
from vadlib.snippets import snippet_frame_indices
from vadlib.stores import open_store, write_store

FRAME_ATTRS = {"source": "test", "fps": 25, "original_size": [48, 64], "stored_size": [48, 64]}
SMALL = {"short_side": 40, "crop": 32, "batch": 2}


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    monkeypatch.setenv("VADLIB_PROGRESS", "0")
    torch.set_num_threads(1)


def random_frames(n: int = 20, h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def frames_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("frames") / "v01.zarr"
    write_store(path, "frames", random_frames(), FRAME_ATTRS)
    return path


# --- ten crops -------------------------------------------------------------------------------------

def ramp_clip(h: int, w: int) -> torch.Tensor:
    """[1, 2, 1, H, W]: channel 0 holds the row index, channel 1 the column index."""
    y, x = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
                          indexing="ij")
    return torch.stack([y, x])[None, :, None]


def test_ten_crop_geometry_on_a_ramp():
    h, w, c = 10, 13, 6
    views = ten_crop(ramp_clip(h, w), c)                      # [1, 10, 2, 1, 6, 6]
    assert views.shape == (1, 10, 2, 1, c, c)
    # corners, then the centre: offset ((10-6)/2, (13-6)/2) = (2, 3.5) -> (2, 4) rounded half to even
    expected = [(0, 0), (0, 7), (4, 0), (4, 7), (2, 4)]
    assert crop_boxes(h, w, c) == expected
    for k, (y0, x0) in enumerate(expected):
        rows, cols = views[0, k, 0, 0], views[0, k, 1, 0]
        assert torch.equal(rows, (y0 + torch.arange(c, dtype=torch.float32))[:, None].expand(c, c))
        assert torch.equal(cols, (x0 + torch.arange(c, dtype=torch.float32))[None, :].expand(c, c))
        flipped = views[0, k + 5]
        assert torch.equal(flipped, views[0, k].flip(-1))
        assert flipped[1, 0, 0, 0] == x0 + c - 1 and flipped[1, 0, 0, -1] == x0  # mirrored columns
    centre = ten_crop(ramp_clip(h, w), c, crops=1)
    assert centre.shape == (1, 1, 2, 1, c, c) and torch.equal(centre[0, 0], views[0, 4])
    with pytest.raises(ValueError, match="does not fit"):
        ten_crop(ramp_clip(h, w), 11)


def test_resize_short_side():
    assert resized_size(240, 320, 256) == (256, 341)
    assert resized_size(320, 240, 256) == (341, 256)
    assert resized_size(48, 64, 40) == (40, 53)


def test_normalisation_values():
    frames = np.zeros((2, 8, 10, 3), dtype=np.uint8)
    frames[1] = 255
    index = torch.tensor([[0, 0, 1, 1]])
    x = preprocess_snippets(torch.from_numpy(frames), index, short_side=6, crop=4, crops=1)
    assert x.shape == (1, 3, 4, 4, 4)
    black, white = (0 - 0.45) / 0.225, (1 - 0.45) / 0.225      # -2.0 and 2.444...
    assert torch.allclose(x[0, :, :2], torch.full_like(x[0, :, :2], black), atol=1e-6)
    assert torch.allclose(x[0, :, 2:], torch.full_like(x[0, :, 2:], white), atol=1e-5)


def test_tail_snippet_repeats_the_last_frame():
    frames = np.stack([np.full((8, 8, 3), 10 * t, dtype=np.uint8) for t in range(20)])
    index = torch.from_numpy(snippet_frame_indices(20))
    x = preprocess_snippets(torch.from_numpy(frames), index, short_side=8, crop=8, crops=1)
    values = x[1, 0, :, 0, 0] * 0.225 + 0.45                   # time profile of the tail snippet
    expected = torch.tensor([16, 17, 18, 19] + [19] * 12, dtype=torch.float32) * 10 / 255
    assert torch.allclose(values, expected, atol=1e-5)


# --- extraction --------------------------------------------------------------------------------------

def test_extract_shape_dtype_attrs(frames_store, tmp_path):
    out = tmp_path / "v01_features.zarr"
    extract_features(frames_store, out, {**SMALL, "seed": 3}, device="cpu")
    store = open_store(out, "features", feature=2048)
    assert store.shape == (2, 10, 2048)                         # ceil(20 / 16) snippets, ten crops
    assert store.data.dtype == np.float16
    a = store.attrs
    assert a["extractor"] == "i3d_r50" and a["pretrained"] is False and a["weights"] is None
    assert a["weights_sha256"] is None and a["seed"] == 3 and a["snippet_len"] == 16
    assert a["preprocessing"]["short_side"] == 40 and a["preprocessing"]["crop"] == 32
    assert a["preprocessing"]["crops"] == 10 and a["preprocessing"]["mean"] == [0.45] * 3
    assert a["preprocessing"]["std"] == [0.225] * 3 and len(a["preprocessing"]["views"]) == 10
    feats = store.read().astype(np.float32)
    assert np.isfinite(feats).all() and feats.std() > 0
    assert not np.allclose(feats[0, 0], feats[0, 5])            # a crop and its mirror image differ

    one = tmp_path / "centre.zarr"
    extract_features(frames_store, one, {**SMALL, "crops": 1, "dtype": "float32"}, device="cpu")
    assert open_store(one, "features").shape == (2, 1, 2048)


def test_untrained_network_is_seeded_and_sees_the_whole_crop():
    clip = torch.randn(1, 3, 16, 32, 32)
    model, info = build_i3d(seed=5)
    with torch.inference_mode():
        a = model(clip)
        b = build_i3d(seed=5)[0](clip)
        c = build_i3d(seed=6)[0](clip)
    assert a.shape == (1, 2048) and info["pretrained"] is False
    assert torch.equal(a, b) and not torch.allclose(a, c)
    # a bright square moved inside a 56x56 crop changes the features (pytorchvideo's initialisation
    # alone, with its residual branches switched off, gives exactly the same features for both)
    base = torch.full((2, 3, 16, 56, 56), -0.5)
    base[0, :, :, 10:20, 10:20] = 2.0
    base[1, :, :, 10:20, 20:30] = 2.0
    with torch.inference_mode():
        f = model(base)
    assert (f[0] - f[1]).norm() > 0.05 * f[0].norm()
    assert f.abs().max() < 1e3                                  # bounded activations after 16 blocks


def reordering_tolerance(model: torch.nn.Module, values: np.ndarray) -> float:
    """Bound on ``|a - b|`` between two float32 evaluations of ``model``, whose outputs are of the size
    of ``values``, that differ only in the order of their sums.

    The convolution kernels (oneDNN) block and vectorise their sums by batch size and CPU, so batching
    reorders every sum and nothing else. A float32 sum of K rounded terms is off by about
    ``sqrt(K) * u`` (u = eps / 2; rounding errors adding as a random walk) relative to the scale of what
    is summed, K at most the network's longest reduction (in-channels x kernel volume of its largest
    convolution: 2048 x 3 x 1 x 1 = 6144, sqrt 78). The two evaluations round independently, so
    ``|a - b| <= 2 sqrt(K) u max|values| = sqrt(K) eps max|values|``: 3.9e-4 at max|values| = 42.
    The bound is absolute, the same for every element: a feature's error is set by the magnitudes of
    the terms summed (the network's activations), not by its own value, so a feature near 0 (a ReLU
    cut; 9% of these are below 0.01) carries as much of it as a large one.

    Measured on these frames: 6.1e-5 between batch 3 and batch 1 on AVX-512/AMX kernels, 8.1e-5 with
    oneDNN limited to AVX2 (``ONEDNN_MAX_CPU_ISA``), each within 1.0e-4 of float64: 5x inside the bound,
    while one input pixel of one frame off by one grey level moves features by 10x the bound.
    """
    k = max(m.in_channels // m.groups * math.prod(m.kernel_size)
            for m in model.modules() if isinstance(m, torch.nn.Conv3d))
    return math.sqrt(k) * float(np.finfo(np.float32).eps) * float(np.abs(values).max())


def test_batched_equals_per_snippet_and_an_independent_crop(tmp_path):
    frames = random_frames(n=40, h=32, w=40, seed=1)            # 3 snippets, the last one padded
    params = {"short_side": 32, "crop": 32, "seed": 0}          # short side already 32: no resize
    extractor = SnippetExtractor({**params, "batch": 3}, "cpu")
    batched = extractor(frames)
    single = SnippetExtractor({**params, "batch": 1}, "cpu")(frames)
    assert batched.shape == (3, 10, 2048)
    tol = reordering_tolerance(extractor.model, single)
    np.testing.assert_allclose(batched, single, rtol=0, atol=tol)

    # crop 5 (top-left, mirrored) of snippet 2 computed by hand: frames 32..39 then 39 repeated
    snippet = frames[np.minimum(np.arange(32, 48), 39)][:, :32, :32][:, :, ::-1]
    clip = (snippet.astype(np.float32) / 255 - 0.45) / 0.225
    clip = torch.from_numpy(np.ascontiguousarray(clip.transpose(3, 0, 1, 2)))[None]
    with torch.inference_mode():
        ref = build_i3d(seed=0)[0](clip)[0].numpy()
    np.testing.assert_allclose(batched[2, 5], ref, rtol=0, atol=tol)   # one clip against 30: sums reordered too


def test_params_are_checked(frames_store, tmp_path):
    with pytest.raises(ValueError, match="unknown keys"):
        SnippetExtractor({"crop_size": 3}, "cpu")
    with pytest.raises(ValueError, match="crop"):
        SnippetExtractor({"short_side": 32, "crop": 40}, "cpu")
    with pytest.raises(ValueError, match="crops"):
        SnippetExtractor({"crops": 3}, "cpu")


# --- checkpoints ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def zoo_checkpoint(tmp_path_factory):
    """A checkpoint in the model zoo's layout, from a randomly initialised classifier (seed 11)."""
    torch.manual_seed(11)
    classifier = _i3d_r50()
    path = tmp_path_factory.mktemp("weights") / "I3D_8x8_R50.pyth"
    torch.save({"model_state": classifier.state_dict()}, path)
    return path, classifier


def test_checkpoint_loader_reproduces_the_saved_network(zoo_checkpoint, frames_store, tmp_path):
    path, classifier = zoo_checkpoint
    model, info = build_i3d(weights=path, seed=0)
    clip = torch.randn(2, 3, 16, 32, 32)
    with torch.inference_mode():
        loaded = model(clip)
        saved = I3DFeatures(classifier).eval()(clip)
        untrained = build_i3d(seed=0)[0](clip)
    assert torch.equal(loaded, saved) and not torch.allclose(loaded, untrained)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert info == {"extractor": "i3d_r50", "backbone": "pytorchvideo", "weights": str(path),
                    "weights_sha256": digest, "pretrained": True, "seed": None,
                    "init": "checkpoint"}  # a checkpoint: no seed plays a part

    out = tmp_path / "pretrained.zarr"
    extract_features(frames_store, out, {**SMALL, "crops": 1, "weights": str(path), "weights_sha256": digest},
                     device="cpu")
    attrs = open_store(out, "features").attrs
    assert attrs["pretrained"] is True and attrs["weights_sha256"] == digest
    with pytest.raises(WeightsError, match="SHA-256"):
        build_i3d(weights=path, weights_sha256="0" * 64)


def test_checkpoint_errors_name_the_file_and_keys(zoo_checkpoint, tmp_path):
    path, classifier = zoo_checkpoint
    missing = tmp_path / "nowhere.pyth"
    with pytest.raises(WeightsError, match=f"{missing}: no such weights file"):
        build_i3d(weights=missing)

    state = dict(classifier.state_dict())
    del state["blocks.0.conv.weight"]
    state["blocks.9.extra"] = torch.zeros(1)
    state["blocks.6.proj.weight"] = torch.zeros(10, 2048)
    bad = tmp_path / "bad.pyth"
    torch.save({"model_state": state}, bad)
    with pytest.raises(WeightsError) as err:
        build_i3d(weights=bad)
    message = str(err.value)
    assert str(bad) in message and "missing keys blocks.0.conv.weight" in message
    assert "unexpected keys blocks.9.extra" in message
    assert "blocks.6.proj.weight [10, 2048] vs [400, 2048]" in message

    flat = tmp_path / "flat.pyth"
    torch.save(classifier.state_dict(), flat)
    with pytest.raises(WeightsError, match=f"{flat}: expected a dict with the state dict under 'model_st"):
        build_i3d(weights=flat)
    junk = tmp_path / "junk.pyth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match=f"{junk}: not a readable torch checkpoint"):
        build_i3d(weights=junk)


# --- pytorch-resnet3d's I3Res50 (backbone: resnet3d) ------------------------------------------------------

def test_resnet3d_architecture_follows_i3res50():
    """Key names, kernels, strides and the temporal inflation of each block, as models/resnet.py has them."""
    net = I3DResNet50()
    assert (net.conv1.kernel_size, net.conv1.stride, net.conv1.padding) == ((5, 7, 7), (2, 2, 2), (2, 3, 3))
    assert (net.maxpool1.kernel_size, net.maxpool1.stride) == ((2, 3, 3), (2, 2, 2))
    assert (net.maxpool2.kernel_size, net.maxpool2.stride) == ((2, 1, 1), (2, 1, 1))
    inflated = {name: [block.conv1.kernel_size[0] for block in getattr(net, name)]
                for name in ("layer1", "layer2", "layer3", "layer4")}
    assert inflated == {"layer1": [3, 3, 3], "layer2": [3, 1, 3, 1], "layer3": [3, 1, 3, 1, 3, 1],
                        "layer4": [1, 3, 1]}
    assert net.layer3[0].conv2.stride == (1, 2, 2) and net.layer3[1].conv2.stride == (1, 1, 1)
    assert net.layer1[0].downsample[0].stride == (1, 1, 1) and net.layer4[0].downsample[0].stride == (1, 2, 2)
    assert all(getattr(net, f"layer{k}")[1].downsample is None for k in range(1, 5))
    keys = set(net.state_dict())
    assert {"conv1.weight", "bn1.running_var", "layer1.0.downsample.0.weight", "layer1.0.downsample.1.bias",
            "layer4.2.bn3.weight", "fc.weight", "fc.bias"} <= keys
    assert not any(k.startswith("blocks.") for k in keys)
    with torch.inference_mode():
        net.eval()
        assert net(torch.randn(2, 3, 16, 32, 32)).shape == (2, 2048)
        assert net.logits(torch.randn(1, 3, 16, 32, 32)).shape == (1, 400)


@pytest.fixture(scope="module")
def resnet3d_checkpoint(tmp_path_factory):
    """``i3d_r50_kinetics.pth`` as pytorch-resnet3d ships it: a plain state dict of I3Res50 (seed 12,
    BatchNorm statistics and affine parameters drawn so that they matter), without the
    ``num_batches_tracked`` entries that files converted before PyTorch 0.4.1 lack."""
    torch.manual_seed(12)
    net = I3DResNet50()
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.1, 0.5)
            m.bias.data.normal_(0, 0.1)
    state = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    path = tmp_path_factory.mktemp("resnet3d") / "i3d_r50_kinetics.pth"
    torch.save(state, path)
    return path, net.eval(), state


def test_resnet3d_loader_reproduces_the_saved_network(resnet3d_checkpoint, frames_store, tmp_path):
    path, net, state = resnet3d_checkpoint
    model, info = build_i3d(weights=path, backbone="resnet3d")
    clip = torch.randn(2, 3, 16, 32, 32)
    with torch.inference_mode():
        loaded, saved = model(clip), net(clip)
        untrained = build_i3d(seed=0, backbone="resnet3d")[0](clip)
    assert torch.equal(loaded, saved) and not torch.allclose(loaded, untrained)
    assert info["extractor"] == "i3d_r50_resnet3d" and info["backbone"] == "resnet3d"
    assert info["pretrained"] is True and info["weights_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    wrapped = tmp_path / "wrapped.pth"                   # a training script's {"state_dict": ...}
    torch.save({"state_dict": state, "epoch": 3}, wrapped)
    with torch.inference_mode():
        assert torch.equal(build_i3d(weights=wrapped, backbone="resnet3d")[0](clip), saved)

    out = tmp_path / "resnet3d.zarr"
    extract_features(frames_store, out, {**SMALL, "crops": 1, "dtype": "float32", "backbone": "resnet3d",
                                         "weights": str(path)}, device="cpu")
    store = open_store(out, "features", feature=2048)
    assert store.shape == (2, 1, 2048) and store.attrs["backbone"] == "resnet3d"
    assert store.attrs["extractor"] == "i3d_r50_resnet3d" and store.attrs["pretrained"] is True


def test_resnet3d_loader_names_the_keys_of_a_wrong_layout(resnet3d_checkpoint, zoo_checkpoint, tmp_path):
    path, _, state = resnet3d_checkpoint
    zoo, _ = zoo_checkpoint
    with pytest.raises(WeightsError) as err:                  # pytorchvideo's file given to resnet3d
        build_i3d(weights=zoo, backbone="resnet3d")
    message = str(err.value)
    assert str(zoo) in message and "I3Res50" in message
    assert "missing keys bn1.bias, bn1.running_mean" in message and "unexpected keys blocks.0.conv.weight" in message

    bad = dict(state)
    del bad["layer2.1.conv1.weight"]
    bad["layer4.0.conv1.weight"] = torch.zeros(512, 1024, 3, 1, 1)    # inflated where I3Res50 is not
    torn = tmp_path / "torn.pth"
    torch.save(bad, torn)
    with pytest.raises(WeightsError) as err:
        build_i3d(weights=torn, backbone="resnet3d")
    message = str(err.value)
    assert str(torn) in message and "missing keys layer2.1.conv1.weight" in message
    assert "layer4.0.conv1.weight [512, 1024, 3, 1, 1] vs [512, 1024, 1, 1, 1]" in message
    with pytest.raises(WeightsError, match=f"{tmp_path / 'none.pth'}: no such weights file"):
        build_i3d(weights=tmp_path / "none.pth", backbone="resnet3d")
    with pytest.raises(WeightsError, match="under 'model_state'"):  # and the other way round
        build_i3d(weights=path)
    with pytest.raises(ValueError, match="features.i3d.backbone must be one of"):
        build_i3d(backbone="c3d")


def test_preprocessing_keys_size_channels_and_crop_order():
    frames = torch.from_numpy(random_frames(n=4, h=24, w=30, seed=3))
    index = torch.tensor([[0, 1, 2, 3]])
    grouped = preprocess_snippets(frames, index, 24, 16, 10)
    interleaved = preprocess_snippets(frames, index, 24, 16, 10, order="interleaved")
    order = [0, 5, 1, 6, 2, 7, 3, 8, 4, 9]                      # each view, then its mirror image
    assert torch.equal(interleaved, grouped[order])
    assert view_names(10, "interleaved")[:4] == ["top_left", "top_left_flipped", "top_right", "top_right_flipped"]
    assert view_names(10, "interleaved") == [view_names(10)[i] for i in order]
    mirrored = preprocess_snippets(frames, index, 24, 16, 10, order="mirrored_frame")
    assert torch.equal(mirrored, grouped[[0, 1, 4, 2, 3, 6, 5, 9, 8, 7]])
    # its crops 5-9 are the five positions (top-left, top-right, centre, ...) of the mirrored frame
    flipped = preprocess_snippets(frames.flip(2), index, 24, 16, 10)
    assert torch.equal(mirrored[5:], flipped[[0, 1, 4, 2, 3]])
    bgr = preprocess_snippets(frames, index, 24, 16, 1, channels="bgr")
    assert torch.equal(bgr, preprocess_snippets(frames.flip(-1), index, 24, 16, 1))
    exact = preprocess_snippets(frames, index, 24, 16, 1, size=(20, 40))   # aspect not kept
    ref = preprocess_snippets(frames, index, 20, 16, 1)                     # 20 x 25: a different frame
    assert exact.shape == ref.shape == (1, 3, 4, 16, 16) and not torch.allclose(exact, ref)
    half = preprocess_snippets(frames, index, 24, 16, 1, mean=(0.5,) * 3, std=(0.5,) * 3)
    assert half.min() >= -1 and half.max() <= 1                # (x * 2 / 255) - 1
    with pytest.raises(ValueError, match="features.i3d.tail must be one of"):
        SnippetExtractor({**SMALL, "tail": "wrap"}, "cpu")
    with pytest.raises(ValueError, match="features.i3d.crop .* larger than features.i3d.size"):
        SnippetExtractor({**SMALL, "size": [24, 40]}, "cpu")


def test_tail_rules_give_the_snippets_of_the_rule(tmp_path):
    """A 40-frame video (not a multiple of 16): pad and slide give 3 snippets, drop 2; slide's last
    snippet is the features of frames 24..39, pad's of 32..39 and the last frame repeated; the first
    two are the same under every rule; the store records the rule."""
    frames = random_frames(n=40, h=32, w=40, seed=4)
    path = tmp_path / "v.zarr"
    write_store(path, "frames", frames, FRAME_ATTRS)
    params = {"short_side": 32, "crop": 32, "crops": 1, "batch": 2, "dtype": "float32"}
    feats = {}
    for tail in ("pad", "slide", "drop"):
        extract_features(path, tmp_path / f"{tail}.zarr", {**params, "tail": tail}, device="cpu")
        store = open_store(tmp_path / f"{tail}.zarr", "features")
        assert store.attrs["tail"] == store.attrs["preprocessing"]["tail"] == tail
        feats[tail] = store.read()
    assert [len(feats[t]) for t in ("pad", "slide", "drop")] == [3, 3, 2]
    extractor = SnippetExtractor(params, "cpu")
    tol = reordering_tolerance(extractor.model, feats["pad"])
    np.testing.assert_allclose(feats["slide"][:2], feats["pad"][:2], rtol=0, atol=tol)
    np.testing.assert_allclose(feats["drop"], feats["pad"][:2], rtol=0, atol=tol)
    np.testing.assert_allclose(feats["slide"][2], extractor(frames[24:40])[0], rtol=0, atol=tol)
    np.testing.assert_allclose(feats["pad"][2], extractor(frames[32:40])[0], rtol=0, atol=tol)
    assert not np.allclose(feats["slide"][2], feats["pad"][2], atol=10 * tol)


# --- import of published features (RTFM layout) ---------------------------------------------------------

TRAIN = {"01_001": 2, "01_002": 3, "02_003": 1}          # video -> snippets
TEST = {"01_0014": 3, "02_0001": 2}
GT = {"01_0014": np.r_[np.zeros(20), np.ones(10), np.zeros(18)], "02_0001": np.zeros(32)}


@pytest.fixture
def rtfm(tmp_path):
    """Published layout: lists with the authors' absolute paths, one .npy per video, gt-sh.npy."""
    feats_dir = tmp_path / "i3d"
    feats_dir.mkdir()
    rng = np.random.default_rng(0)
    arrays = {}
    for split, videos in (("Train", TRAIN), ("Test", TEST)):
        lines = []
        for video, snippets in videos.items():
            arrays[video] = rng.normal(size=(snippets, 10, 2048)).astype(np.float32)
            np.save(feats_dir / f"{video}_i3d.npy", arrays[video])
            lines.append(f"/home/someone/SH_{split}_ten_crop_i3d/{video}_i3d.npy")
        (tmp_path / f"{split.lower()}.list").write_text("\n".join(lines) + "\n")
    np.save(tmp_path / "gt-sh.npy", np.concatenate([GT[v] for v in TEST]))
    cfg = {"imported": {"train_list": str(tmp_path / "train.list"), "test_list": str(tmp_path / "test.list"),
                        "ground_truth": str(tmp_path / "gt-sh.npy"), "features_dir": str(feats_dir),
                        "scene_regex": r"^(\d+)_",
                        "train_labels": {"from": "list_order", "abnormal_first": 1},
                        "test_labels": {"from": "ground_truth"}}}
    return tmp_path, cfg, arrays


def test_import_manifest_features_and_ground_truth(rtfm):
    root, cfg, arrays = rtfm
    entries = list_imported_videos(cfg)
    by_id = {e.video: e for e in entries}
    assert [e.video for e in entries] == list(TRAIN) + list(TEST)
    assert {v: by_id[v].n_frames for v in by_id} == {v: 16 * s for v, s in {**TRAIN, **TEST}.items()}
    assert [e.label for e in entries] == [1, 0, 0, 1, 0]          # first training entry; gt for test
    assert [e.split_weak for e in entries] == ["train"] * 3 + ["test"] * 2
    assert all(e.source_kind == "features" and e.split_oneclass == "" for e in entries)
    assert by_id["02_003"].scene == "02" and by_id["01_001"].source == str(root / "i3d" / "01_001_i3d.npy")
    write_manifest(root / "manifest.csv", entries)

    out = root / "features" / "01_0014.zarr"
    import_video(by_id["01_0014"].source, out, cfg["imported"])
    store = open_store(out, "features", feature=2048, crop=10)
    np.testing.assert_array_equal(store.read(), arrays["01_0014"])
    assert store.data.dtype == np.float32
    assert store.attrs["extractor"] == "imported" and store.attrs["pretrained"] is True
    assert store.attrs["source"] == by_id["01_0014"].source and store.attrs["snippet_len"] == 16

    import_ground_truth(cfg, root / "manifest.csv", root / "ground_truth.npz")
    truth = load_ground_truth(root / "ground_truth.npz")
    assert sorted(truth) == sorted(TEST)
    for video in TEST:
        np.testing.assert_array_equal(truth[video], GT[video].astype(np.uint8))


def test_import_label_rules(rtfm):
    root, cfg, _ = rtfm
    section = cfg["imported"]
    def labels(**rules) -> list[int]:
        return [e.label for e in list_imported_videos({"imported": {**section, **rules}})]

    assert labels(train_labels={"from": "name", "normal_contains": "_00"},
                  test_labels={"from": "name", "normal_contains": "02_"}) == [0, 0, 0, 1, 0]
    from_file = {"from": "file", "path": str(root / "labels.csv")}
    (root / "labels.csv").write_text("video,label\n01_001,0\n01_002,1\n02_003,1\n")
    assert labels(train_labels=from_file) == [0, 1, 1, 1, 0]
    (root / "labels.csv").write_text("01_001,0\n01_002,1\n")
    with pytest.raises(FeatureImportError, match=r"no label for videos \['02_003'\]"):
        labels(train_labels=from_file)
    with pytest.raises(FeatureImportError, match="train_labels is required"):
        list_imported_videos({"imported": {k: v for k, v in section.items() if k != "train_labels"}})


def test_transposed_files_only_with_the_flag(rtfm):
    root, cfg, arrays = rtfm
    path = root / "i3d" / "01_002_i3d.npy"
    np.save(path, arrays["01_002"].transpose(1, 0, 2))           # [10, 3, 2048]
    with pytest.raises(FeatureImportError, match="video 01_002 .* 3 crops"):
        import_video(path, root / "x.zarr", cfg["imported"])
    import_video(path, root / "x.zarr", {**cfg["imported"], "layout": "crop_snippet_feature"})
    np.testing.assert_array_equal(open_store(root / "x.zarr", "features").read(), arrays["01_002"])


def test_import_errors_name_the_video(rtfm):
    root, cfg, arrays = rtfm
    feats = root / "i3d"
    np.save(feats / "02_003_i3d.npy", np.zeros((1, 10, 1024), np.float32))
    with pytest.raises(FeatureImportError, match="video 02_003 .* 1024-d, expected imported.dim = 2048"):
        list_imported_videos(cfg)
    with pytest.raises(FeatureImportError, match="video 02_003 .* 1024-d"):
        import_video(feats / "02_003_i3d.npy", root / "x.zarr", cfg["imported"])
    (feats / "02_003_i3d.npy").unlink()
    with pytest.raises(FeatureImportError, match="video 02_003: feature file .*02_003_i3d.npy does not"):
        list_imported_videos(cfg)

    nan = arrays["01_001"].copy()
    nan[1, 3, 7] = np.nan
    np.save(feats / "01_001_i3d.npy", nan)
    with pytest.raises(FeatureImportError, match=r"video 01_001 .* snippets \[1\] hold NaN or Inf"):
        import_video(feats / "01_001_i3d.npy", root / "x.zarr", cfg["imported"])
    assert not (root / "x.zarr").exists()


def test_ground_truth_mismatches_name_the_video(rtfm):
    root, cfg, _ = rtfm
    entries = list_imported_videos(cfg)
    write_manifest(root / "manifest.csv", entries)
    gt = root / "gt-sh.npy"
    full = np.concatenate([GT[v] for v in TEST])
    np.save(gt, full[:60])                                       # ends inside the second test video
    with pytest.raises(FeatureImportError, match="ends at frame 60, inside test video 02_0001"):
        import_ground_truth(cfg, root / "manifest.csv", root / "gt.npz")
    np.save(gt, np.r_[full, np.zeros(16)])                       # 16 frames too many
    with pytest.raises(FeatureImportError, match="16 frames are left after the last video 02_0001"):
        import_ground_truth(cfg, root / "manifest.csv", root / "gt.npz")
    assert not (root / "gt.npz").exists()

    per_video = root / "gt.npz"
    np.savez(per_video, **{"01_0014": GT["01_0014"], "02_0001": GT["02_0001"][:30]})
    npz_cfg = {"imported": {**cfg["imported"], "ground_truth": str(per_video)}}
    with pytest.raises(FeatureImportError, match="test video 02_0001 has 30 labelled frames, .* cover 32"):
        import_ground_truth(npz_cfg, root / "manifest.csv", root / "out.npz")

    np.save(gt, full)
    write_manifest(root / "partial.csv", [e for e in entries if e.video != "01_0014"])
    with pytest.raises(FeatureImportError, match="test video 01_0014 .* is not in the manifest"):
        import_ground_truth(cfg, root / "partial.csv", root / "out.npz")
    import_ground_truth(cfg, root / "manifest.csv", root / "out.npz")
    assert sorted(load_ground_truth(root / "out.npz")) == sorted(TEST)


def test_duplicate_videos_are_refused(rtfm):
    root, cfg, _ = rtfm
    lines = (root / "test.list").read_text() + "/elsewhere/01_001_i3d.npy\n"
    (root / "test.list").write_text(lines)
    with pytest.raises(FeatureImportError, match="video 01_001 appears twice"):
        list_imported_videos(cfg)
