"""Hostile and bad input through the real command line: one row per way a user broke it.

Every row must end with exit code 2, exactly one line on stderr (`error: ...`), no traceback,
nothing left behind and nothing the user owned changed. Rows that fail before anything runs go
through `bench.cli.main` in this process; a subprocess is kept for what needs one (environment
variables, signals, the first traceback-free line of a fresh interpreter).
Keep it growing: every bad input a user reports becomes a row.
"""
from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import unquote

import pytest

from bench.cli import main
from bench.results import files
from tests.bench.fake_results import make_results

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN = ["run", "--suite", "smoke", "--steps", "10", "--eval-every", "10", "--no-plots"]
TINY = ["--optimizers", "adam", "--inits", "he_normal", "--seeds", "1"]


# ---------------------------------------------------------------------------------------------
# What the user had before: files the rows start from


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _results(path, edit: Callable[[dict], None] | None = None):
    document = make_results(selection_seeds=2, evaluation_seeds=2)
    if edit:
        edit(document)
    _write(path, json.dumps(document))


def _user_files(tmp):
    _write(tmp / "notes.txt", "my notes\n")
    _write(tmp / "notes.md", "# my notes\n")
    _write(tmp / "user.json", '{"mine": true}\n')
    _write(tmp / "text.json", "not JSON at all\n")
    _write(tmp / "deep.json", "[" * 200_000 + "]" * 200_000)
    os.mkfifo(tmp / "fifo.json")
    os.symlink("/dev/zero", tmp / "zero.json")
    _write(tmp / "blocker", "a file where a folder should be\n")
    (tmp / "dir.json").mkdir()
    _results(tmp / "good.json")
    (tmp / "good.summary.csv").mkdir()  # a folder where the CSV of good.json would go


def _set(path: tuple, value) -> Callable[[dict], None]:
    def edit(document):
        target = document
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return edit


def _hand_edited(tmp):
    _results(tmp / "good.json")
    for name, edit in HAND_EDITS.items():
        _results(tmp / f"{name}.json", edit)
    _write(tmp / "nested.json", "[" * 200_000 + "]" * 200_000)


HAND_EDITS = {
    "accuracy-5": _set(("runs", 0, "final_test_accuracy"), 5.0),
    "diverged-no": _set(("runs", 0, "diverged"), "no"),
    "string-number": _set(("runs", 0, "final_val_accuracy"), "0.9"),
    "null-seed": _set(("runs", 0, "seed"), None),
    "one-element-interval": _set(("summary", 0, "test_accuracy_ci95"), [0.9]),
}


# ---------------------------------------------------------------------------------------------
# The table


@dataclass
class Row:
    argv: list[str]                    # "{tmp}" stands for the row's folder
    message: str                       # what the one line on stderr must say
    setup: Callable = _user_files
    marks: list = field(default_factory=list)


