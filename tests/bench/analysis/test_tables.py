"""The console tables `python -m bench run` prints (bench.analysis.tables)."""
from rich.console import Console

from bench.analysis.tables import failures_line, print_tables
from tests.bench.fake_results import make_results, make_schema_1_results, resummarize


def _printed(document) -> str:
    console = Console(record=True, width=200)
    print_tables(document, console)
    return " ".join(console.export_text().split())  # titles wrap at the table's width


def test_tables_show_evaluation_accuracy_failures_and_censored_speed():
    results = make_results(steps=60, eval_every=20)
    run = next(r for r in results["runs"] if (r["optimizer"], r["init"], r["phase"]) == ("sgd", "he_normal", "evaluation"))
    run.update(failed=True, failure="exploded", steps_to_target=None, examples_to_target=None, final_test_accuracy=0.2)
    text = _printed(resummarize(results))
    assert "test accuracy %, mean ± 95% CI over 4 evaluation seeds" in text
    assert "(1/4 failed)" in text          # sgd's chosen lr failed on one evaluation seed
    assert "> 60 (" in text                # a censored median, not the luckiest seeds' median
    assert "failures: " in text and "non-finite" in text and "exploded" in text
    assert "chosen on validation (4 selection seeds); failures counted" in text


def test_failures_line_counts_by_kind_and_cell():
    runs = make_results()["runs"]
    line = failures_line(runs)
    assert line.startswith(f"failures: {sum(r['failed'] for r in runs)} of {len(runs)} runs (")
    assert "adam/he_normal/selection/lr=0.01 x4" in line
    assert failures_line([r for r in runs if not r["failed"]]).endswith("runs")


def test_a_schema_1_file_says_its_seeds_were_shared():
    from bench.results.document import check_document

    text = _printed(check_document(make_schema_1_results()))
    assert "the same seeds (schema 1)" in text


def test_a_narrow_table_keeps_its_title_and_caption_on_one_line_each():
    results = make_results(optimizers=("sgd",), inits=("he_normal",))
    console = Console(record=True, width=200)
    print_tables(results, console)
    lines = [line.strip() for line in console.export_text().splitlines()]
    assert "digits-mlp: test accuracy %, mean ± 95% CI over 4 evaluation seeds" in lines
    assert "chosen on validation (4 selection seeds); failures counted" in lines
