"""The one parameters mechanism (vadlib.params) and the stages that build their parameters with it."""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from typing import Literal

import pytest

from vadlib.params import REQUIRED, ConfigError, defaults_of, from_params, resolve


@dataclass(frozen=True)
class Inner:
    width: int = 4
    gain: float = 1.0


@dataclass(frozen=True)
class Stage:
    steps: int                                   # no default: required
    lr: float = 1e-3
    hidden: tuple[int, ...] = (8, 4)
    decoder: tuple[int, ...] | None = None
    mode: Literal["a", "b"] = "a"
    lambda_: float = field(default=0.5, metadata={"key": "lambda"})
    inner: Inner = Inner()


DEFAULTS = {"epochs": 10, "lr": 1e-4, "strides": [2, 3], "size": 256, "name": "x", "gray": True,
            "weights": {"vcr": 0.6, "ffp": 0.4}, "root": REQUIRED}


def _raises(key: str, call, *args):
    with pytest.raises(ConfigError) as info:
        call(*args)
    assert info.value.key == key and str(info.value).startswith(f"{key}: ")
    return str(info.value)


def test_config_error_is_a_value_error_that_names_its_key():
    err = ConfigError("flow.nscales", "expected an int")
    assert isinstance(err, ValueError) and err.key == "flow.nscales" and str(err) == "flow.nscales: expected an int"
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is ConfigError and back.key == err.key and str(back) == str(err)


def test_missing_keys_take_the_defaults_and_values_are_converted():
    s = from_params(Stage, {"steps": 3.0, "lr": 1, "hidden": [16], "lambda": 2, "inner": {"gain": 3}}, "stage")
    assert s == Stage(steps=3, lr=1.0, hidden=(16,), lambda_=2.0, inner=Inner(gain=3.0))
    assert type(s.steps) is int and type(s.lr) is float and type(s.inner.gain) is float
    assert from_params(Stage, {"steps": 1, "decoder": [2, 1]}, "stage").decoder == (2, 1)
    assert defaults_of(Stage)["lambda"] == 0.5 and "steps" not in defaults_of(Stage)
    p = resolve({"lr": 1, "weights": {"vcr": 1}, "root": "/data"}, DEFAULTS, "luss")
    assert p == {**DEFAULTS, "lr": 1.0, "weights": {"vcr": 1.0, "ffp": 0.4}, "root": "/data"}
    assert list(p) == list(DEFAULTS)
    p["weights"]["ffp"] = 9.0
    assert DEFAULTS["weights"]["ffp"] == 0.4                # defaults are copied, never shared


def test_unknown_keys_fail_naming_the_key_and_the_known_ones():
    message = _raises("stage.step", from_params, Stage, {"step": 3}, "stage")
    assert "['decoder', 'hidden', 'inner', 'lambda', 'lr', 'mode', 'steps']" in message
    assert "also unknown: luss.zz" in _raises("luss.epoch", resolve, {"epoch": 1, "zz": 2, "root": "r"}, DEFAULTS,
                                              "luss")
    _raises("stage.lambda_", from_params, Stage, {"steps": 1, "lambda_": 1.0}, "stage")   # the config key is lambda


def test_a_missing_key_without_default_fails_naming_it():
    assert "required" in _raises("stage.steps", from_params, Stage, {}, "stage")
    assert "required" in _raises("luss.root", resolve, {}, DEFAULTS, "luss")


@pytest.mark.parametrize("params, key", [
    ({"steps": "3"}, "stage.steps"),
    ({"steps": True}, "stage.steps"),                     # a boolean is not a number
    ({"steps": 2.5}, "stage.steps"),
    ({"steps": 1, "lr": "fast"}, "stage.lr"),
    ({"steps": 1, "hidden": 8}, "stage.hidden"),
    ({"steps": 1, "hidden": [8, "x"]}, "stage.hidden[1]"),
    ({"steps": 1, "decoder": "mirror"}, "stage.decoder"),
    ({"steps": 1, "mode": "c"}, "stage.mode"),
    ({"steps": 1, "lambda": None}, "stage.lambda"),
])
def test_a_value_of_the_wrong_type_fails_naming_it(params, key):
    _raises(key, from_params, Stage, params, "stage")


@pytest.mark.parametrize("params, key", [
    ({"epochs": "10"}, "luss.epochs"),
    ({"gray": 1}, "luss.gray"),
    ({"strides": [2, 3.5]}, "luss.strides[1]"),
    ({"name": 3}, "luss.name"),
    ({"size": [240, 360]}, "luss.size"),                  # the default's type: an int
])
def test_a_dict_value_of_the_wrong_type_fails_naming_it(params, key):
    _raises(key, resolve, {**params, "root": "r"}, DEFAULTS, "luss")


