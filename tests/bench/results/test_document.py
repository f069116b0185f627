"""The results document (bench.results.document): every field checked on read with one line
naming the file, the record and the field; bounded nesting; schema-1 files upgraded."""
import copy
import json
import time

import pytest

from bench.errors import UsageError
from bench.records.queries import chosen_rows, shared_seeds
from bench.results.document import (SUMMARY_COLUMNS, SUMMARY_KEYS, check_document, csv_row, load_results,
                                    nesting_depth, parse)
from tests.bench.fake_results import make_results, make_schema_1_results


@pytest.fixture(scope="module")
def good():
    return make_results()


def _edited(document, edit):
    broken = copy.deepcopy(document)
    edit(broken)
    return broken


def _first(document, phase):
    return next(i for i, run in enumerate(document["runs"]) if run["phase"] == phase)


def test_a_written_document_reads_back_unchanged(good, tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(good))
    assert load_results(path) == good
    assert set(good["summary"][0]) == set(SUMMARY_KEYS)


def _set(section, index, field, value):
    def edit(document):
        target = document[section][index] if isinstance(index, int) else document[section]
        for key in field[:-1]:
            target = target[key]
        target[field[-1]] = value
    return edit


@pytest.mark.parametrize("edit, message", [
    (_set("runs", 0, ["final_val_accuracy"], 5.0), "runs[0].final_val_accuracy: 5.0 is not an accuracy in [0, 1]"),
    (_set("runs", 0, ["diverged"], "no"), "runs[0].diverged: 'no' is not true or false"),
    (_set("runs", 0, ["failed"], 0), "runs[0].failed: 0 is not true or false"),
    (_set("runs", 0, ["lr"], "0.1"), "runs[0].lr: '0.1' is not a learning rate"),
    (_set("runs", 0, ["seed"], None), "runs[0].seed: None is not a seed"),
    (_set("runs", 0, ["seed"], -1), "runs[0].seed: -1 is not a seed"),
    (_set("runs", 0, ["seed"], 1.5), "runs[0].seed: 1.5 is not a seed"),
    (_set("runs", 0, ["phase"], "test"), "runs[0].phase: 'test' is not one of"),
    (_set("runs", 0, ["curve", "val_accuracy", 2], -0.5), "runs[0].curve.val_accuracy[2]: -0.5 is not an accuracy"),
    (_set("runs", 0, ["curve", "step"], [20, 40]), "runs[0].curve: lists of unequal length"),
    (_set("runs", 0, ["curve", "step"], list(range(10, 0, -1))), "runs[0].curve.step: steps are not increasing"),
    (_set("runs", 0, ["failure"], "exploded"), "runs[0].failed: False disagrees with failure 'exploded'"),
    (_set("summary", 0, ["test_accuracy_ci95"], [0.9]), "summary[0].test_accuracy_ci95: [0.9] is not an interval"),
    (_set("summary", 0, ["val_accuracy_ci95"], [0.95, 0.9]), "summary[0].val_accuracy_ci95: [0.95, 0.9] is not an interval (low > high)"),
    (_set("summary", 0, ["seeds"], [0, None, 2, 3]), "summary[0].seeds[1]: None is not a seed"),
    (_set("summary", 0, ["n_seeds"], 7), "summary[0].seeds: 4 seeds listed but n_seeds is 7"),
    (_set("summary", 0, ["chosen"], "yes"), "summary[0].chosen: 'yes' is not true or false"),
    (_set("summary", 0, ["test_accuracy_mean"], 0.9), "summary[0].test_accuracy_mean: a selection row reports no test"),
    (_set("summary", -1, ["test_accuracy_mean"], None), "summary[19].test_accuracy_mean: null on an evaluation row"),
    (_set("summary", 0, ["val_accuracy_mean"], None), "summary[0].val_accuracy_mean: None is not an accuracy"),
    (_set("runs", 0, ["hyperparams"], {"x" * 100: [1]}), "...]: [1] is not a number or a string"),
    (_set("meta", None, ["config", "tasks", 0, "num_classes"], 1), "meta.config.tasks[0].num_classes: 1 is not a number of classes"),
    (_set("meta", None, ["config", "tasks"], []), "meta.config.tasks has no settings for task 'digits-mlp'"),
    (_set("meta", None, ["config", "evaluation_seeds"], [0, 1000]), "are both selection and evaluation seeds"),
    (_set("meta", None, ["programs"], [{"runs": "ten"}]), "meta.programs[0].runs: 'ten' is not a count"),
    (_set("meta", None, ["complete"], "true"), "meta.complete: 'true' is not true or false"),
])
def test_hand_edits_are_one_line_naming_the_file_the_record_and_the_field(good, edit, message):
    broken = _edited(good, edit)
    with pytest.raises(UsageError) as raised:
        parse(json.dumps(broken), source="edited.json")
    text = str(raised.value)
    assert text.startswith("edited.json: ") and message in text, text
    assert "\n" not in text and len(text) < 300


