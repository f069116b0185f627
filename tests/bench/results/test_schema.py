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