ROWS = {
    # run: the flags (as before this table existed)
    "unknown task": Row([*RUN, "--task", "digits-mpl"], "did you mean 'digits-mlp'"),
    "unknown optimizer": Row([*RUN, "--optimizers", "adam,adamm"], "unknown optimizer 'adamm'"),
    "unknown init": Row([*RUN, "--inits", "he_norml"], "did you mean 'he_normal'"),
    "unknown suite": Row([*RUN, "--suite", "fulll"], "unknown suite"),
    "zero seeds": Row([*RUN, "--seeds", "0"], "--seeds must be a positive integer"),
    "negative seeds": Row([*RUN, "--seeds", "-3"], "--seeds must be a positive integer"),
    "zero steps": Row([*RUN, "--steps", "0"], "--steps must be a positive integer"),
    "zero batch": Row([*RUN, "--batch-size", "0"], "--batch-size must be a positive integer"),
    "negative eval": Row([*RUN, "--eval-every", "-1"], "--eval-every must be a positive integer"),
    "zero chunk": Row([*RUN, "--max-runs-per-chunk", "0"], "--max-runs-per-chunk must be a positive"),
    "batch > train set": Row([*RUN, "--batch-size", "5000"], "larger than the 1257-example"),
    "lrs not numbers": Row([*RUN, "--lrs", "1e-3,abc"], "--lrs must be comma-separated numbers"),
    "lr zero": Row([*RUN, "--lrs", "1e-3,0"], "--lrs must all be positive"),
    "lr negative": Row([*RUN, "--lrs", "-0.1"], "--lrs must all be positive"),
    "lr nan": Row([*RUN, "--lrs", "nan"], "--lrs must all be positive and finite"),
    "target 0": Row([*RUN, "--target", "0"], "--target must be in (0, 1]"),
    "target 1.5": Row([*RUN, "--target", "1.5"], "--target must be in (0, 1]"),
    "steps not multiple": Row([*RUN, "--steps", "30", "--eval-every", "25"], "multiple of --eval-every"),
    "seeds not int": Row([*RUN, "--seeds", "abc"], "invalid int value"),
    # run: counts that cannot fit (issue 15)
    "a billion seeds": Row([*RUN, "--seeds", "1000000000"], "seeds fit"),
    "steps beyond int32": Row([*RUN, "--steps", "3000000000", "--eval-every", "1000000000"],
                              "--steps must be at most 2147483647"),
    "curves that cannot fit": Row([*RUN, "--steps", "2000000000", "--eval-every", "1"],
                                  "raise --eval-every or lower --steps"),
    # run --out: nothing a user owns is overwritten (issue 10), folders (issue 15)
    "out is a text file": Row([*RUN, "--out", "{tmp}/notes.txt"], "must end in .json"),
    "out is a csv": Row([*RUN, "--out", "{tmp}/r.csv"], "must end in .json"),
    "out is a md": Row([*RUN, "--out", "{tmp}/notes.md"], "must end in .json"),
    "out is only .json": Row([*RUN, "--out", "{tmp}/.json"], "must end in .json"),
    "out is the user's json": Row([*RUN, "--out", "{tmp}/user.json"], "not an initopt results file"),
    "out is not json": Row([*RUN, "--out", "{tmp}/text.json"], "not an initopt results file"),
    "out nested 200k deep": Row([*RUN, "--out", "{tmp}/deep.json"], "not an initopt results file"),
    "out is a fifo": Row([*RUN, "--out", "{tmp}/fifo.json"], "not a regular file (a FIFO)"),
    "out links to /dev/zero": Row([*RUN, "--out", "{tmp}/zero.json"], "a character device"),
    "out is /dev/zero": Row([*RUN, "--out", "/dev/zero"], "must end in .json"),
    "out is a new folder": Row([*RUN, "--out", "{tmp}/newdir/"], "names a folder"),
    "out is a folder": Row([*RUN, "--out", "{tmp}"], "is a directory"),
    "out is a folder named .json": Row([*RUN, "--out", "{tmp}/dir.json"], "is a directory"),
    "out under a file": Row([*RUN, "--out", "{tmp}/blocker/run.json"], "cannot create its folder"),
    "out's csv is a folder": Row([*RUN, "--out", "{tmp}/good.json"], "exists and is not a regular file"),
    # report
    "report of a md": Row(["report", "{tmp}/notes.md"], "report reads a results file"),
    "report of a text file": Row(["report", "{tmp}/notes.txt"], "report reads a results file"),
    "report of the user's json": Row(["report", "{tmp}/user.json"], "not an initopt results file"),
    "report of a fifo": Row(["report", "{tmp}/fifo.json"], "not a regular file (a FIFO)"),
    "report of nothing": Row(["report", "{tmp}/missing.json"], "no such results file"),
    "report of a folder": Row(["report", "{tmp}/dir.json"], "is a directory"),
    # compare: hand-edited files (issues 10 and 15)
    "compare a missing file": Row(["compare", "{tmp}/good.json", "{tmp}/missing.json"],
                                  "no such results file", _hand_edited),
    "compare nested 200k deep": Row(["compare", "{tmp}/good.json", "{tmp}/nested.json"], "nested.json",
                                    _hand_edited),
    **{f"compare {name}": Row(["compare", "{tmp}/good.json", f"{{tmp}}/{name}.json"], f"{name}.json",
                              _hand_edited) for name in HAND_EDITS},
    # (plots drawn for one of them: a bad value must stop the report before any PNG is written)
    **{f"report {name}": Row(["report", f"{{tmp}}/{name}.json",
                              *([] if name == "string-number" else ["--no-plots"])],
                             f"{name}.json", _hand_edited) for name in HAND_EDITS},
    # diagnose and perf
    "diagnose out json": Row(["diagnose", "--out", "{tmp}/d.json"], "must end in .png or .svg or .pdf"),
    "diagnose out folder": Row(["diagnose", "--out", "{tmp}/newdir/"], "names a folder"),
    "diagnose zero seeds": Row(["diagnose", "--seeds", "0"], "--seeds must be a positive integer"),
    "diagnose unknown init": Row(["diagnose", "--inits", "lsvu"], "did you mean 'lsuv'"),
    "run an init that does not apply": Row([*RUN, "--inits", "fixup", "--out", "{tmp}/r.json"],
                                          "does not apply to digits-mlp"),
    "diagnose an init that does not apply": Row(["diagnose", "--task", "digits-mlp", "--inits", "fixup"],
                                                "does not apply to digits-mlp"),
    "run zero selection seeds": Row([*RUN, "--selection-seeds", "0", "--out", "{tmp}/r.json"],
                                    "--selection-seeds must be a positive integer"),
    "diagnose beside the user's json": Row(["diagnose", "--out", "{tmp}/user.png"],
                                           "is not a diagnose file"),
    "diagnose unknown task": Row(["diagnose", "--task", "digits-dep"], "did you mean 'digits-deep'"),
    "perf out text": Row(["perf", "--out", "{tmp}/notes.txt"], "must end in .json"),
    "perf out user's json": Row(["perf", "--out", "{tmp}/user.json"], "not an initopt perf file"),
    "perf out fifo": Row(["perf", "--out", "{tmp}/fifo.json"], "not a regular file (a FIFO)"),
    "perf zero seeds": Row(["perf", "--seeds", "0"], "--seeds must be a positive integer"),
    "perf unknown optimizer": Row(["perf", "--optimizer", "adamm"], "did you mean 'adam'"),
    "tune budget that cannot fit": Row(["tune", "--budget", "1000000000", "--out", "{tmp}/t.json"],
                                       "the selection runs alone"),
    "tune out text": Row(["tune", "--out", "{tmp}/notes.txt"], "must end in .json"),
    "tune out user's json": Row(["tune", "--out", "{tmp}/user.json"], "not an initopt results file"),
    "tune zero budget": Row(["tune", "--budget", "0"], "--budget must be a positive integer"),
    "verify what": Row(["verify", "everything"], "invalid choice"),
    "unknown flag": Row(["run", "--colour", "red"], "unrecognized arguments"),
}


