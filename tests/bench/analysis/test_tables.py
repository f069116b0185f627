"""The console tables `python -m bench run` prints (bench.analysis.tables)."""
from rich.console import Console

from bench.analysis.tables import failures_line, flag_choices, print_tables, unstable_line
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
    assert "test accuracy %, mean [95% bootstrap CI] over 4 evaluation seeds" in text
    assert "(1/4 failed)" in text          # sgd's chosen lr failed on one evaluation seed
    assert "> 60 (" in text                # a censored median, not the luckiest seeds' median
    assert "(20, 40] (" in text or "(40, 60] (" in text  # a median on the evaluation grid
    assert " ± " not in text                # intervals as asymmetric as the seeds
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
    assert "digits-mlp: test accuracy %, mean [95% bootstrap CI] over 4 evaluation seeds" in lines
    assert "chosen on validation (4 selection seeds); failures counted" in lines


def test_a_choice_at_the_top_of_its_grid_is_flagged_with_the_flag_that_widens_it():
    # sgd's best rate is 0.1 (fake_results.BEST_LR): on the grid 0.01, 0.03 it chooses 0.03, the edge
    results = make_results(optimizers=("sgd",), inits=("he_normal",), single_seed_pairs=(),
                           learning_rates={"sgd": [0.01, 0.03]})
    (chosen,) = [row for row in results["summary"] if row["chosen"] and row["phase"] == "selection"]
    assert chosen["lr"] == 0.03 and chosen["grid_edge"] == "high"
    (line,) = flag_choices(results)
    assert line == ("warning: digits-mlp/sgd/he_normal: chose lr 0.03, the largest of its 2 learning rates: "
                    "the best may lie beyond; widen the grid (e.g. --optimizers sgd --lrs 0.01,0.03,0.09)")
    assert flag_choices(make_results(failures={})) == []  # choices inside their grids, clear ones
    # a user's optimizer: the hint names it as the command line must, by its spec
    results["meta"]["config"]["plugins"] = {"optimizer": {"sgd": {"spec": "./mine.py:sgd"}}}
    (line,) = flag_choices(results)
    assert line.endswith("(e.g. --optimizers ./mine.py:sgd --lrs 0.01,0.03,0.09)")


def test_near_ties_are_flagged():
    results = make_results(failures={})
    for row in results["summary"]:
        if row["chosen"] and (row["optimizer"], row["init"]) == ("adam", "glorot_uniform"):
            row["choice_stability"] = 0.52
    (line,) = flag_choices(results)
    assert "adam/glorot_uniform: chose lr 0.001 in 52% of resamples" in line and "near tie" in line


def test_unstable_runs_are_counted_beside_failures():
    runs = make_results()["runs"]
    assert unstable_line(runs).startswith("unstable: 0 of ")
    runs[0]["unstable"] = True
    assert "x1" in unstable_line(runs)


def test_a_table_whose_seeds_cannot_reach_the_level_says_so_instead_of_a_tie():
    from bench.analysis.tables import best_lines

    entry = {"task": "t", "held_fixed": {"init": "he_normal"}, "level": 0.05, "n_seeds": 4,
             "best": [{"optimizer": "adam", "init": "he_normal"}, {"optimizer": "f", "init": "he_normal"}],
             "minimum_detectable_difference": None}
    (line,) = best_lines({"verdicts": [entry]})
    assert "too few evaluation seeds to judge (4" in line and "tied" not in line
    (line,) = best_lines({"verdicts": [{**entry, "n_seeds": 8, "minimum_detectable_difference": 0.02}]})
    assert line.startswith("t, init he_normal: tied for best: adam, f")
