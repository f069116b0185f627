"""Rounds of measurements that rotate their order: one path for every side-by-side timing of
`perf` (the whole processes, the in-process rows, the start-ups)."""
from __future__ import annotations

import statistics
from typing import Any, Callable, Sequence


def in_rounds(commands: dict[str, Callable[[], Any]], repeats: int,
              before: Callable[[], None] | None = None, shuffle: int | None = None) -> dict[str, list[Any]]:
    """Each of `commands` `repeats` times, in rounds that rotate their order, so that a machine
    that speeds up or slows down during the measurement touches every command alike, `before`
    called before each (the pause before a fresh process: `startup_phases.settle`); each
    command's results in the order they were made. `shuffle`, a seed: each round in its own
    order, drawn from it, where a rotation keeps each command after the same one in every round
    but the one it opens (`perf --ceiling`, whose commands heat the machine unequally)."""
    names = list(commands)
    found: dict[str, list[Any]] = {name: [] for name in names}
    draw = None
    if shuffle is not None:
        import numpy as np

        draw = np.random.default_rng(shuffle)
    for round_ in range(repeats):
        order = ([str(name) for name in draw.permutation(names)] if draw is not None
                 else names[round_ % len(names):] + names[:round_ % len(names)])
        for name in order:
            if before is not None:
                before()
            found[name].append(commands[name]())
    return found


def by_round(numerators: Sequence[float], denominators: Sequence[float]) -> dict[str, Any]:
    """The ratio of two commands' results round by round (`in_rounds` order), each round's two
    processes side by side in the same minutes: every round's ratio, their median (statistics'
    median: the mean of the middle two for an even count), lowest and highest. A ratio of the
    two commands' median processes mixes rounds, so a drift of the host between rounds (this VM
    moves ±25% from hour to hour) enters it; the round's ratio pairs it out."""
    if len(numerators) != len(denominators) or not numerators:
        raise ValueError(f"rounds do not pair: {len(numerators)} against {len(denominators)}")
    each = [top / bottom for top, bottom in zip(numerators, denominators)]
    return {"each": each, "median": statistics.median(each), "min": min(each), "max": max(each)}
