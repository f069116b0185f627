"""Hand-written Optax transformations and the registry of named optimizers.

Where things live::

    optimizers/transform.py      the building blocks: trace, ema, scale_by_* (Adam, RMSprop,
                                 Lion, ...), add_decayed_weights, scale_by_learning_rate, ...
    optimizers/factorized.py     Adafactor's factored second moment, scale_by_factored_rms
    optimizers/alias.py          optimizers with optax's names, signatures and defaults
    optimizers/contrib/          the optax.contrib ones, one module per method: muon.py,
                                 schedule_free.py, prodigy.py, ademamix.py, adopt.py
                                 (all re-exported by optimizers.contrib)
    optimizers/tree.py           tree helpers the blocks share: moving averages of g and |g|^2,
                                 bias correction, Dozat's look-ahead moment, zeros, casts
    optimizers/numerics.py       scalar helpers the blocks share: |x|^2, the saturating step
                                 count, concrete numbers, canonical dtypes
    optimizers/schedules.py      learning-rate schedules whose arguments may be traced
    optimizers/multipliers.py    per-parameter learning-rate multipliers (muP), scale_by_tree
    optimizers/spec.py           OptimizerSpec, SearchDimension, numeric_arguments
    optimizers/registry.py       OPTIMIZERS: name -> OptimizerSpec, what the runner uses
    optimizers/agreement.py      the step-by-step comparison with optax used by
                                 `python -m bench verify optimizers` and the tests

Importing the package (or any module of it) changes no JAX or XLA setting: precision, platforms
and XLA_FLAGS belong to the program that imports it (tests/optimizers/test_import.py).
"""
from optimizers.alias import (
    adabelief,
    adadelta,
    adafactor,
    adagrad,
    adam,
    adamax,
    adamw,
    amsgrad,
    lamb,
    lars,
    lion,
    nadam,
    nadamw,
    radam,
    rmsprop,
    sgd,
    signum,
    yogi,
)
from optimizers.contrib import (
    MuonDimensionNumbers,
    ScheduleFreeState,
    ademamix,
    adopt,
    muon,
    prodigy,
    schedule_free,
    schedule_free_adamw,
    schedule_free_eval_params,
    schedule_free_sgd,
    scale_by_ademamix,
    scale_by_adopt,
    scale_by_muon,
)
from optimizers.factorized import scale_by_factored_rms
from optimizers.registry import OPTIMIZERS
from optimizers.spec import OptimizerSpec, SearchDimension
from optimizers.transform import (
    EmaState,
    ScaleByAdaDeltaState,
    ScaleByAdamState,
    ScaleByAmsgradState,
    ScaleByBeliefState,
    ScaleByLionState,
    ScaleByRmsState,
    ScaleByRssState,
    ScaleByStddevState,
    ScheduleCountState,
    TraceState,
    add_decayed_weights,
    clip_by_block_rms,
    ema,
    identity,
    scale,
    scale_by_adadelta,
    scale_by_adam,
    scale_by_adamax,
    scale_by_amsgrad,
    scale_by_belief,
    scale_by_learning_rate,
    scale_by_lion,
    scale_by_param_block_rms,
    scale_by_radam,
    scale_by_rms,
    scale_by_rss,
    scale_by_sign,
    scale_by_stddev,
    scale_by_trust_ratio,
    scale_by_yogi,
    trace,
)

__all__ = [
    "EmaState",
    "MuonDimensionNumbers",
    "OPTIMIZERS",
    "ScaleByAdaDeltaState",
    "ScaleByAdamState",
    "ScaleByAmsgradState",
    "ScaleByBeliefState",
    "ScaleByLionState",
    "ScaleByRmsState",
    "ScaleByRssState",
    "ScaleByStddevState",
    "ScheduleCountState",
    "ScheduleFreeState",
    "TraceState",
    "adabelief",
    "adadelta",
    "adafactor",
    "adagrad",
    "adam",
    "adamax",
    "adamw",
    "add_decayed_weights",
    "ademamix",
    "adopt",
    "amsgrad",
    "clip_by_block_rms",
    "ema",
    "identity",
    "lamb",
    "lars",
    "lion",
    "muon",
    "nadam",
    "nadamw",
    "prodigy",
    "radam",
    "rmsprop",
    "scale",
    "scale_by_adadelta",
    "scale_by_adam",
    "scale_by_adamax",
    "scale_by_ademamix",
    "scale_by_adopt",
    "scale_by_amsgrad",
    "scale_by_belief",
    "scale_by_learning_rate",
    "scale_by_lion",
    "scale_by_muon",
    "scale_by_param_block_rms",
    "scale_by_radam",
    "scale_by_rms",
    "scale_by_rss",
    "scale_by_sign",
    "scale_by_stddev",
    "scale_by_trust_ratio",
    "scale_by_yogi",
    "schedule_free",
    "schedule_free_adamw",
    "schedule_free_eval_params",
    "schedule_free_sgd",
    "sgd",
    "signum",
    "trace",
    "yogi",
]
