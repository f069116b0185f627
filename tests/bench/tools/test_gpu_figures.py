"""The GPU figures' recipe (bench.tools.gpu_figures): every step a valid command of the suite
writing into the one folder, the steps' outcomes and the install note written beside them.
`--quick` runs the whole recipe on a CPU at tiny sizes (minutes: marked slow)."""
import json
import os
import subprocess
import sys

import pytest

from bench.cli import build_parser
from bench.tools import gpu_figures


@pytest.mark.parametrize("quick", [False, True])
def test_every_step_is_a_command_of_the_suite_writing_into_the_folder(tmp_path, quick):
    folder = str(tmp_path / "gpu")
    steps = gpu_figures.plan(folder, quick)
    assert [step.name for step in steps][:2] == ["suite", "suite, deterministic"]
    parser = build_parser()
    for step in steps:
        args = parser.parse_args(list(step.argv))  # exits 2 on a flag the CLI does not know
        assert args.command == step.argv[0]
        written = [value for value in step.argv if value.startswith(folder)]
        assert written or step.stdout, step
    assert sum(step.seconds for step in gpu_figures.plan(folder)) <= 8 * 60  # the device budget
    perf = next(step for step in gpu_figures.plan(folder) if step.name == "perf")
    assert ("--seeds", "1024") == perf.argv[1:3]
    scaling = next(step for step in gpu_figures.plan(folder) if step.name == "scaling")
    assert "4096" in scaling.argv[scaling.argv.index("--sizes") + 1].split(",")


def test_the_outcomes_and_the_install_note_are_written_beside_the_figures(tmp_path, capsys):
    folder = str(tmp_path / "gpu")
    missing = str(tmp_path / "missing.json")
    steps = [gpu_figures.Step("compare", ("compare", gpu_figures.REFERENCE, missing), 60, "compare.txt"),
             gpu_figures.Step("help", ("--help",), 60)]
    document = gpu_figures.figures(folder, steps=steps)
    assert [step["exit_status"] for step in document["steps"]] == [2, 0]
    assert document["steps"][0]["verdict"] == "error"
    assert "missing.json" in document["steps"][0]["stderr_tail"]
    assert json.load(open(os.path.join(folder, "figures.json")))["steps"][1]["step"] == "help"
    note = open(os.path.join(folder, "INSTALL.md")).read()
    assert "pip download" in note and "jax " in note
    assert os.path.exists(os.path.join(folder, "compare.txt"))


def test_plan_prints_the_commands_and_a_file_for_a_folder_is_one_line(tmp_path):
    plain = tmp_path / "file"
    plain.write_text("")
    done = subprocess.run([sys.executable, "-m", "bench.tools.gpu_figures", "--out", str(plain)],
                          capture_output=True, text=True)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    done = subprocess.run([sys.executable, "-m", "bench.tools.gpu_figures", "--out",
                           str(tmp_path / "gpu"), "--plan"], capture_output=True, text=True, check=True)
    assert done.stdout.count("python -m bench ") == 6 and not (tmp_path / "gpu").exists()


@pytest.mark.slow
def test_the_quick_recipe_runs_on_a_cpu(tmp_path):
    folder = tmp_path / "gpu"
    done = subprocess.run(["bash", "scripts/gpu-figures.sh", str(folder), "--quick"],
                          capture_output=True, text=True, env={**os.environ, "PYTHON": sys.executable,
                                                               "OUT": str(tmp_path)})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    document = json.load(open(folder / "figures.json"))
    assert all(step["exit_status"] in (0, 1, 3) for step in document["steps"])
    assert document["suites"]["default-gpu.json"]["complete"] is True
    assert (folder / "perf-scaling-gpu.png").exists() and (tmp_path / "gpu-figures.tar.gz").exists()
