"""`python -m bench compare`: verdicts per cell, exit codes, and one-line errors for bad files."""
import copy
import json

import numpy as np
import pytest

from bench.cli import main
from bench.analysis.compare import DIFFERS, REPRODUCED, TOLERANCE, compare, judge
from bench.errors import UsageError
from tests.bench.fake_results import make_results, shift_accuracy


def test_a_file_reproduces_itself(write_results, capsys):
    path = write_results()
    assert main(["compare", str(path), str(path)]) == 0
    out = capsys.readouterr().out
    assert "reproduced" in out and "differs" not in out
    assert "all 15 cells reproduced" in out


def test_same_distribution_with_other_seeds_and_seed_counts_reproduces():
    reference = make_results(seeds=4, noise_seed=0)
    new = make_results(seeds=8, noise_seed=1)
    result = compare(reference, new)
    assert result.reproduced, [(c.cell, c.reason) for c in result.differing]
    assert {c.seeds_new for c in result.cells} == {1, 8}  # the single-seed pair stays single


def test_a_shifted_cell_differs_and_only_that_cell(write_results, capsys):
    reference = make_results()
    reference_path = write_results("reference.json", reference)
    new_path = write_results("new.json", shift_accuracy(reference, "adam", "he_normal", 0.001, -0.2))
    assert main(["compare", str(reference_path), str(new_path)]) == 1
    out = capsys.readouterr().out
    assert "differs" in out and "1 of 15 cells DIFFER" in out
    result = compare(reference, json.loads(new_path.read_text()))
    (differing,) = result.differing
    assert differing.cell == ("digits-mlp", "adam", "he_normal", 0.001)
    assert differing.difference == pytest.approx(-0.2) and differing.p_value < 0.01


def test_cells_in_one_file_only_are_listed_not_failed(capsys):
    reference = make_results()
    new = copy.deepcopy(reference)
    new["runs"] = [run for run in new["runs"] if run["init"] != "orthogonal"]
    new["summary"] = [row for row in new["summary"] if row["init"] != "orthogonal"]
    result = compare(reference, new)
    assert result.reproduced and len(result.only_in_reference) == 3 and not result.only_in_new


def test_no_cell_in_common_is_not_a_reproduction():
    result = compare(make_results(task="digits-mlp"), make_results(task="digits-cnn"))
    assert not result.cells and not result.reproduced
    assert "no cell in common" in result.summary_line()


@pytest.mark.parametrize("reference, new, verdict", [
    ([0.9], [0.9], REPRODUCED),                         # identical single seeds: no NaN
    ([0.9, 0.9, 0.9], [0.9, 0.9], REPRODUCED),          # zero variance, identical
    ([0.9, 0.9], [0.9 + 1e-7, 0.9 + 1e-7], REPRODUCED), # float noise across devices: within tolerance
    ([0.9, 0.9], [0.85, 0.85], DIFFERS),                # zero variance, beyond tolerance
    ([0.9], [0.85], DIFFERS),                           # one seed each: the tolerance decides
    ([0.90, 0.95, 0.85], [0.88, 0.93, 0.87], REPRODUCED),  # beyond tolerance but seed noise (p large)
    ([], [], REPRODUCED),                               # every seed diverged on both sides
    ([0.9, 0.91], [], DIFFERS),                         # diverged on one side only
])
def test_verdict_edge_cases(reference, new, verdict):
    found, reason, difference, p_value = judge(np.array(reference), np.array(new), TOLERANCE, 0.01)
    assert found == verdict, reason
    assert p_value is None or np.isfinite(p_value)


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("content, message", [
    (None, "no such results file"),
    ("{ not json", "not JSON"),
    (json.dumps({"schema_version": 1, "meta": {}, "summary": []}), "missing 'runs'"),
    (json.dumps([1, 2]), "not an initopt results file"),
    (json.dumps({"schema_version": 2, "meta": {}, "runs": [], "summary": []}), "schema_version 2"),
    (json.dumps({"schema_version": 1, "meta": {}, "runs": [{"task": "x"}], "summary": []}), "runs[0] lacks"),
])
def test_bad_files_are_one_line_errors_with_exit_code_2(tmp_path, write_results, capsys, content, message):
    good = str(write_results())
    bad = str(tmp_path / "missing.json") if content is None else _write(tmp_path, "bad.json", content)
    for argv in (["compare", bad, good], ["compare", good, bad]):
        assert main(argv) == 2
        captured = capsys.readouterr()
        assert captured.err.count("\n") == 1 and captured.err.startswith("error: ")
        assert message in captured.err and captured.out == ""


def test_the_python_api_checks_the_schema_too():
    with pytest.raises(UsageError, match="NEW"):
        compare(make_results(), {"schema_version": 1})
