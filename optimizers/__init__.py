"""Hand-written Optax transformations and the registry of named optimizers.

`optimizers.transform`: the building blocks (`trace`, `scale_by_*`, `add_decayed_weights`,
`scale_by_learning_rate`); `optimizers.alias`: optimizers with optax's names and defaults;
`optimizers.OPTIMIZERS`: name -> OptimizerSpec, what the runner uses; `optimizers.agreement`:
the step-by-step comparison with optax used by `python -m bench verify optimizers` and the tests.
"""
from optimizers.alias import adadelta, adagrad, adam, adamax, adamw, amsgrad, lion, nadam, rmsprop, sgd
from optimizers.registry import OPTIMIZERS
from optimizers.spec import OptimizerSpec
from optimizers.transform import (
    ScaleByAdaDeltaState,
    ScaleByAdamState,
    ScaleByAmsgradState,
    ScaleByLionState,
    ScaleByRmsState,
    ScaleByRssState,
    ScaleByStddevState,
    ScheduleCountState,
    TraceState,
    add_decayed_weights,
    identity,
    scale_by_adadelta,
    scale_by_adam,
    scale_by_adamax,
    scale_by_amsgrad,
    scale_by_learning_rate,
    scale_by_lion,
    scale_by_rms,
    scale_by_rss,
    scale_by_stddev,
    trace,
)

__all__ = [
    "OPTIMIZERS",
    "OptimizerSpec",
    "ScaleByAdaDeltaState",
    "ScaleByAdamState",
    "ScaleByAmsgradState",
    "ScaleByLionState",
    "ScaleByRmsState",
    "ScaleByRssState",
    "ScaleByStddevState",
    "ScheduleCountState",
    "TraceState",
    "adadelta",
    "adagrad",
    "adam",
    "adamax",
    "adamw",
    "add_decayed_weights",
    "amsgrad",
    "identity",
    "lion",
    "nadam",
    "rmsprop",
    "scale_by_adadelta",
    "scale_by_adam",
    "scale_by_adamax",
    "scale_by_amsgrad",
    "scale_by_learning_rate",
    "scale_by_lion",
    "scale_by_rms",
    "scale_by_rss",
    "scale_by_stddev",
    "sgd",
    "trace",
]