def snapshot(folder) -> dict[str, object]:
    """Every entry under `folder` (hidden ones too) with its content or kind."""
    found = {}
    for base, folders, names in os.walk(folder):
        for name in folders + names:
            path = os.path.join(base, name)
            key = os.path.relpath(path, folder)
            if os.path.islink(path):
                found[key] = ("link", os.readlink(path))
            elif os.path.isdir(path):
                found[key] = "folder"
            elif os.path.isfile(path):
                with open(path, "rb") as file:
                    found[key] = file.read()
            else:
                found[key] = "special"
    return found


def run_cli(argv, capsys) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exit:  # argparse's own errors
        code = exit.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code, err, message):
    assert code == 2, err
    assert err.startswith("error: ") and err.endswith("\n") and err.count("\n") == 1, repr(err)
    assert "Traceback" not in err
    assert message in err, err


@pytest.mark.parametrize("name", [pytest.param(name, marks=row.marks) for name, row in ROWS.items()])
def test_hostile_input_is_one_line_exit_2_and_nothing_changes(name, tmp_path, capsys, monkeypatch):
    row = ROWS[name]
    row.setup(tmp_path)
    monkeypatch.chdir(tmp_path)  # a default output path would land here
    before = snapshot(tmp_path)
    code, out, err = run_cli([arg.replace("{tmp}", str(tmp_path)) for arg in row.argv], capsys)
    assert_one_line_error(code, err, row.message)
    assert out == ""
    assert snapshot(tmp_path) == before


