"""The GPU figures in one command: `python -m bench.tools.gpu_figures --out FOLDER`.

Run on a machine with a GPU (results/README.md; `scripts/gpu-figures.sh` is the same with the
carried wheels installed first), it writes everything into FOLDER:

    default-gpu.json (+ .summary.csv)       the default suite (`python -m bench`); its wall time
    default-gpu-deterministic.json (+ csv)  the same with --deterministic
    compare.txt, compare-deterministic.txt  `python -m bench compare` of each against the CPU
                                            reference, results/reference/default.json
    perf-gpu.json                           `python -m bench perf --seeds 1024`
    perf-scaling-gpu.json (+ .png)          `python -m bench perf --scaling` up to 4,096 runs
    figures.json                            each step's command, exit status and wall seconds,
                                            whether it ran out of its time; the suites' wall
                                            times and the compare verdicts
    INSTALL.md                              the versions the machine had, and how to carry wheels

Each step is a fresh process with a time limit of its own (`plan`), the ones the figures need
most first, so that a slow step costs only itself; the limits add up to 8 minutes, inside the
10 minutes of device time a task is lent. `--quick` runs the same commands at tiny sizes (a
minute on the 2-core CPU: how the recipe is known to work without a GPU); `--plan` prints the
commands and runs nothing.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from importlib import metadata
from typing import Any, NamedTuple, Sequence

REFERENCE = os.path.join("results", "reference", "default.json")
SCALING_SIZES = "1,4,16,64,256,1024,4096"
COMPARE_VERDICTS = {0: "reproduced", 1: "not reproduced", 3: "inconclusive"}
VERSIONS = ("jax", "jaxlib", "jax-cuda12-plugin", "jax-cuda13-plugin", "flax", "optax", "numpy",
            "scipy", "scikit-learn", "orbax-checkpoint", "rich", "matplotlib", "torch")
# the same run at tiny sizes: one optimizer, one init, a few seeds and steps
QUICK_RUN = ("--optimizers", "adam", "--inits", "he_normal", "--seeds", "2", "--selection-seeds", "1",
             "--steps", "10", "--eval-every", "5")


class Step(NamedTuple):
    name: str
    argv: tuple[str, ...]  # python -m bench ARGV
    seconds: int  # its time limit
    stdout: str | None = None  # a file of the folder its output is kept in


QUICK_SECONDS = 600  # a step's limit in --quick: a shared CPU, not the figures' budget


def plan(folder: str, quick: bool = False) -> list[Step]:
    """The steps, in the order they run."""
    path = lambda name: os.path.join(folder, name)
    run = QUICK_RUN if quick else ()
    steps = [
        Step("suite", ("run", *run, "--no-plots", "--quiet", "--out", path("default-gpu.json")), 105),
        Step("suite, deterministic", ("run", *run, "--deterministic", "--no-plots", "--quiet", "--out",
                                      path("default-gpu-deterministic.json")), 105),
        Step("compare", ("compare", REFERENCE, path("default-gpu.json")), 20, "compare.txt"),
        Step("compare, deterministic", ("compare", REFERENCE, path("default-gpu-deterministic.json")),
             20, "compare-deterministic.txt"),
        Step("perf", ("perf", *(("--seeds", "2", "--steps", "10") if quick else ("--seeds", "1024")),
                      "--out", path("perf-gpu.json")), 130),
        Step("scaling", ("perf", "--scaling", "--sizes", "1,2" if quick else SCALING_SIZES,
                         *(("--steps", "5") if quick else ()), "--out", path("perf-scaling-gpu.json")), 100),
    ]
    return [step._replace(seconds=QUICK_SECONDS) for step in steps] if quick else steps


def run_step(step: Step, folder: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench", *step.argv]
    began = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=step.seconds)
        code, out, err, timed_out = done.returncode, done.stdout, done.stderr, False
    except subprocess.TimeoutExpired as expired:
        code, timed_out = None, True
        out = (expired.stdout or b"").decode() if isinstance(expired.stdout, bytes) else (expired.stdout or "")
        err = (expired.stderr or b"").decode() if isinstance(expired.stderr, bytes) else (expired.stderr or "")
    found = {"step": step.name, "command": "python -m bench " + shlex.join(step.argv),
             "exit_status": code, "timed_out": timed_out, "time_limit_seconds": step.seconds,
             "wall_seconds": round(time.perf_counter() - began, 2), "stderr_tail": err[-1500:]}
    if step.stdout is not None:
        with open(os.path.join(folder, step.stdout), "w") as file:
            file.write(out)
    if step.argv[0] == "compare" and code is not None:
        found["verdict"] = COMPARE_VERDICTS.get(code, "error")
    return found


def versions() -> dict[str, str | None]:
    found = {"python": sys.version.split()[0]}
    for name in VERSIONS:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def install_note(installed: dict[str, str | None]) -> str:
    have = "\n".join(f"- {name} {version or '(not installed)'}" for name, version in installed.items())
    return f"""# What this machine had, and how to carry what it lacks