def test_a_selection_run_with_a_test_accuracy_or_a_seed_of_the_other_phase_is_refused(good):
    index = _first(good, "selection")
    with pytest.raises(UsageError, match=rf"runs\[{index}\].final_test_accuracy: a selection run"):
        check_document(_edited(good, _set("runs", index, ["final_test_accuracy"], 0.9)))
    with pytest.raises(UsageError, match=rf"runs\[{index}\].seed: 1000 is not among meta.config's selection_seeds"):
        check_document(_edited(good, _set("runs", index, ["seed"], 1000)))


def test_two_chosen_configurations_for_one_pair_are_refused(good):
    def choose_two(document):
        for row in document["summary"]:
            if (row["optimizer"], row["init"], row["phase"]) == ("sgd", "he_normal", "selection"):
                row["chosen"] = True
    with pytest.raises(UsageError, match="sgd/he_normal has 3 chosen configurations"):
        check_document(_edited(good, choose_two))


@pytest.mark.parametrize("text, message", [
    ("{ not json", "not JSON"),
    ('{"schema_version": 2, "meta": {}, "runs": [], "summary": [NaN]}', "not JSON (NaN is not a JSON number"),
    ("[1, 2]", "top level is not an object"),
    ('{"schema_version": 2, "meta": {}, "summary": []}', "missing 'runs'"),
    ('{"schema_version": 3, "meta": {}, "runs": [], "summary": []}', "schema_version 3 is not supported"),
    ('{"schema_version": "2", "meta": {}, "runs": [], "summary": []}', "schema_version '2' is not supported"),
    ('{"schema_version": true, "meta": {}, "runs": [], "summary": []}', "schema_version True is not supported"),
    ('{"schema_version": 2, "meta": {}, "runs": [], "summary": []}', "meta lacks 'config', 'programs'"),
    ('{"schema_version": 2, "meta": [], "runs": [], "summary": []}', "meta: [] is not an object"),
    ('{"schema_version": 2, "meta": {"config": {}, "programs": []}, "runs": {}, "summary": []}',
     "meta.config lacks"),
    ('{"a": ' + "1" * 5000 + "}", "not JSON"),  # an integer too long for Python's int parser
])
def test_malformed_documents_are_one_line_errors(text, message):
    with pytest.raises(UsageError) as raised:
        parse(text, source="bad.json")
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_deep_nesting_is_refused_before_the_parser_recurses():
    deep = "[" * 200_000 + "]" * 200_000
    began = time.perf_counter()
    with pytest.raises(UsageError, match="nested 200001 levels deep"):
        parse('{"schema_version": 2, "meta": ' + deep + "}", source="deep.json")
    assert time.perf_counter() - began < 5  # a scan, not a recursion
    assert nesting_depth('{"a": "[[[[{{{{", "b": [[1]], "c": "\\"[["}') == 3  # brackets in strings ignored


def test_files_that_are_not_there_or_not_text(tmp_path):
    with pytest.raises(UsageError, match="no such results file"):
        load_results(tmp_path / "absent.json")
    with pytest.raises(UsageError, match="no such results file"):
        load_results(tmp_path)  # a folder
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(UsageError, match="not UTF-8"):
        load_results(binary)


def test_provenance_keys_of_the_files_helper_are_allowed(good):
    program = good["meta"]["programs"][0]
    assert {"reuse_key", "records_sha256"} <= set(program)
    check_document(copy.deepcopy(good))
    with pytest.raises(UsageError, match=r"meta.programs\[0\].records_sha256: 5 is not a string"):
        check_document(_edited(good, lambda d: d["meta"]["programs"][0].update(records_sha256=5)))


def test_csv_rows_split_every_interval_and_flatten_lists(good):
    row = next(r for r in good["summary"] if r["phase"] == "evaluation")
    flat = csv_row(row)
    assert tuple(flat) == SUMMARY_COLUMNS
    assert flat["test_accuracy_ci95_low"] == row["test_accuracy_ci95"][0]
    assert flat["seeds"] == "1000 1001 1002 1003"
    assert json.loads(flat["hyperparams"]) == row["hyperparams"]


# -- schema 1 ----------------------------------------------------------------------------------

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
