"""Reading a results document (bench.results.document): every field checked on read with one
line naming the file, the record and the field; bounded nesting; files that are not results."""
import copy
import json
import time

import pytest

from bench.errors import UsageError
from bench.results import document
from bench.results.document import check_document, load_results, nesting_depth, parse
from bench.results.schema import SUMMARY_KEYS
from tests.bench.fake_results import edited, make_results, set_field


@pytest.fixture(scope="module")
def good():
    return make_results()


def test_a_written_document_reads_back_unchanged(good, tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(good))
    assert load_results(path) == good
    assert set(good["summary"][0]) == set(SUMMARY_KEYS)


@pytest.mark.parametrize("edit, message", [
    (set_field("runs", 0, ["final_val_accuracy"], 5.0), "runs[0].final_val_accuracy: 5.0 is not an accuracy in [0, 1]"),
    (set_field("runs", 0, ["diverged"], "no"), "runs[0].diverged: 'no' is not true or false"),
    (set_field("runs", 0, ["failed"], 0), "runs[0].failed: 0 is not true or false"),
    (set_field("runs", 0, ["lr"], "0.1"), "runs[0].lr: '0.1' is not a learning rate"),
    (set_field("runs", 0, ["seed"], None), "runs[0].seed: None is not a seed"),
    (set_field("runs", 0, ["seed"], -1), "runs[0].seed: -1 is not a seed"),
    (set_field("runs", 0, ["seed"], 1.5), "runs[0].seed: 1.5 is not a seed"),
    (set_field("runs", 0, ["phase"], "test"), "runs[0].phase: 'test' is not one of"),
    (set_field("runs", 0, ["curve", "val_accuracy", 2], -0.5), "runs[0].curve.val_accuracy[2]: -0.5 is not an accuracy"),
    (set_field("runs", 0, ["curve", "step"], [20, 40]), "runs[0].curve: lists of unequal length"),
    (set_field("runs", 0, ["curve", "step"], list(range(10, 0, -1))), "runs[0].curve.step: steps are not increasing"),
    (set_field("runs", 0, ["failure"], "exploded"), "runs[0].failed: False disagrees with failure 'exploded'"),
    (set_field("summary", 0, ["test_accuracy_ci95"], [0.9]), "summary[0].test_accuracy_ci95: [0.9] is not an interval"),
    (set_field("summary", 0, ["val_accuracy_ci95"], [0.95, 0.9]), "summary[0].val_accuracy_ci95: [0.95, 0.9] is not an interval (low > high)"),
    (set_field("summary", 0, ["seeds"], [0, None, 2, 3]), "summary[0].seeds[1]: None is not a seed"),
    (set_field("summary", 0, ["n_seeds"], 7), "summary[0].seeds: 4 seeds listed but n_seeds is 7"),
    (set_field("summary", 0, ["chosen"], "yes"), "summary[0].chosen: 'yes' is not true or false"),
    (set_field("summary", 0, ["test_accuracy_mean"], 0.9), "summary[0].test_accuracy_mean: a selection row reports no test"),
    (set_field("summary", -1, ["test_accuracy_mean"], None), "summary[19].test_accuracy_mean: null on an evaluation row"),
    (set_field("summary", 0, ["val_accuracy_mean"], None), "summary[0].val_accuracy_mean: None is not an accuracy"),
    (set_field("runs", 0, ["hyperparams"], {"x" * 100: [1]}), "...]: [1] is not a number or a string"),
    (set_field("meta", None, ["config", "tasks", 0, "num_classes"], 1), "meta.config.tasks[0].num_classes: 1 is not a number of classes"),
    (set_field("meta", None, ["config", "tasks"], []), "meta.config.tasks has no settings for task 'digits-mlp'"),
    (set_field("meta", None, ["config", "evaluation_seeds"], [0, 1000]), "are both selection and evaluation seeds"),
    (set_field("meta", None, ["programs"], [{"runs": "ten"}]), "meta.programs[0].runs: 'ten' is not a count"),
    (set_field("meta", None, ["complete"], "true"), "meta.complete: 'true' is not true or false"),
])
def test_hand_edits_are_one_line_naming_the_file_the_record_and_the_field(good, edit, message):
    broken = edited(good, edit)
    with pytest.raises(UsageError) as raised:
        parse(json.dumps(broken), source="edited.json")
    text = str(raised.value)
    assert text.startswith("edited.json: ") and message in text, text
    assert "\n" not in text and len(text) < 300


@pytest.mark.parametrize("text, message", [
    ("{ not json", "not JSON"),
    ('{"schema_version": 2, "meta": {}, "runs": [], "summary": [NaN]}', "not JSON (NaN is not a JSON number"),
    ("[1, 2]", "top level is not an object"),
    ('{"schema_version": 2, "meta": {}, "summary": []}', "missing 'runs'"),
    ('{"schema_version": 4, "meta": {}, "runs": [], "summary": []}', "schema_version 4 is not supported"),
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
        check_document(edited(good, lambda d: d["meta"]["programs"][0].update(records_sha256=5)))


def test_the_names_the_readme_points_at_are_importable_from_the_document_module():
    # docs/results-format.md: bench.results.document owns the format (version, keys, building,
    # checking on read, reading schema-1 files); "Methodology": its selection_key
    for name in ("SCHEMA_VERSION", "SUMMARY_KEYS", "BOTH_PHASES", "build", "csv_row", "load_results",
                 "check_document", "upgrade_schema_1", "selection_key", "choose"):
        assert name in document.__all__ and hasattr(document, name), name
