"""`optimizers.contrib`, a package with one module per method (as optax.contrib), still exports
every name it had as one module."""
import importlib

import pytest

from optimizers import contrib


# Every public name optimizers/contrib.py defined when it was one module.
CONTRIB_NAMES = {
    "muon": ["DEFAULT_NS_COEFFS", "DION_NS_COEFFS", "MuonDimensionNumbers", "MuonState", "NS_COEFFS_PRESETS",
             "PRECONDITIONINGS", "muon", "orthogonalize_via_newton_schulz", "scale_by_muon", "scale_by_shape"],
    "schedule_free": ["ScheduleFreeState", "schedule_free", "schedule_free_adamw", "schedule_free_eval_params",
                      "schedule_free_sgd"],
    "prodigy": ["ProdigyState", "prodigy"],
    "ademamix": ["ScaleByAdemamixState", "ademamix", "scale_by_ademamix"],
    "adopt": ["adopt", "scale_by_adopt"],
}


@pytest.mark.parametrize("module_name", CONTRIB_NAMES)
def test_contrib_reexports_each_methods_module(module_name):
    module = importlib.import_module(f"optimizers.contrib.{module_name}")
    for name in CONTRIB_NAMES[module_name]:
        assert getattr(contrib, name) is getattr(module, name), name


def test_contrib_exports_every_name_it_had_as_one_module():
    assert sorted(contrib.__all__) == sorted(name for names in CONTRIB_NAMES.values() for name in names)
    # the package attribute is the optimizer, not the module of the same name
    for name in ("muon", "schedule_free", "prodigy", "ademamix", "adopt"):
        assert callable(getattr(contrib, name)) and getattr(contrib, name).__name__ == name
    from optimizers.contrib.muon import scale_by_shape

    assert scale_by_shape is contrib.scale_by_shape
