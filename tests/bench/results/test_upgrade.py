"""Older files (bench.results.upgrade): schema 1 read as the current schema with shared seeds
flagged, schema 2 with schema 3's fields computed from its runs; both checked as strictly."""
import json

import pytest

from bench.errors import UsageError
from bench.records.queries import chosen_rows, shared_seeds
from bench.results.document import SCHEMA_VERSION, load_results, parse
from tests.bench.fake_results import make_results, make_schema_1_results


def test_a_schema_1_file_is_read_as_the_current_schema_with_shared_seeds_flagged(tmp_path):
    old = make_schema_1_results()
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    upgraded = load_results(path)
    assert upgraded["schema_version"] == SCHEMA_VERSION and shared_seeds(upgraded)
    assert json.loads(path.read_text()) == old  # the file itself is never rewritten
    assert {run["phase"] for run in upgraded["runs"]} == {"evaluation"}
    assert all(run["failed"] == run["diverged"] for run in upgraded["runs"])
    config = upgraded["meta"]["config"]
    assert config["selection_seeds"] == config["evaluation_seeds"] == [0, 1, 2, 3]
    assert config["tasks"] == [{"task": "digits-mlp", "steps": 200, "batch_size": 128, "eval_every": 20,
                                "target": 0.9, "num_classes": 10, "n_test": 270}]
    old_best = {(r["optimizer"], r["init"]): r["lr"] for r in old["summary"] if r["best_lr"]}
    assert {(o, i): row["lr"] for (_, o, i), row in chosen_rows(upgraded, "evaluation").items()} == old_best
    # the summary follows schema 2's rules: a diverged seed counts at chance, not left out
    row = next(r for r in upgraded["summary"] if (r["optimizer"], r["lr"], r["init"]) == ("adam", 0.01, "he_normal"))
    assert row["n_failed"] == 4 and row["test_accuracy_mean"] == pytest.approx(0.1)
    assert not shared_seeds(make_results())


def test_a_schema_1_file_is_checked_as_strictly():
    old = make_schema_1_results()
    old["runs"][3]["final_test_accuracy"] = 5.0
    with pytest.raises(UsageError, match=r"old.json: runs\[3\].final_test_accuracy: 5.0 is not an accuracy"):
        parse(json.dumps(old), source="old.json")
    unknown = make_schema_1_results(task="imagenet")
    with pytest.raises(UsageError, match="cannot upgrade"):
        parse(json.dumps(unknown), source="old.json")


def test_a_schema_2_file_gains_what_schema_3_computes_from_its_runs(tmp_path):
    from tests.bench.fake_results import make_schema_2_results

    old = make_schema_2_results(evaluation_seeds=8)
    run = next(r for r in old["runs"] if r["phase"] == "evaluation" and r["optimizer"] == "sgd")
    run["curve"]["val_accuracy"][2] = 0.95  # peaked, then ended more than 10 points lower
    run["final_val_accuracy"] = run["curve"]["val_accuracy"][-1] = 0.6
    path = tmp_path / "v2.json"
    path.write_text(json.dumps(old))
    upgraded = load_results(path)
    assert upgraded["schema_version"] == SCHEMA_VERSION and upgraded["meta"]["upgraded_from"] == 2
    assert not shared_seeds(upgraded)  # only schema 1 shared its seeds
    assert json.loads(path.read_text()) == old
    flagged = [r for r in upgraded["runs"] if r["unstable"]]
    assert [(r["optimizer"], r["seed"]) for r in flagged] == [("sgd", run["seed"])]
    assert upgraded["verdicts"] and all(entry["best"] for entry in upgraded["verdicts"])
    assert {(r["optimizer"], r["init"], r["phase"], r["trial"]) for r in upgraded["summary"] if r["chosen"]} == {
        (r["optimizer"], r["init"], r["phase"], r["trial"]) for r in old["summary"] if r["chosen"]}
    chosen = [r for r in upgraded["summary"] if r["chosen"] and r["phase"] == "evaluation"]
    assert all(r["test_accuracy_task_ci95"] is not None for r in chosen if r["n_seeds"] > 1)


@pytest.mark.parametrize("name", ["default", "mup", "mnist1d", "tune-digits-mlp"])
def test_the_committed_reference_files_read_as_the_current_schema(name):
    import os

    path = os.path.join(os.path.dirname(__file__), "..", "..", "..", "results", "reference", f"{name}.json")
    document = load_results(path)
    assert document["schema_version"] == SCHEMA_VERSION and "verdicts" in document
    for row in document["summary"]:
        for key in ("test_accuracy_ci95", "val_accuracy_ci95", "test_accuracy_task_ci95"):
            if row[key] is not None:  # never clipped: inside [0, 1] because inside the seeds' range
                assert 0.0 <= row[key][0] <= row[key][1] <= 1.0
        if row["steps_to_target_median"] is not None:
            low, high = row["steps_to_target_median_interval"]
            assert high - low >= 1 and low < row["steps_to_target_median"] <= high
