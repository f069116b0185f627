"""Code in the documentation runs: every shell and Python block of the getting-started page and
the tutorial is executed here, in a fresh folder, against this checkout; the README's Python
block too (under `-m slow`, with the tutorial's shell blocks). The set-up blocks (each makes a
fresh venv) are not run here: they must be the README's, whose test command `.ci/run` runs."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GETTING_STARTED = ROOT / "docs" / "getting-started.md"
TUTORIAL = ROOT / "docs" / "tutorials" / "benchmark-your-own.md"
FENCE = re.compile(r"^```(?P<language>\w+)\n(?P<body>.*?)^```$", re.S | re.M)


def blocks(path: Path, language: str) -> list[str]:
    return [m.group("body") for m in FENCE.finditer(path.read_text(encoding="utf-8")) if m.group("language") == language]


def is_setup(block: str) -> bool:
    """The two set-up commands: a fresh virtual environment each, which a test cannot make offline."""
    return "-m venv" in block


def run_block(language: str, block: str, folder: Path) -> subprocess.CompletedProcess:
    """Run one block in `folder` with this checkout first on the path; `python` is this one."""
    shutil.copytree(ROOT / "examples", folder / "examples", dirs_exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if language == "bash":
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
        command = ["bash", "-euo", "pipefail", "-c", block]
    else:
        command = [sys.executable, "-c", block]
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=600)


def test_the_setup_commands_are_the_readmes():
    readme = [block for block in blocks(ROOT / "README.md", "bash") if is_setup(block)]
    page = [block for block in blocks(GETTING_STARTED, "bash") if is_setup(block)]
    assert len(readme) == 1 and page == readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert "-e '.[test]'" in readme[0] and "-e '.[test]'" in ci
    assert "python -m pytest -q" in readme[0] and "python -m pytest -q" in ci


@pytest.mark.parametrize("language", ["bash", "python"])
def test_the_getting_started_snippets_run(tmp_path, language):
    snippets = [block for block in blocks(GETTING_STARTED, language) if not is_setup(block)]
    assert snippets
    for block in snippets:
        done = run_block(language, block, tmp_path)
        assert done.returncode == 0, f"{block}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"


@pytest.mark.slow
def test_the_readmes_python_runs(tmp_path):
    # by default, the getting-started page's Python block runs the same call
    (block,) = blocks(ROOT / "README.md", "python")
    done = run_block("python", block, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.slow
def test_the_tutorials_shell_snippets_run(tmp_path):
    # the tutorial's Python block runs by default: tests/bench/suite/test_bring_your_own.py
    snippets = blocks(TUTORIAL, "bash")
    assert snippets
    for block in snippets:
        done = run_block("bash", block, tmp_path)
        assert done.returncode == 0, f"{block}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"


def test_a_failing_snippet_fails(tmp_path):
    assert run_block("bash", "true\nfalse\ntrue\n", tmp_path).returncode == 1
    assert run_block("python", "raise SystemExit(3)\n", tmp_path).returncode == 3
