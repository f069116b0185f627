"""What the protocol changes: the same suite run at a decayed and at a constant learning rate
(`default` and `default-constant`), said in two sentences with their numbers (the README quotes
them through `python -m bench readme`)."""
from __future__ import annotations

from bench.records import budgets
from bench.records.queries import tasks


def _at_longest(results: dict) -> tuple[int | None, dict]:
    budget, part = budgets.slices(results)[-1]
    return budget, part


def _under(accuracies: dict, init: str | None) -> dict:
    kept = {pair: seeds for pair, seeds in accuracies.items() if init is None or pair[2] == init}
    return kept or accuracies


def _mean(seeds: dict[int, float]) -> float:
    return sum(seeds.values()) / len(seeds)


def decay_effect(decayed: dict, constant: dict, init: str | None = "he_normal") -> str:
    """Two sentences: how the decay moved the optimizers' test accuracy (under `init`, at the
    longest budget the two share), and whether their ranking held (Kendall's tau between the
    two runs' rankings, with its bootstrap interval over the shared evaluation seeds)."""
    budget, first = _at_longest(decayed)
    _, second = _at_longest(constant)
    task = tasks(first)[0]
    at_decayed = _under(budgets.pair_accuracies(first, task), init)
    at_constant = _under(budgets.pair_accuracies(second, task), init)
    shared = sorted(set(at_decayed) & set(at_constant))
    entry = budgets.agreement({p: at_constant[p] for p in shared}, {p: at_decayed[p] for p in shared})
    if entry is None:
        return "The decayed and constant runs share fewer than two configurations: nothing to compare.\n"
    constant_means = {p: _mean(at_constant[p]) for p in shared}
    decayed_means = {p: _mean(at_decayed[p]) for p in shared}
    gains = sorted(decayed_means[p] - constant_means[p] for p in shared)
    where = f"{task}" + (f", {budget} steps" if budget else "") + (f", under {init}" if init else "")
    tau = "undefined" if entry["tau"] is None else f"{entry['tau']:+.2f}"
    interval = (f" [95% CI {entry['ci95'][0]:+.2f}, {entry['ci95'][1]:+.2f}]" if entry["ci95"] else "")
    leader_constant, leader_decayed = ("/".join(leader[:1]) for leader in entry["leaders"])
    return (f"On {where}, decaying the learning rate (a warm-up, then a cosine to zero; each optimizer at "
            f"its rate swept under that schedule) moved the {len(shared)} optimizers' mean test accuracy "
            f"from {min(constant_means.values()):.3f}-{max(constant_means.values()):.3f} at a constant rate "
            f"to {min(decayed_means.values()):.3f}-{max(decayed_means.values()):.3f} (per optimizer "
            f"{gains[0]:+.3f} to {gains[-1]:+.3f}). "
            f"Their ranking under the two schedules agrees with Kendall's tau {tau}{interval} over "
            f"{entry['n_seeds']} evaluation seeds, and the leader by mean "
            + (f"stays {leader_constant} ({max(constant_means.values()):.3f}, then "
               f"{max(decayed_means.values()):.3f})" if leader_constant == leader_decayed else
               f"goes from {leader_constant} ({max(constant_means.values()):.3f}) to {leader_decayed} "
               f"({max(decayed_means.values()):.3f})") + ".\n")
