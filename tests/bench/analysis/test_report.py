"""`python -m bench report`: the Markdown report and the plots, from a synthetic results file."""
import re

import pytest

from bench.cli import main
from bench.analysis.plots import make_plots
from bench.analysis.report import render_report, write_report
from tests.bench.fake_results import DEFAULT_LRS, make_results

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def report_with_plots(tmp_path_factory):
    """One small report with plots, shared: drawing is the slow part."""
    import json

    directory = tmp_path_factory.mktemp("report")
    results_path = directory / "tiny.json"
    results_path.write_text(json.dumps(make_results(seeds=3, steps=60, eval_every=20)))
    report_path = write_report(results_path, plots=True)
    return results_path, report_path, report_path.read_text()


def test_report_is_written_beside_the_results(report_with_plots):
    results_path, report_path, _ = report_with_plots
    assert report_path == results_path.with_suffix(".report.md")


def test_plots_are_non_empty_pngs_embedded_by_relative_path(report_with_plots):
    results_path, report_path, text = report_with_plots
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    kinds = {"convergence", "convergence-sgd", "convergence-adam", "heatmap", "steps-to-target", "lr-sensitivity"}
    assert {link.removeprefix("tiny-digits-mlp-").removesuffix(".png") for link in links} == kinds
    for link in links:
        assert not link.startswith("/")
        png = report_path.parent / link
        assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 5000


def test_report_holds_the_tables_and_the_metadata(report_with_plots):
    _, _, text = report_with_plots
    for heading in ("### Test accuracy at the best learning rate", "### Convergence speed",
                    "### Paired differences", "## Run metadata"):
        assert heading in text
    assert "| init \\ optimizer | sgd | adam |" in text
    assert "(n=1, no CI)" in text           # the single-seed pair
    assert "| orthogonal | — |" in text      # sgd never ran orthogonal
    assert "| adam | he_normal | 0.01 | 3 | 3 | diverged |" in text  # every seed diverged at that lr
    assert "median steps to target" in text and "reached" in text
    assert "`python -m bench run --suite synthetic`" in text
    assert "a654acc0000000000000000000000000deadbeef" in text and "jax 0.4.35" in text
    assert "Significant at 95%: sgd is worse than adam" in text


def test_report_cli_without_plots(write_results, capsys):
    path = write_results("run.json")
    assert main(["report", str(path), "--no-plots"]) == 0
    assert capsys.readouterr().out.strip() == str(path.with_suffix(".report.md"))
    assert not list(path.parent.glob("*.png"))
    assert "Plots skipped" in path.with_suffix(".report.md").read_text()


def test_an_incomplete_run_is_flagged():
    results = make_results(seeds=2)
    results["meta"]["complete"] = False
    text = render_report(results)
    assert "**Incomplete run**" in text and "**no** (interrupted)" in text


def test_plots_survive_pairs_where_every_seed_diverged(tmp_path):
    every_sgd_lr = {("sgd", lr): 1.0 for lr in DEFAULT_LRS["sgd"]}
    results = make_results(seeds=2, steps=40, diverge=every_sgd_lr, single_seed_pairs=())
    paths = make_plots(results, tmp_path, stem="diverged")
    assert len(paths) == 6 and all(path.stat().st_size > 0 for path in paths)
    assert "| he_normal | diverged lr " in render_report(results)  # in the best-lr accuracy table


def test_report_of_a_bad_file_is_a_one_line_error(tmp_path, capsys):
    assert main(["report", str(tmp_path / "absent.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
