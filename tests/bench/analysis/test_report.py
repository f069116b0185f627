"""`python -m bench report`: the Markdown report, its statistics and the plots, from synthetic
results documents (schema 2 and an upgraded schema 1)."""
import json
import os
import re
from urllib.parse import unquote

import pytest
from markdown_it import MarkdownIt

from bench.analysis.report import render_report, write_report
from bench.cli import main
from tests.bench.fake_results import DEFAULT_LRS, make_results, make_schema_1_results, resummarize

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
KINDS = {"convergence", "convergence-sgd", "convergence-adam", "heatmap", "steps-to-target", "lr-sensitivity"}


@pytest.fixture(scope="module")
def report_with_plots(tmp_path_factory):
    """One small report with plots, shared: drawing is the slow part. Its path has spaces and
    parentheses, which break plain Markdown links."""
    directory = tmp_path_factory.mktemp("report") / "my runs"
    directory.mkdir()
    results_path = directory / "tiny (v2).json"
    results_path.write_text(json.dumps(make_results(steps=60, eval_every=20)))
    report_path = write_report(results_path, plots=True)
    return results_path, report_path, report_path.read_text()


def test_report_is_written_beside_the_results(report_with_plots):
    results_path, report_path, _ = report_with_plots
    assert report_path == results_path.with_suffix(".report.md")


def test_image_links_render_under_commonmark_with_spaces_in_the_path(report_with_plots):
    _, report_path, text = report_with_plots
    images = [token for block in MarkdownIt("commonmark").parse(text) if block.type == "inline"
              for token in block.children if token.type == "image"]
    sources = [unquote(image.attrs["src"]) for image in images]
    assert {source.removeprefix("tiny (v2)-digits-mlp-").removesuffix(".png") for source in sources} == KINDS
    for source in sources:
        png = report_path.parent / source
        assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 5000


def test_report_holds_the_protocol_the_tables_and_the_metadata(report_with_plots):
    _, _, text = report_with_plots
    for heading in ("### Test accuracy of the chosen configuration", "### Best sets", "### Tuning and choices",
                    "### Convergence speed", "### Each configuration against its table's best",
                    "## Run metadata", "**Protocol.**"):
        assert heading in text
    assert "**selection seeds** 0–3 · **evaluation seeds** 1000–1003" in text
    assert "| init \\ optimizer | sgd | adam |" in text
    assert "(n=1, no CI)" in text                  # the single-seed pair
    assert "| orthogonal | — |" in text            # sgd never ran orthogonal
    assert "| adam | he_normal | selection | lr 0.01 | 4 | 4 (non-finite) |" in text  # failures per cell
    assert "| sgd | he_normal | selection | lr 1 | 4 | 2 (exploded) |" in text
    assert "`python -m bench run --suite synthetic`" in text
    assert "| CPU | AMD EPYC 7B13 |" in text and "jax 0.4.35" in text


def test_bold_is_the_best_set_on_test_and_it_holds_the_highest_test_mean():
    # sgd/he_normal tests highest (+6 points on every evaluation seed), though adam leads on validation
    results = make_results(evaluation_seeds=8, single_seed_pairs=(),
                           evaluation_shift=lambda o, i, s: 0.06 if (o, i) == ("sgd", "he_normal") else 0.0)
    text = render_report(results)
    row = next(line for line in text.splitlines() if line.startswith("| he_normal |"))
    sgd_cell, adam_cell = row.split(" | ")[1:3]
    assert sgd_cell.startswith("**0.98") and not adam_cell.startswith("**")  # adam is shown worse on test
    assert "- **every (optimizer, init)** (4 configurations, 8 seeds): best: sgd/he_normal; shown worse:" in text