Versions the figures were made with (the results files' `meta.versions` say the same per run):

{have}

The CPU reference (results/reference/default.json) names its own versions; a GPU run on other
versions of JAX, Flax or Optax is compared all the same (`compare` tests the numbers, not the
versions), and the difference is one to state beside the verdict.

A machine without internet takes missing Python packages as wheels, downloaded where pip works,
from the repository's root (`.whl/` is ignored by git):

    echo /.whl/ >> .git/info/exclude
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \\
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \\
        -d .whl NAME==VERSION

Name each missing dependency too (`unzip -p .whl/NAME-*.whl '*/METADATA' | grep ^Requires-Dist`),
one version of each. `scripts/gpu-figures.sh` installs whatever `.whl/` holds into /tmp/site
(pip --no-index --no-deps --target) and puts it first on PYTHONPATH before it runs the figures.
The default suite needs nothing beyond jax (with its GPU plugin), flax, optax, numpy, scipy,
scikit-learn, rich and orbax-checkpoint; mnist1d only for the mnist1d tasks, submitit only for
`--executor submitit`, torch only for perf's PyTorch rows (skipped without it). jaxlib's and
its GPU plugin's wheels are larger than the 64 MiB a device call carries: use the machine's own.
"""


def figures(folder: str, quick: bool = False, steps: Sequence[Step] | None = None) -> dict[str, Any]:
    """Every step of `plan` (or `steps`) into `folder`; figures.json and INSTALL.md beside them."""
    os.makedirs(folder, exist_ok=True)
    installed = versions()
    with open(os.path.join(folder, "INSTALL.md"), "w") as file:
        file.write(install_note(installed))
    done = []
    for step in (steps if steps is not None else plan(folder, quick)):
        print(f"{step.name}: python -m bench {shlex.join(step.argv)}", flush=True)
        done.append(run_step(step, folder))
        result = done[-1]
        state = ("ran out of its time" if result["timed_out"]
                 else f"exit {result['exit_status']}" + (f" ({result['verdict']})" if "verdict" in result else ""))
        print(f"  {state}, {result['wall_seconds']:.1f} s", flush=True)
    suites = {}
    for name in ("default-gpu.json", "default-gpu-deterministic.json"):
        try:
            with open(os.path.join(folder, name)) as file:
                meta = json.load(file)["meta"]
            suites[name] = {"wall_seconds": meta.get("wall_seconds"), "complete": meta.get("complete"),
                            "device_kind": meta.get("device_kind"), "device_count": meta.get("device_count")}
        except (OSError, ValueError, KeyError):
            suites[name] = None
    document = {"quick": quick, "versions": installed, "steps": done, "suites": suites,
                "wall_seconds": round(sum(step["wall_seconds"] for step in done), 2)}
    with open(os.path.join(folder, "figures.json"), "w") as file:
        json.dump(document, file, indent=1)
        file.write("\n")
    print(f"figures: {folder} ({document['wall_seconds']:.0f} s)")
    return document


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tools.gpu_figures",
                                     description="the GPU figures into one folder (results/README.md)")
    parser.add_argument("--out", required=True, help="the folder every file goes into")
    parser.add_argument("--quick", action="store_true", help="the same commands at tiny sizes")
    parser.add_argument("--plan", action="store_true", help="print the commands, run nothing")
    args = parser.parse_args(argv)
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        print(f"error: --out '{args.out}' exists and is not a folder", file=sys.stderr)
        return 2
    if args.plan:
        for step in plan(args.out, args.quick):
            print(f"python -m bench {shlex.join(step.argv)}"
                  + (f" > {os.path.join(args.out, step.stdout)}" if step.stdout else "")
                  + f"    # at most {step.seconds} s")
        return 0
    document = figures(args.out, args.quick)
    failed = [step["step"] for step in document["steps"]  # compare's 1 and 3 are verdicts
              if step["timed_out"] or step.get("verdict", "error" if step["exit_status"] else "") == "error"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
