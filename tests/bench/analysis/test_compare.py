"""`python -m bench compare`: paired verdicts per cell, chosen configurations, rankings, exit
codes, and one-line errors for bad files."""
import copy
import json

import numpy as np
import pytest

from bench.analysis.compare import DIFFERS, INCONCLUSIVE, REPRODUCED, TOLERANCE, compare, judge
from bench.analysis.stats import unpaired
from bench.cli import main
from bench.errors import UsageError
from tests.bench.fake_results import make_results, make_schema_1_results, resummarize, shift_accuracy

# Seed luck that spreads a cell's seeds widely (sd ~ 5 points), the same in both files.
LUCK = {1000 + i: value for i, value in enumerate([-0.06, 0.05, -0.02, 0.07, -0.05, 0.01, 0.04, -0.04])}


def _lucky(shift=None, jitter=0.0):
    rng = np.random.default_rng(7)
    noise = {seed: float(rng.normal(0, jitter)) for seed in LUCK}

    def evaluation_shift(optimizer, init, seed):
        moved = shift if (optimizer, init) == ("sgd", "glorot_uniform") and shift else 0.0
        return LUCK[seed] + moved + noise[seed]

    return make_results(evaluation_seeds=8, evaluation_shift=evaluation_shift)


def test_a_file_reproduces_itself(write_results, capsys):
    path = write_results()
    assert main(["compare", str(path), str(path)]) == 0
    out = capsys.readouterr().out
    assert "compare: reproduced: 20 reproduced, 0 inconclusive, 0 DIFFER of 20 cells" in out
    assert "the same for 5 of 5 pairs" in out
    assert "CPU AMD EPYC 7B13" in out  # both sides' provenance in the header


def test_float_level_noise_is_reproduced():
    reference = make_results()
    new = copy.deepcopy(reference)
    rng = np.random.default_rng(0)
    for run in new["runs"]:
        for key in ("final_test_accuracy", "final_val_accuracy"):
            if run[key] is not None:
                run[key] = float(np.clip(run[key] + rng.normal(0, 1e-7), 0, 1))
    result = compare(reference, resummarize(new))
    assert result.reproduced and not result.inconclusive, [(c.cell, c.reason) for c in result.inconclusive]
    assert all(c.difference.test in ("paired t", "none") for c in result.cells)


def test_a_consistent_shift_that_welch_misses_is_caught_by_pairing():
    reference, new = _lucky(jitter=1e-4), _lucky(shift=0.015, jitter=1e-4)
    result = compare(reference, new)
    (differing,) = result.differing
    assert differing.cell[:4] == ("digits-mlp", "sgd", "glorot_uniform", "evaluation")
    assert differing.difference.test == "paired t" and differing.difference.mean == pytest.approx(0.015, abs=1e-3)
    # the unpaired test on the same numbers sees only the seeds' spread
    runs = {side: [r["final_test_accuracy"] for r in doc["runs"]
                   if (r["optimizer"], r["init"], r["phase"]) == ("sgd", "glorot_uniform", "evaluation")]
            for side, doc in (("reference", reference), ("new", new))}
    assert unpaired(runs["new"], runs["reference"]).p_value > 0.5
    assert sum(c.verdict == REPRODUCED for c in result.cells) == len(result.cells) - 1
    assert not result.reproduced


def test_the_same_spread_on_other_seeds_is_inconclusive_not_differing():
    reference = _lucky()
    new = copy.deepcopy(_lucky(shift=0.015))
    for run in new["runs"]:  # other evaluation seeds: nothing to pair
        if run["phase"] == "evaluation":
            run["seed"] += 100
    new["meta"]["config"]["evaluation_seeds"] = [seed + 100 for seed in new["meta"]["config"]["evaluation_seeds"]]
    result = compare(reference, resummarize(new))
    cell = next(c for c in result.cells if c.cell[:4] == ("digits-mlp", "sgd", "glorot_uniform", "evaluation"))
    assert cell.difference.test == "Welch t" and cell.verdict == INCONCLUSIVE
    assert result.reproduced  # inconclusive does not fail


def test_a_large_shift_differs_with_exit_code_1(write_results, capsys):
    reference = make_results()
    reference_path = write_results("reference.json", reference)
    new_path = write_results("new.json", shift_accuracy(reference, "adam", "he_normal", -0.2))
    assert main(["compare", str(reference_path), str(new_path)]) == 1
    out = capsys.readouterr().out
    assert "compare: DIFFERS" in out and "1 DIFFER of 20 cells" in out


def test_failure_counts_that_differ_make_a_cell_differ():
    reference = make_results(failures={}, selection_seeds=8)
    new = make_results(failures={("sgd", 0.01): (1.0, "exploded")}, selection_seeds=8)
    cell = next(c for c in compare(reference, new).cells if c.cell[1:4] == ("sgd", "he_normal", "selection")
                and c.configuration == "lr 0.01")
    assert cell.verdict == DIFFERS and "failures 0/8 vs 8/8" in cell.reason


def test_a_changed_choice_is_reported():
    reference = make_results()
    new = shift_accuracy(reference, "sgd", "he_normal", -0.5, phase="selection", lr=0.1)  # lr 0.1 now looks bad
    changed = [chosen for chosen in compare(reference, new).chosen if not chosen.same]
    assert [(c.pair, c.reference, c.new) for c in changed] == [
        (("digits-mlp", "sgd", "he_normal"), "lr 0.1", "lr 0.01")]