def test_ties_are_printed_as_ties_in_no_order():
    results = make_results(evaluation_seeds=8, single_seed_pairs=())
    twin = {(r["init"], r["seed"]): r["final_test_accuracy"] for r in results["runs"]
            if r["phase"] == "evaluation" and r["optimizer"] == "adam"}
    for run in results["runs"]:  # sgd scores what adam scores, seed by seed
        if run["phase"] == "evaluation" and run["optimizer"] == "sgd":
            run["final_test_accuracy"] = twin[(run["init"], run["seed"])]
    text = render_report(resummarize(results))
    assert "- **init he_normal** (2 configurations, 8 seeds): tied for best: adam, sgd;" in text
    assert "| identical |" in text


def test_the_report_says_what_its_error_rate_covers_and_never_clips():
    text = render_report(make_results(evaluation_seeds=8))
    assert "The 0.05 error rate covers one table. This report has 5 comparison table(s)" in text
    assert "misses its table's best is at most 0.25 over the report" in text
    assert "percentile bootstrap" in text and "never clipped" in text
    assert "task [" in text  # the interval over seeds and test examples, beside the seeds' one


def test_choices_at_the_edge_and_near_ties_are_flagged_and_the_tuning_said():
    results = make_results()
    for row in results["summary"]:  # pretend sgd/he_normal chose the largest rate of its grid, barely
        if row["chosen"] and (row["optimizer"], row["init"]) == ("sgd", "he_normal"):
            row.update(grid_edge="high", choice_stability=0.55)
    text = render_report(results)
    assert ("| sgd | he_normal | lr 0.1 | 3 | high | 0.55 | at the high edge of its grid: widen it (--lrs); "
            "near tie (stability 0.55 < 0.7): this choice may differ on another machine |") in text
    assert ("Candidates per optimizer (grid of learning rates, chosen on the selection seeds): sgd 3, adam 3. "
            "Every optimizer got the same number.") in text


def test_speed_is_shown_on_the_evaluation_grid_never_narrower():
    text = render_report(make_results(steps=200, eval_every=20))
    row = next(line for line in text.splitlines() if line.startswith("| adam | he_normal | lr 0.001 |"))
    assert row.split(" | ")[3].startswith("(40, 60], CI (")
    bounds = re.findall(r"\((\d+), (\d+)\]", text)
    assert bounds and all(int(high) - int(low) >= 20 for low, high in bounds)


def test_a_difference_below_three_test_examples_says_so():
    results = make_results(evaluation_seeds=8, evaluation_shift=lambda o, i, s: 0.005 if o == "sgd" else 0.0)
    for run in results["runs"]:  # make sgd and adam nearly equal: sgd = adam + 0.005 on every seed
        if run["phase"] == "evaluation" and run["optimizer"] == "sgd":
            twin = next(r for r in results["runs"] if r["phase"] == "evaluation" and r["optimizer"] == "adam"
                        and r["init"] == run["init"] and r["seed"] == run["seed"])
            run["final_test_accuracy"] = twin["final_test_accuracy"] + 0.005 + 1e-4 * (run["seed"] % 3)
    text = render_report(resummarize(results))
    assert "< 3 test examples" in text


def test_censored_medians_show_as_more_than_the_training_length():
    results = make_results(failures={("sgd", 0.1): (0.75, "exploded")}, steps=60, eval_every=20)
    text = render_report(results)
    assert "> 60" in text


def test_report_cli_without_plots(write_results, capsys):
    path = write_results("run.json")
    assert main(["report", str(path), "--no-plots"]) == 0
    assert capsys.readouterr().out.strip() == str(path.with_suffix(".report.md"))
    assert not list(path.parent.glob("*.png"))
    assert "Plots skipped" in path.with_suffix(".report.md").read_text()


def test_an_incomplete_run_is_flagged():
    results = make_results()
    results["meta"]["complete"] = False
    text = render_report(results)
    assert "**Incomplete run**" in text and "**no** (interrupted)" in text


