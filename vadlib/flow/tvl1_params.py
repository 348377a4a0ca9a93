"""The parameters of Dual TV-L1 optical flow, with OpenCV's defaults, read from a config section."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping


@dataclass(frozen=True)
class TVL1Params:
    """Dual TV-L1 parameters; the defaults are those of ``cv2.optflow.DualTVL1OpticalFlow_create``.

    ``lambda_`` is spelt ``lambda`` in configs. ``gamma`` > 0 adds the illumination variable of
    OpenCV's implementation (a third flow channel that is not scaled between pyramid levels).
    """

    tau: float = 0.25
    lambda_: float = 0.15
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
            raise ValueError(f"TV-L1 parameter(s) {bad} out of range in {self.as_dict()} (median_filtering "
                             "is 0/1 (off), 3 or 5; scale_step in (0, 1); the others positive)")

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The config keys of the TV-L1 parameters."""
        return tuple("lambda" if f.name == "lambda_" else f.name for f in fields(cls))

    @classmethod
    def from_config(cls, params: Mapping[str, Any]) -> "TVL1Params":
        """The TV-L1 parameters found in ``params`` (other keys are ignored); missing ones take defaults."""
        kwargs = {}
        for f in fields(cls):
            key = "lambda" if f.name == "lambda_" else f.name
            if key in params and params[key] is not None:
                value = params[key]
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise TypeError(f"TV-L1 parameter {key!r} must be a number, got {value!r}")
                if f.type == "int" and value != int(value):
                    raise TypeError(f"TV-L1 parameter {key!r} must be an integer, got {value!r}")
                kwargs[f.name] = int(value) if f.type == "int" else float(value)
        return cls(**kwargs)

    def as_dict(self) -> dict[str, Any]:
        """The parameters under their config keys (for store attributes)."""
        return {("lambda" if k == "lambda_" else k): v for k, v in asdict(self).items()}