# ---------------------------------------------------------------------------------------------
# Rows that need more than files: a folder the user cannot write, another writer, a full disk


@pytest.fixture
def read_only(tmp_path, monkeypatch):
    """A folder the user cannot write in. Root can, so for root the check is told so."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    _results(folder / "run.json")
    folder.chmod(0o555)
    if os.geteuid() == 0:
        real_access = os.access

        def access(path, mode, *args, **kwargs):
            if mode & os.W_OK and os.path.abspath(path).startswith(str(folder)):
                return False
            return real_access(path, mode, *args, **kwargs)

        monkeypatch.setattr(os, "access", access)
    yield folder
    folder.chmod(0o755)


@pytest.mark.parametrize("argv, message", [
    (RUN, "results path 'results/smoke-"),                     # no --out, in the folder
    ([*RUN, "--out", "run.json"], "no permission to write in"),
    ([*RUN, "--out", "sub/run.json"], "no permission to write in"),
    (["report", "run.json"], "cannot write the report beside"),
    (["diagnose", "--out", "d.png"], "no permission to write in"),
])
def test_a_folder_the_user_cannot_write(read_only, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(read_only)
    before = snapshot(read_only)
    code, out, err = run_cli(argv, capsys)
    assert_one_line_error(code, err, message)  # no blank line ahead of it either
    assert snapshot(read_only) == before


def test_a_second_writer_of_one_results_file_stops_before_training(tmp_path, capsys):
    out = tmp_path / "run.json"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        from bench.results import files
        with files.lock({str(out)!r}):
            print("held", flush=True)
            input()
    """)], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        before = snapshot(tmp_path)
        began = time.monotonic()
        code, _, err = run_cli([*RUN, *TINY, "--out", str(out)], capsys)
        assert_one_line_error(code, err, f"being written by another process (pid {holder.pid})")
        assert snapshot(tmp_path) == before
    finally:
        holder.communicate("\n", timeout=30)
    assert time.monotonic() - began < 60  # refused, not trained


def test_a_full_disk_is_one_line_and_the_earlier_file_stays_whole(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run.json"
    code, _, err = run_cli([*RUN, *TINY, "--quiet", "--out", str(out)], capsys)
    assert code == 0, err
    before = snapshot(tmp_path)
    real_replace = os.replace

    def full(source, target, *args, **kwargs):
        if str(target).startswith(str(tmp_path)):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_replace(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "replace", full)
    code, out_text, err = run_cli([*RUN, *TINY, "--quiet", "--out", str(out)], capsys)  # reuses, then writes
    assert_one_line_error(code, err, "No space left on device (the earlier file is unchanged)")
    assert snapshot(tmp_path) == before


def test_a_path_with_spaces_gives_a_report_whose_images_render(tmp_path, capsys):
    path = tmp_path / "my results (v2).json"
    _results(path)
    code, out, err = run_cli(["report", str(path)], capsys)
    assert code == 0, err
    report = tmp_path / "my results (v2).report.md"
    assert out.strip() == str(report)
    links = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", report.read_text())  # CommonMark: no spaces
    assert links and all((tmp_path / unquote(link)).is_file() for link in links)
    assert len(links) == report.read_text().count("![")


def test_the_backend_error_for_a_missing_tpu_names_it(monkeypatch):
    import jax

    from bench.host import start_jax
    from bench.errors import UsageError

    def no_tpu():
        raise RuntimeError("Unable to initialize backend 'tpu': INTERNAL: Failed to open libtpu.so")

    monkeypatch.setenv("JAX_PLATFORMS", "tpu")
    monkeypatch.setattr(jax, "devices", no_tpu)
    with pytest.raises(UsageError, match=r"JAX_PLATFORMS=tpu: .*libtpu.*install JAX for TPUs.*unset JAX_PLATFORMS"):
        start_jax()


# ---------------------------------------------------------------------------------------------
# Through a fresh interpreter: environment variables, signals


def _bench(args, tmp_path, env=None, **options):
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, **(env or {})}, **options)