def test_types_widen_a_default():
    p = resolve({"size": [240, 360], "root": "r"}, DEFAULTS, "luss", {"size": int | list[int]})
    assert p["size"] == [240, 360]
    _raises("luss.size", resolve, {"size": "big", "root": "r"}, DEFAULTS, "luss", {"size": int | list[int]})


def test_nested_keys_are_named_in_dotted_form():
    _raises("luss.weights.vcr", resolve, {"weights": {"vcr": "high"}, "root": "r"}, DEFAULTS, "luss")
    assert "['ffp', 'vcr']" in _raises("luss.weights.prp", resolve, {"weights": {"prp": 1.0}, "root": "r"},
                                       DEFAULTS, "luss")
    _raises("luss.weights", resolve, {"weights": 0.5, "root": "r"}, DEFAULTS, "luss")
    _raises("stage.inner.width", from_params, Stage, {"steps": 1, "inner": {"width": "wide"}}, "stage")
    _raises("stage.inner.depth", from_params, Stage, {"steps": 1, "inner": {"depth": 2}}, "stage")


def test_the_weak_stages():
    from vadlib.weak.config import LANetConfig, MLPConfig, MTVAEConfig, RTFMConfig

    assert MLPConfig.from_params({"hidden": [8], "seed": 3}).hidden == (8,)
    assert MTVAEConfig.from_params(None).decoder is None
    _raises("mlp.epoch", MLPConfig.from_params, {"epoch": 3})
    _raises("rtfm.k", RTFMConfig.from_params, {"k": "3"})
    _raises("rtfm.selection", RTFMConfig.from_params, {"selection": "best"})
    _raises("lanet.prior", LANetConfig.from_params, {"prior": "yes"})
    _raises("mtvae.encoder[0]", MTVAEConfig.from_params, {"encoder": [1.5, 2]})


def test_the_one_class_stages():
    from vadlib.oneclass import luss, memae_cvae, stpa
    from vadlib.oneclass.params import resolve as resolve_oneclass

    p = resolve_oneclass({"size": [64, 96], "loss_weights": {"vcr": 1}}, luss.DEFAULTS, "luss")
    assert p["size"] == [64, 96] and p["loss_weights"] == {"vcr": 1.0, "ffp": 0.4, "prp": 1.0}
    _raises("luss.loss_weights.vcr", resolve_oneclass, {"loss_weights": {"vcr": "x"}}, luss.DEFAULTS, "luss")
    _raises("luss.epoch", resolve_oneclass, {"epoch": 1}, luss.DEFAULTS, "luss")
    _raises("memae_cvae.weights.flow", resolve_oneclass, {"weights": {"flow": 1.0}}, memae_cvae.DEFAULTS,
            "memae_cvae")
    _raises("stpa.eta.spatial", resolve_oneclass, {"eta": {"spatial": None}}, stpa.DEFAULTS, "stpa")


def test_the_flow_masks_mixup_inpaint_and_reference_stages(tmp_path):
    from vadlib.flow.mixup import mixup_flow
    from vadlib.flow.tvl1_params import TVL1Params
    from vadlib.inpaint.train import train_params
    from vadlib.masks import lama_config, make_masks
    from vadlib.reference import score_reference

    assert TVL1Params.from_config({"lambda": 0.3, "nscales": 4.0, "method": "torch", "warps": None}) == \
        TVL1Params(lambda_=0.3, nscales=4)
    _raises("flow.nscales", TVL1Params.from_config, {"nscales": "5"})
    _raises("flow.lambda", TVL1Params.from_config, {"lambda": -1.0})          # out of range
    _raises("masks.overrides.box.margin", lama_config, "thick", {"box": {"margin": "wide"}})
    _raises("masks.preset", lama_config, "huge")
    for params, key in (({"kind": "segmentation"}, "masks.kind"), ({"hold": 0}, "masks.hold"),
                        ({"background": {"frames": "all"}}, "masks.background.frames"),
                        ({"scale": "auto"}, "masks.scale")):
        _raises(key, make_masks, tmp_path / "v.zarr", tmp_path / "m.zarr", params)
    _raises("mixup.region", mixup_flow, tmp_path / "f.zarr", tmp_path / "m.zarr", tmp_path / "o.zarr",
            {"region": "circle"})
    _raises("mixup.alpha", mixup_flow, tmp_path / "f.zarr", tmp_path / "m.zarr", tmp_path / "o.zarr",
            {"alpha": 0})
    assert train_params({"crop": 64})["crop"] == 64
    _raises("inpaint.train.loss", train_params, {"loss": "l3"})
    _raises("inpaint.train.unet_attention[1]", train_params, {"unet_attention": [False, 1]})
    _raises("reference.smoothing", score_reference, {}, str(tmp_path / "r.npz"), {"smoothing": 3}, ["oneclass"])
    _raises("reference.smooth", score_reference, {}, str(tmp_path / "r.npz"), {"smooth": 0}, ["oneclass"])
