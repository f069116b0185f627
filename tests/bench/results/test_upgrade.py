"""Schema-1 files (bench.results.upgrade): read as schema 2 with shared seeds flagged, and checked
as strictly as schema 2."""
import json

import pytest

from bench.errors import UsageError
from bench.records.queries import chosen_rows, shared_seeds
from bench.results.document import load_results, parse
from tests.bench.fake_results import make_results, make_schema_1_results


def test_a_schema_1_file_is_read_as_schema_2_with_shared_seeds_flagged(tmp_path):
    old = make_schema_1_results()
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    upgraded = load_results(path)
    assert upgraded["schema_version"] == 2 and shared_seeds(upgraded)
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
