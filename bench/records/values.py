"""How a value counts: JSON null, NaN and inf mean "no value", and an accuracy with no value
counts at chance in every mean (README, "Failures count")."""
from __future__ import annotations

import math


def finite_or_none(value):
    """JSON null, NaN and inf all mean "no value"."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def finite_or_none_within(value):
    """`value` (lists and dicts, nested) with every non-finite float as None, for strict JSON."""
    if isinstance(value, list):
        return [finite_or_none_within(item) for item in value]
    if isinstance(value, dict):
        return {key: finite_or_none_within(item) for key, item in value.items()}
    return finite_or_none(value) if isinstance(value, float) else value


def counted_accuracy(value, chance_accuracy: float) -> float:
    """An accuracy as every mean counts it: as measured, or chance where it is null/non-finite."""
    value = finite_or_none(value)
    return chance_accuracy if value is None else value
