"""Whole-number helpers shared by the config (evaluation periods) and the runner (vmap groups)."""
from __future__ import annotations


def largest_divisor_at_most(n: int, at_most: int) -> int:
    """The largest d <= at_most that divides n (1 at least)."""
    return max(d for d in range(1, min(n, at_most) + 1) if n % d == 0)