@pytest.mark.parametrize("platform, message", [
    ("gpu", "JAX_PLATFORMS=gpu: JAX cannot start this platform here; install JAX for NVIDIA GPUs"),
    ("tpux", "'tpux' is not a JAX platform"),
])
def test_a_platform_this_machine_lacks_is_one_line(tmp_path, platform, message):
    import jax

    if platform == "gpu" and any(d.platform == "gpu" for d in jax.devices()):
        pytest.skip("this machine has a GPU")
    done = _bench([*RUN, *TINY, "--out", str(tmp_path / "run.json")], tmp_path,
                  env={"JAX_PLATFORMS": platform})
    assert_one_line_error(done.returncode, done.stderr, message)
    assert os.listdir(tmp_path) == []


STUCK_MAIN_THREAD = """
    import time
    from bench.interrupts import Interrupts
    with Interrupts():
        while True:  # a main thread that cannot stop, as inside one long XLA call
            try:
                print("ready", flush=True)
                time.sleep(60)
            except KeyboardInterrupt:
                pass
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_second_interrupt_exits_130_at_once(signum):
    process = subprocess.Popen([sys.executable, "-c", textwrap.dedent(STUCK_MAIN_THREAD)], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"
    process.send_signal(signum)
    time.sleep(0.3)
    assert process.poll() is None  # the first one is the main thread's to honour
    process.send_signal(signum)
    _, err = process.communicate(timeout=10)
    assert process.returncode == 130
    assert err.count("\n") == 1 and "interrupted twice" in err and "Traceback" not in err


INTERRUPT_IN_A_GC_CALLBACK = """
    import gc, sys, time
    from bench.interrupts import Interrupts
    def callback(phase, info):  # as jax's _xla_gc_callback: Python code that gc runs
        if phase == "start" and not callback.done:
            callback.done = True
            print("in callback", flush=True)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # the signal arrives here, and is swallowed
                pass
    callback.done = False
    gc.callbacks.append(callback)
    with Interrupts():
        try:
            gc.collect()
            for _ in range(3000):  # the host loop between calls, where Python checks for signals
                time.sleep(0.01)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            sys.exit(130)
"""


def test_a_first_interrupt_swallowed_by_a_gc_callback_is_delivered_again():
    process = subprocess.Popen([sys.executable, "-c", textwrap.dedent(INTERRUPT_IN_A_GC_CALLBACK)], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "in callback"
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=20)  # without the re-delivery: sleeps out its 30 s
    assert process.returncode == 130
    assert err == "interrupted\n"  # no "Exception ignored" traceback, not taken as a second Ctrl-C


def test_ctrl_c_twice_during_a_long_run(tmp_path):
    out = tmp_path / "run.json"
    command = [sys.executable, "-m", "bench", *RUN, "--optimizers", "sgd", "--inits", "he_normal",
               "--seeds", "1", "--steps", "20000000", "--eval-every", "2000000", "--out", str(out)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    lock = files.lock_path(str(out))
    deadline = time.monotonic() + 120
    while not os.path.exists(lock) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # past the checks, into the run
    for _ in range(2):
        try:
            process.send_signal(signal.SIGINT)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err[-2000:]
    assert "Traceback" not in err and err.count("\n") == 1
    assert not os.path.exists(lock)
    if out.exists():  # whatever was saved is whole
        assert json.loads(out.read_text())["meta"]["complete"] is False
