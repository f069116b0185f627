"""How firm a choice is (bench.records.choices): `grid_edge`, `choice_stability`, `n_candidates`
on the chosen rows of a pair."""
import pytest

from bench.records.choices import NEAR_TIE, grid_edge
from bench.records.summary import summarize
from tests.bench.fake_results import hand_made_runs, make_results

CLASSES = {"digits-mlp": 10}


def _pair(*configs):
    """configs: (lr, trial, values) -> the summary of one (task, optimizer, init)'s candidates."""
    runs = []
    for lr, trial, values in configs:
        runs += hand_made_runs(values, [None] * len(values), phase="selection", lr=lr, trial=trial)
    return summarize(runs, {}, num_classes=CLASSES)


def _chosen(rows):
    (chosen,) = [row for row in rows if row["chosen"]]
    return chosen


def test_grid_edge_is_high_when_the_largest_learning_rate_wins():
    rows = _pair((0.01, 0, [0.90, 0.91, 0.90, 0.92]), (0.03, 1, [0.95, 0.96, 0.95, 0.96]))
    chosen = _chosen(rows)
    assert chosen["lr"] == 0.03 and chosen["grid_edge"] == "high" and chosen["n_candidates"] == 2
    assert all(row["grid_edge"] is None and row["choice_stability"] is None for row in rows if not row["chosen"])
    low = _chosen(_pair((0.01, 0, [0.95, 0.96, 0.95, 0.96]), (0.03, 1, [0.90] * 4), (0.1, 2, [0.5] * 4)))
    assert low["grid_edge"] == "low"
    inside = _chosen(_pair((0.01, 0, [0.9] * 4), (0.03, 1, [0.95] * 4), (0.1, 2, [0.5] * 4)))
    assert inside["grid_edge"] is None


@pytest.mark.parametrize("lrs, chosen, edge", [
    ([0.01, 0.03], 0.03, "high"), ([0.01, 0.03], 0.01, "low"), ([0.01, 0.03, 0.1], 0.03, None),
    ([0.1], 0.1, None), ([1e-3, 0.001000000000001], 1e-3, None),  # the same rate to 12 digits: one candidate
])
def test_grid_edge_of_a_choice(lrs, chosen, edge):
    assert grid_edge(chosen, lrs) == edge


def test_a_clear_choice_is_stable_and_a_near_tie_is_not():
    clear = _chosen(_pair((0.01, 0, [0.90, 0.91, 0.90, 0.92]), (0.03, 1, [0.95, 0.96, 0.95, 0.96])))
    assert clear["choice_stability"] == 1.0
    # the two candidates trade places seed by seed: a resample of the seeds flips the choice often
    tie = _chosen(_pair((0.01, 0, [0.95, 0.93, 0.96, 0.94]), (0.03, 1, [0.94, 0.96, 0.93, 0.955])))
    assert tie["choice_stability"] < NEAR_TIE


def test_one_candidate_or_one_seed_has_no_stability():
    single = _chosen(_pair((0.1, 0, [0.9, 0.91, 0.92])))
    assert single["n_candidates"] == 1 and single["grid_edge"] is None and single["choice_stability"] is None
    one_seed = _chosen(_pair((0.01, 0, [0.9]), (0.03, 1, [0.95])))
    assert one_seed["grid_edge"] == "high" and one_seed["choice_stability"] is None


def test_every_chosen_row_of_a_document_carries_its_firmness():
    results = make_results()
    chosen = [row for row in results["summary"] if row["chosen"]]
    assert chosen and all("grid_edge" in row and "choice_stability" in row for row in chosen)
    evaluation = {(r["optimizer"], r["init"]): r for r in chosen if r["phase"] == "evaluation"}
    selection = {(r["optimizer"], r["init"]): r for r in chosen if r["phase"] == "selection"}
    for pair, row in evaluation.items():  # the evaluation row repeats its selection row's verdict
        assert (row["grid_edge"], row["choice_stability"]) == (selection[pair]["grid_edge"],
                                                               selection[pair]["choice_stability"])


def test_a_searched_rate_is_at_the_edge_of_its_space_not_of_its_draws():
    from bench.records.choices import search_edge

    space = {"lr": ["learning_rate", "log", 1e-4, 1.0]}
    assert search_edge(0.5, space) == "high"  # log position 0.92
    assert search_edge(2e-4, space) == "low"
    assert search_edge(0.01, space) is None  # the middle, whatever the few trials drew
    assert search_edge(0.01, {"b1": ["b1", "one_minus_log", 0.8, 0.99]}) is None  # no rate searched