def test_a_schema_1_file_reports_that_its_seeds_were_shared(write_results, capsys):
    path = write_results("old.json", make_schema_1_results())
    assert main(["report", str(path), "--no-plots"]) == 0
    text = path.with_suffix(".report.md").read_text()
    assert "**Schema-1 file**" in text and "shared seeds" in text
    assert "| adam | he_normal | evaluation | lr 0.01 | 4 | 4 (non-finite) |" in text


def test_plots_survive_pairs_where_every_seed_failed():
    import matplotlib.pyplot as plt

    from bench.analysis import plots

    every_sgd_lr = {("sgd", lr): (1.0, "non-finite") for lr in DEFAULT_LRS["sgd"]}
    results = make_results(steps=40, failures=every_sgd_lr, single_seed_pairs=())
    for draw in (plots.convergence_by_optimizer, plots.accuracy_heatmap, plots.steps_to_target_strips,
                 plots.lr_sensitivity):
        plt.close(draw(results, "digits-mlp"))  # drawn, not saved: saving is tested above
    assert "0.100 [0.100, 0.100] · 4/4 failed" in render_report(results)  # counted at chance


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["runs"][0].update(final_val_accuracy=5.0), "runs[0].final_val_accuracy: 5.0"),
    (lambda d: d["runs"][0].update(diverged="no"), "runs[0].diverged: 'no'"),
    (lambda d: d["summary"][-1].update(test_accuracy_ci95=[0.9]), "test_accuracy_ci95: [0.9]"),
    (lambda d: d["runs"][-1].update(seed=None), "seed: None"),
])
def test_a_bad_file_is_one_line_and_leaves_nothing_behind(tmp_path, capsys, edit, message):
    document = make_results()
    edit(document)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(document))
    assert main(["report", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edited.json"]  # no PNG, no .md


def test_report_of_a_missing_file_or_into_a_read_only_folder(tmp_path, write_results, capsys):
    assert main(["report", str(tmp_path / "absent.json")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    path = write_results("run.json")
    os.chmod(path.parent, 0o555)
    try:
        if os.access(path.parent, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        assert main(["report", str(path)]) == 2
        err = capsys.readouterr().err
        assert "cannot write the report there" in err and err.count("\n") == 1
    finally:
        os.chmod(path.parent, 0o755)
    assert re.fullmatch(r"run\.json", " ".join(p.name for p in path.parent.iterdir()))


def test_an_optimizer_that_ran_one_init_gets_no_figure_of_its_own(tmp_path):
    from bench.analysis.plots import plot_paths

    results = make_results(steps=60, eval_every=20, single_seed_pairs=())
    both = {path.name for path in plot_paths(results, tmp_path, "r")}
    assert {"r-digits-mlp-convergence-sgd.png", "r-digits-mlp-convergence-adam.png"} <= both
    results = make_results(steps=60, eval_every=20, inits=("he_normal",), single_seed_pairs=())
    one = {path.name for path in plot_paths(results, tmp_path, "r")}
    assert not any(name.startswith("r-digits-mlp-convergence-") for name in one)
    assert "r-digits-mlp-convergence.png" in one


def test_across_tasks_section_for_two_tasks_only():
    from tests.bench.records.test_aggregates import several_tasks

    text = render_report(several_tasks())
    section = text.split("## Across tasks\n", 1)[1].split("\n## ", 1)[0]
    assert "IQM [95% CI]" in section and "| P(row > column) |" in section
    assert section.count("| adam/he_normal |") == 3  # its IQM row, its column and its row of the matrix
    assert "## Across tasks: performance profiles" in text and "score (area to 4)" in text
    assert "## Across tasks" not in render_report(make_results())


def test_three_tasks_report_the_friedman_test_and_the_critical_difference():
    from tests.bench.records.test_aggregates import several_tasks

    section = render_report(several_tasks(("task-a", "task-b", "task-c"))).split("## Across tasks\n", 1)[1]
    assert "Friedman test over the methods' mean scores on 3 tasks" in section
    assert "Average ranks (1: best): " in section and "Nemenyi's critical difference at alpha 0.05" in section
