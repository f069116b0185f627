"""The results document's format (bench.results.schema): its CSV rows."""
import json

from bench.results.schema import SUMMARY_COLUMNS, csv_row
from tests.bench.fake_results import make_results


def test_csv_rows_split_every_interval_and_flatten_lists():
    good = make_results()
    row = next(r for r in good["summary"] if r["phase"] == "evaluation")
    flat = csv_row(row)
    assert tuple(flat) == SUMMARY_COLUMNS
    assert flat["test_accuracy_ci95_low"] == row["test_accuracy_ci95"][0]
    assert flat["seeds"] == "1000 1001 1002 1003"
    assert json.loads(flat["hyperparams"]) == row["hyperparams"]


def test_the_csv_splits_the_new_intervals_too():
    assert {"test_accuracy_task_ci95_low", "steps_to_target_median_interval_high", "grid_edge",
            "choice_stability", "n_unstable"} <= set(SUMMARY_COLUMNS)


def test_a_verdict_with_an_empty_best_set_is_refused():
    import pytest

    from bench.errors import UsageError
    from bench.results.document import parse

    document = make_results()
    document["verdicts"][0]["best"] = []
    with pytest.raises(UsageError, match=r"verdicts\[0\].best: is empty"):
        parse(json.dumps(document), source="edited.json")
    del document["verdicts"]
    with pytest.raises(UsageError, match="missing 'verdicts'"):
        parse(json.dumps(document), source="edited.json")