def test_a_changed_ranking_is_reported():
    reference = make_results()
    new = shift_accuracy(reference, "sgd", "he_normal", +0.06)  # sgd now beats adam under he_normal
    ranking = next(r for r in compare(reference, new).rankings if r.init == "he_normal")
    assert ranking.reference_order == ["adam", "sgd"] and ranking.new_order == ["sgd", "adam"]
    assert ranking.tau == pytest.approx(-1.0)
    same = next(r for r in compare(reference, reference).rankings if r.init == "he_normal")
    assert same.tau == pytest.approx(1.0) and same.reference_order == same.new_order


def test_cells_in_one_file_only_are_listed_not_failed():
    reference = make_results()
    new = copy.deepcopy(reference)
    new["runs"] = [run for run in new["runs"] if run["init"] != "orthogonal"]
    new["summary"] = [row for row in new["summary"] if row["init"] != "orthogonal"]
    result = compare(reference, new)
    assert result.reproduced and len(result.only_in_reference) == 4 and not result.only_in_new


def test_no_cell_in_common_is_not_a_reproduction():
    result = compare(make_results(task="digits-mlp"), make_results(task="digits-cnn"))
    assert not result.cells and not result.reproduced
    assert "no cell in common" in result.summary_line()


def test_a_schema_1_reference_compares_unpaired_against_evaluation_seeds():
    result = compare(make_schema_1_results(), make_results())
    assert result.cells and {c.cell[3] for c in result.cells} == {"evaluation"}
    assert {c.difference.test for c in result.cells} <= {"Welch t", "pooled t"}
    assert "shared seeds" in result.provenance[0]


@pytest.mark.parametrize("reference, new, verdict", [
    ({0: 0.9}, {0: 0.9}, REPRODUCED),                              # one seed each: no NaN
    ({0: 0.9, 1: 0.9, 2: 0.9}, {0: 0.9, 1: 0.9}, REPRODUCED),      # zero variance, identical
    ({0: 0.9, 1: 0.9}, {0: 0.9 + 1e-7, 1: 0.9 + 1e-7}, REPRODUCED),  # float noise
    ({0: 0.9, 1: 0.9}, {0: 0.85, 1: 0.85}, DIFFERS),               # constant, beyond tolerance
    ({0: 0.9}, {0: 0.85}, DIFFERS),                                # one seed each: the tolerance decides
    ({0: 0.90, 1: 0.95, 2: 0.85}, {0: 0.88, 1: 0.97, 2: 0.86}, INCONCLUSIVE),  # noise wider than the tolerance
    ({0: 0.90, 1: 0.95, 2: 0.85, 3: 0.92}, {0: 0.915, 1: 0.965, 2: 0.865, 3: 0.935}, DIFFERS),  # paired shift
    ({0: 0.9, 1: 0.901, 2: 0.9, 3: 0.901}, {5: 0.9, 6: 0.901, 7: 0.9, 8: 0.901}, REPRODUCED),  # Welch
    ({0: 0.9, 1: 0.91}, {5: 0.9, 6: 0.91}, INCONCLUSIVE),          # Welch, two seeds: too wide to tell
])
def test_verdict_edge_cases(reference, new, verdict):
    found, reason, difference, _ = judge(reference, new, (0, 0), TOLERANCE, 0.01)
    assert found == verdict, reason
    assert difference.p_value is None or np.isfinite(difference.p_value)


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _hand_edited(edit):
    document = make_results()
    edit(document)
    return json.dumps(document)


@pytest.mark.parametrize("content, message", [
    (None, "no such results file"),
    ("{ not json", "not JSON"),
    (json.dumps({"schema_version": 2, "meta": {}, "summary": []}), "missing 'runs'"),
    (json.dumps([1, 2]), "not an initopt results file"),
    (json.dumps({"schema_version": 3, "meta": {}, "runs": [], "summary": []}), "schema_version 3"),
    (_hand_edited(lambda d: d["runs"][0].update(final_val_accuracy=5.0)), "runs[0].final_val_accuracy: 5.0 is not an accuracy"),
    (_hand_edited(lambda d: d["runs"][0].update(diverged="no")), "runs[0].diverged: 'no' is not true or false"),
    (_hand_edited(lambda d: d["runs"][0].update(lr="fast")), "runs[0].lr: 'fast' is not a learning rate"),
    (_hand_edited(lambda d: d["runs"][0].update(seed=None)), "runs[0].seed: None is not a seed"),
    (_hand_edited(lambda d: d["summary"][-1].update(test_accuracy_ci95=[0.9])), "test_accuracy_ci95: [0.9] is not an interval"),
    ('{"schema_version": 2, "meta": ' + "[" * 200_000 + "]" * 200_000 + "}", "nested 200001 levels deep"),
])
def test_bad_files_are_one_line_errors_with_exit_code_2(tmp_path, write_results, capsys, content, message):
    good = str(write_results())
    bad = str(tmp_path / "missing.json") if content is None else _write(tmp_path, "bad.json", content)
    for argv in (["compare", bad, good], ["compare", good, bad]):
        assert main(argv) == 2
        captured = capsys.readouterr()
        assert captured.err.count("\n") == 1 and captured.err.startswith("error: ")
        assert message in captured.err and captured.out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({"results.json", "bad.json"} & {
        p.name for p in tmp_path.iterdir()})  # nothing written


def test_the_python_api_checks_the_schema_too():
    with pytest.raises(UsageError, match="NEW"):
        compare(make_results(), {"schema_version": 2})
