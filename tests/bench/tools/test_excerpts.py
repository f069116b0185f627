"""The README and the documentation pages quote the committed results only through excerpts that
code writes from them."""
import os
import shutil

import pytest

from bench.errors import UsageError
from bench.tools import excerpts

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def test_the_readmes_excerpts_are_what_the_committed_results_give(capsys):
    assert excerpts.readme(os.path.join(ROOT, "README.md"), check=True) == 0, capsys.readouterr().out


@pytest.fixture
def copy(tmp_path):
    """A README, the documentation pages and the results they quote, in a folder the test may change."""
    shutil.copy(os.path.join(ROOT, "README.md"), tmp_path / "README.md")
    shutil.copytree(os.path.join(ROOT, "docs"), tmp_path / "docs", ignore=shutil.ignore_patterns("_build", "*.py"))
    shutil.copytree(os.path.join(ROOT, "results", "reference"), tmp_path / "results" / "reference",
                    ignore=shutil.ignore_patterns("*.png"))
    for name in ("perf-cpu.json", "perf-levers-cpu.json", "perf-startup-cpu.json"):  # docs/performance.md's
        shutil.copy(os.path.join(ROOT, "results", name), tmp_path / "results" / name)
    return tmp_path / "README.md"


@pytest.mark.parametrize("page, excerpt", [("README.md", "default-table"), ("docs/running.md", "default-run")])
def test_a_hand_edited_number_is_found_and_rewritten(copy, capsys, page, excerpt):
    path = copy.parent / page
    text = path.read_text()
    start = text.index(f"<!-- excerpt: {excerpt} -->")
    edited = text[:start] + text[start:].replace("[97.", "[90.", 1)
    assert edited != text
    path.write_text(edited)
    assert excerpts.readme(str(copy), check=True) == 1
    assert f"{page}: {excerpt}" in capsys.readouterr().out
    assert excerpts.readme(str(copy)) == 0
    assert path.read_text() == text


def test_an_unknown_excerpt_is_one_line(copy):
    copy.write_text("<!-- excerpt: nonsense -->\nx\n<!-- /excerpt -->\n")
    with pytest.raises(UsageError, match="unknown excerpt 'nonsense'"):
        excerpts.readme(str(copy), check=True)


def test_the_perf_headline_lists_each_revisions_runner_beside_the_lean_loop(tmp_path):
    import json
    from pathlib import Path

    (tmp_path / "results").mkdir()
    document = json.loads(Path(ROOT, "results", "perf-cpu.json").read_text())
    document["whole_process"]["lean_loop"]["wall_seconds"] = 33.0
    document["whole_process"]["runner"]["wall_seconds"] = 22.0
    document["whole_process"]["revisions"] = {"abc1234": {"wall_seconds": 30.0, "run_seconds": 20.0},
                                              "broken": {"error": "it failed"}}
    (tmp_path / "results" / "perf-cpu.json").write_text(json.dumps(document))
    text = excerpts.perf_headline(tmp_path)
    assert "| runner, this checkout | 22.0 |" in text and "| 1.50 |" in text
    assert "| runner at abc1234 | 30.0 | 20.0 | 1.10 |" in text
    assert "broken" not in text  # a revision whose run failed has no row


def test_the_perf_headline_quotes_the_median_of_the_rounds_ratios_beside_the_ratio_of_medians(tmp_path):
    import json
    from pathlib import Path

    (tmp_path / "results").mkdir()
    document = json.loads(Path(ROOT, "results", "perf-cpu.json").read_text())
    whole = document["whole_process"]
    whole["lean_loop"]["wall_seconds"], whole["runner"]["wall_seconds"] = 33.0, 22.0
    whole["runner_vs_lean_loop"] = 1.5
    whole["runner_vs_lean_loop_by_round"] = {"each": [1.6, 1.7, 1.4], "median": 1.6, "min": 1.4, "max": 1.7}
    whole["revisions"] = {"abc1234": {"wall_seconds": 30.0, "run_seconds": 20.0,
                                      "vs_lean_loop_by_round": {"each": [1.1], "median": 1.1, "min": 1.1,
                                                                "max": 1.1},
                                      "runner_speedup_by_round": {"each": [1.3], "median": 1.3, "min": 1.2,
                                                                  "max": 1.4}}}
    (tmp_path / "results" / "perf-cpu.json").write_text(json.dumps(document))
    text = excerpts.perf_headline(tmp_path)
    assert "**1.60x whole process**, the median of 3 interleaved rounds' ratios" in text
    assert "rounds 1.40-1.70x" in text and "which mixes rounds, 1.50x" in text
    assert "| runner, this checkout | 22.0 |" in text and "| 1.50 | 1.60x (1.40-1.70) |" in text
    assert "| 1.10 | 1.10x (1.10-1.10) |" in text
    assert "1.30x (1.20-1.40) as fast as the runner at abc1234" in text
    del whole["runner_vs_lean_loop_by_round"]  # a file from before rounds were paired
    (tmp_path / "results" / "perf-cpu.json").write_text(json.dumps(document))
    assert "**1.50x whole process** (runner 22.0 s" in excerpts.perf_headline(tmp_path)
