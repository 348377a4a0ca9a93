"""The parameters of Dual TV-L1 optical flow, with OpenCV's defaults, read from a config section."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from vadlib.params import ConfigError, config_key, from_params

SECTION = "flow"


@dataclass(frozen=True)
class TVL1Params:
    """Dual TV-L1 parameters; the defaults are those of ``cv2.optflow.DualTVL1OpticalFlow_create``.

    ``lambda_`` is spelt ``lambda`` in configs. ``gamma`` > 0 adds the illumination variable of
    OpenCV's implementation (a third flow channel that is not scaled between pyramid levels).
    """

    tau: float = 0.25
    lambda_: float = field(default=0.15, metadata={"key": "lambda"})
    theta: float = 0.3
    nscales: int = 5
    warps: int = 5
    epsilon: float = 0.01
    inner_iterations: int = 30
    outer_iterations: int = 10
    scale_step: float = 0.8
    gamma: float = 0.0
    median_filtering: int = 5

    def __post_init__(self) -> None:
        checks = {
            "tau": self.tau > 0, "lambda": self.lambda_ > 0, "theta": self.theta > 0,
            "nscales": self.nscales >= 1, "warps": self.warps >= 1, "epsilon": self.epsilon >= 0,
            "inner_iterations": self.inner_iterations >= 1, "outer_iterations": self.outer_iterations >= 1,
            "scale_step": 0 < self.scale_step < 1, "gamma": self.gamma >= 0,
            "median_filtering": self.median_filtering in (0, 1, 3, 5),
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ConfigError(f"{SECTION}.{bad[0]}", f"TV-L1 parameter(s) {bad} out of range in {self.as_dict()} "
                              "(median_filtering is 0/1 (off), 3 or 5; scale_step in (0, 1); the others positive)")

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The config keys of the TV-L1 parameters."""
        return tuple(config_key(f) for f in fields(cls))

    @classmethod
    def from_config(cls, params: Mapping[str, Any]) -> TVL1Params:
        """The TV-L1 parameters found in ``params`` (other keys are ignored); missing or null ones take
        the defaults, the others are checked (:func:`vadlib.params.from_params`)."""
        keys = set(cls.keys())
        return from_params(cls, {k: v for k, v in params.items() if k in keys and v is not None}, SECTION)

    def as_dict(self) -> dict[str, Any]:
        """The parameters under their config keys (for store attributes)."""
        names = {f.name: config_key(f) for f in fields(self)}
        return {names[k]: v for k, v in asdict(self).items()}
