"""The `optax.contrib` optimizers the suite runs, hand-written like `optimizers.transform`, one
module per method as in optax.contrib::

    optimizers/contrib/muon.py           muon, scale_by_muon, scale_by_shape,
                                         orthogonalize_via_newton_schulz, MuonDimensionNumbers
    optimizers/contrib/schedule_free.py  schedule_free, schedule_free_sgd, schedule_free_adamw,
                                         schedule_free_eval_params
    optimizers/contrib/prodigy.py        prodigy
    optimizers/contrib/ademamix.py       ademamix, scale_by_ademamix
    optimizers/contrib/adopt.py          adopt, scale_by_adopt

Each is written in optax 0.2.8's order of floating-point operations, under optax's name,
signature and defaults, and checked against its twin in `optimizers.agreement`. The formulas
they share with the core blocks are in `optimizers.tree` and `optimizers.numerics`.

Every name is re-exported here, so `from optimizers.contrib import muon` and
`optimizers.contrib.muon(...)` give the optimizer. A module shares its method's name, and the
package attribute is the function: reach a module's other names with
`from optimizers.contrib.muon import scale_by_shape` (or `importlib.import_module`), not with
`import optimizers.contrib.muon as module`.
"""
from optimizers.contrib.ademamix import ScaleByAdemamixState, ademamix, scale_by_ademamix
from optimizers.contrib.adopt import adopt, scale_by_adopt
from optimizers.contrib.muon import (
    DEFAULT_NS_COEFFS,
    DION_NS_COEFFS,
    NS_COEFFS_PRESETS,
    PRECONDITIONINGS,
    MuonDimensionNumbers,
    MuonState,
    muon,
    orthogonalize_via_newton_schulz,
    scale_by_muon,
    scale_by_shape,
)
from optimizers.contrib.prodigy import ProdigyState, prodigy
from optimizers.contrib.schedule_free import (
    ScheduleFreeState,
    schedule_free,
    schedule_free_adamw,
    schedule_free_eval_params,
    schedule_free_sgd,
)

__all__ = [
    "DEFAULT_NS_COEFFS",
    "DION_NS_COEFFS",
    "MuonDimensionNumbers",
    "MuonState",
    "NS_COEFFS_PRESETS",
    "PRECONDITIONINGS",
    "ProdigyState",
    "ScaleByAdemamixState",
    "ScheduleFreeState",
    "ademamix",
    "adopt",
    "muon",
    "orthogonalize_via_newton_schulz",
    "prodigy",
    "scale_by_ademamix",
    "scale_by_adopt",
    "scale_by_muon",
    "scale_by_shape",
    "schedule_free",
    "schedule_free_adamw",
    "schedule_free_eval_params",
    "schedule_free_sgd",
]
