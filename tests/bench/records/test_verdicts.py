"""Best sets (bench.records.verdicts): the highest test mean is always in its table's set,
identical configurations are tied, a clearly worse one is shown worse with enough seeds and never
with too few, and the set holds the truly best configuration as often as it claims."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from bench.records.verdicts import best_set, max_t_p, tables, verdicts
from tests.bench.fake_results import make_results

N_TEST = 270
SEEDS = list(range(1000, 1008))


def _quantized(values):
    return np.round(np.clip(values, 0, 1) * N_TEST) / N_TEST


def _table(means, seeds=SEEDS, noise=0.01, rng_seed=0):
    """name -> {seed: accuracy}, quantized to 1/N_TEST, with seed luck shared by every name."""
    rng = np.random.default_rng(rng_seed)
    luck = rng.normal(0, noise, size=len(seeds))
    return {name: dict(zip(seeds, _quantized(mean + luck + rng.normal(0, noise, size=len(seeds)))))
            for name, mean in means.items()}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.5, 0.99), min_size=2, max_size=6), st.integers(2, 10), st.integers(0, 10_000))
def test_the_highest_test_mean_is_always_in_the_best_set(means, n_seeds, rng_seed):
    table = _table({f"m{i}": mean for i, mean in enumerate(means)}, seeds=list(range(n_seeds)), rng_seed=rng_seed)
    found = best_set(table)
    top = max(found.means, key=found.means.get)
    assert top in found.best
    assert found.p_values[top] >= 0.5  # of every sign pattern and its mirror, one reaches T <= 0


def test_identical_configurations_are_tied_never_one_better():
    adam = _table({"adam": 0.97})["adam"]
    found = best_set({"adam": adam, "my_adam": dict(adam), "sgd": {s: v - 0.05 for s, v in adam.items()}})
    assert set(found.best) == {"adam", "my_adam"} and found.tied
    assert found.p_values["adam"] == found.p_values["my_adam"] and "sgd" in found.worse
    alone = best_set({"adam": adam, "my_adam": dict(adam)})
    assert alone.best == ["adam", "my_adam"] and alone.p_values == {"adam": 1.0, "my_adam": 1.0}


def test_a_clearly_worse_configuration_is_shown_worse_with_eight_seeds_but_not_with_four():
    adam = _table({"adam": 0.97})["adam"]
    rmsprop = {seed: value + (1 if index % 2 else -1) / N_TEST for index, (seed, value) in enumerate(adam.items())}
    zeros = dict(zip(SEEDS, _quantized(0.10 + np.linspace(-0.01, 0.01, 8))))
    table = {"adam": adam, "rmsprop": rmsprop, "zeros": zeros}
    found = best_set(table)
    assert found.best == ["adam", "rmsprop"] and found.worse["zeros"].p_value == pytest.approx(1 / 256)
    four = best_set({name: dict(list(values.items())[:4]) for name, values in table.items()})
    assert set(four.best) == {"adam", "rmsprop", "zeros"}  # 1/16 > 0.05: too few seeds to judge
    assert four.minimum_detectable_difference is None


def test_one_wild_rival_does_not_hide_a_clear_loser():
    # sgd collapses on one seed: the studentized max-T still sees nesterov lose to rmsprop on every seed
    seeds = SEEDS
    rmsprop = dict(zip(seeds, _quantized(0.985 + np.linspace(-0.003, 0.003, 8))))
    nesterov = {seed: value - 0.01 for seed, value in rmsprop.items()}
    sgd = {seed: (0.26 if seed == seeds[0] else value - 0.005) for seed, value in rmsprop.items()}
    found = best_set({"rmsprop": rmsprop, "nesterov": nesterov, "sgd": sgd})
    assert "nesterov" in found.worse and found.best[0] == "rmsprop"


def test_max_t_edge_cases():
    beaten_everywhere = np.array([[0.01, 0.02, 0.005, 0.03, 0.01, 0.004, 0.02, 0.01]])
    assert max_t_p(beaten_everywhere) == pytest.approx(1 / 256)  # only the observed sign pattern
    constant = np.full((1, 8), 3 / 270)
    assert max_t_p(constant) == pytest.approx(1 / 256)  # zero spread: an infinite t, still 1/2^n
    assert max_t_p(np.zeros((3, 8))) == 1.0 and max_t_p(np.ones((2, 1))) == 1.0
    assert max_t_p(np.full((1, 2), 0.5)) == pytest.approx(1 / 4)  # two seeds: never below 1/4


def test_the_verdicts_of_a_document():
    results = make_results(evaluation_seeds=8, single_seed_pairs=())
    found = verdicts(results)
    assert [(entry["task"], entry["held_fixed"]) for entry in found] == [
        ("digits-mlp", {"init": "he_normal"}), ("digits-mlp", {"init": "glorot_uniform"}),
        ("digits-mlp", {"optimizer": "sgd"}), ("digits-mlp", {"optimizer": "adam"}), ("digits-mlp", {})]
    overall = found[-1]
    assert overall["best"] == [{"optimizer": "adam", "init": "he_normal"}]  # adam/he_normal leads by 2 points
    assert overall["level"] == 0.05 and "Hsu" in overall["method"] and overall["n_seeds"] == 8
    assert results["verdicts"] == found  # written into the document by build
    assert [held for _, held, _ in tables(make_results(inits=("he_normal",), single_seed_pairs=()))] == [
        {"init": "he_normal"}]  # one init: no overall table (it would repeat the init's)


@pytest.mark.slow
@pytest.mark.parametrize("n_seeds", [4, 8])
def test_the_best_set_misses_the_truly_best_at_most_at_its_level(n_seeds):
    # three identical methods (seed luck shared, own noise of about one test example each, quantized):
    # each is a truly best one; the set must hold a given one in >= 95% of repetitions
    repetitions, alpha = 2000, 0.05
    rng = np.random.default_rng(n_seeds)
    missed = 0
    for _ in range(repetitions):
        luck = rng.normal(0, 0.01, size=n_seeds)
        table = {name: dict(enumerate(_quantized(0.95 + luck + rng.normal(0, 1 / N_TEST, size=n_seeds))))
                 for name in ("a", "b", "c")}
        missed += "a" not in best_set(table).best
    error = np.sqrt(alpha * (1 - alpha) / repetitions)
    assert missed / repetitions <= alpha + 3 * error
