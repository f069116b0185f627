"""bench.results.files: names, atomic writes, the lock, reading back, and when reuse is safe."""
import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, strategies as st

from bench.errors import UsageError
from bench.results import files
from bench.results.schema import SCHEMA_VERSION

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TINY_ADAM = ["--suite", "smoke", "--optimizers", "adam", "--inits", "he_normal", "--seeds", "1",
             "--steps", "10", "--eval-every", "10", "--no-plots", "--quiet"]


def _subprocess(code: str, cwd=ROOT, **options):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd,
                          capture_output=True, text=True, timeout=120, **options)


# ---------------------------------------------------------------------------------------------
# Names


@given(st.text(alphabet="ab .-_()é", min_size=1, max_size=12))
def test_derived_names_never_collide_with_a_results_file_or_each_other(name):
    json_path = os.path.join("folder", name + ".json")
    derived = [files.summary_path(json_path), files.report_path(json_path),
               files.lock_path(json_path), files.plot_pattern(json_path)]
    assert len({json_path, *derived}) == 5
    # no derived file of any results file is itself a results file name
    assert not any(files.is_results_name(path) for path in derived)
    assert all(os.path.dirname(path) == "folder" for path in derived)


def test_the_scheme():
    assert files.summary_path("r/run.json") == "r/run.summary.csv"
    assert files.report_path("r/run.json") == "r/run.report.md"
    assert files.lock_path("r/run.json") == os.path.join("r", ".run.json.lock")
    assert files.plot_pattern("r/run.json") == "r/run-<task>-<kind>.png"
    assert files.is_results_name("a.json") and not files.is_results_name(".json")
    assert not files.is_results_name("a.csv") and not files.is_results_name("a.json/")


# ---------------------------------------------------------------------------------------------
# Atomic writes, full disks, stale temporaries


def test_atomic_write_replaces_whole_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "run.json"
    files.atomic_write(str(path), "first")
    files.atomic_write(str(path), "second")
    assert path.read_text() == "second" and os.listdir(tmp_path) == ["run.json"]


@pytest.mark.parametrize("failing", ["replace", "write"])
def test_a_full_disk_is_one_line_and_the_earlier_file_stays(tmp_path, monkeypatch, failing):
    path = tmp_path / "run.json"
    files.write(str(path), {"summary": [], "runs": [1]})
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    if failing == "replace":
        monkeypatch.setattr(files.os, "replace", full)
    else:  # the bytes themselves do not fit
        real_fdopen = os.fdopen

        class FullFile:
            def __init__(self, *args, **kwargs):
                self.file = real_fdopen(*args, **kwargs)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.file.close()

            write = staticmethod(full)

        monkeypatch.setattr(files.os, "fdopen", FullFile)
    with pytest.raises(UsageError) as raised:
        files.write(str(path), {"summary": [], "runs": [2]})
    message = str(raised.value)
    assert "No space left on device" in message and "unchanged" in message and "\n" not in message
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # intact, no temporary


def _killed_while_writing(folder, name: str) -> str:
    """A process that dies by SIGKILL half-way through writing `name` in `folder`."""
    done = _subprocess(f"""
        import os, signal
        from bench.results import files
        handle, temporary = files.temporary_beside({str(folder / name)!r})
        os.write(handle, b'{{"half": ')
        print(temporary, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    assert done.returncode == -signal.SIGKILL
    return done.stdout.strip()


def test_temporaries_of_a_killed_writer_are_removed_by_the_next_writer(tmp_path):
    stale = [_killed_while_writing(tmp_path, name)
             for name in ("run.json", "run.summary.csv", "run.report.md", "run-digits-mlp-heatmap.png")]
    others = [_killed_while_writing(tmp_path, "other.json"),       # another results file's
              _killed_while_writing(tmp_path, "run2.json")]
    assert all(os.path.exists(path) for path in stale + others)
    with files.lock(str(tmp_path / "run.json")):
        assert not any(os.path.exists(path) for path in stale)
    assert all(os.path.exists(path) for path in others)


# ---------------------------------------------------------------------------------------------
# The lock


def _holder(json_path, *, then="input()"):
    """A process holding the lock of `json_path` until its stdin closes (or it is killed)."""
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            from bench.results import files
            with files.lock({str(json_path)!r}):
                print("held", flush=True)
                {then}
        """)], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_second_writer_is_refused_with_the_holders_pid(tmp_path):
    path = tmp_path / "run.json"
    holder = _holder(path)
    try:
        with pytest.raises(UsageError, match=rf"being written by another process \(pid {holder.pid}\)"):
            with files.lock(str(path)):
                pass
    finally:
        holder.communicate("\n", timeout=30)
    assert holder.returncode == 0
    assert os.listdir(tmp_path) == []  # the lock file goes with its holder
    with files.lock(str(path)):  # free again
        assert os.path.exists(files.lock_path(str(path)))
    assert os.listdir(tmp_path) == []


def test_the_lock_is_reentrant_in_one_process_and_released_on_error(tmp_path):
    path = str(tmp_path / "run.json")
    with pytest.raises(RuntimeError):
        with files.lock(path):
            with files.lock(path):  # the CLI holds it, then run_suite takes it again
                pass
            assert os.path.exists(files.lock_path(path))
            raise RuntimeError
    assert os.listdir(tmp_path) == []


def test_a_killed_holder_does_not_block_the_next_writer(tmp_path):
    path = tmp_path / "run.json"
    holder = _holder(path)
    holder.kill()
    holder.wait(timeout=30)
    assert os.path.exists(files.lock_path(str(path)))  # left behind, but no longer locked
    with files.lock(str(path)):
        pass
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------------------------
# Reading back: regular files only, results only


def test_read_existing_takes_only_regular_results_files(tmp_path):
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    (tmp_path / "notes.json").write_text("my notes, not JSON")
    (tmp_path / "other.json").write_text('{"a": 1}')
    (tmp_path / "deep.json").write_text("[" * 200_000 + "]" * 200_000)
    os.symlink("/dev/zero", tmp_path / "zero.json")
    os.symlink(tmp_path / "nowhere", tmp_path / "dangling.json")
    (tmp_path / "folder.json").mkdir()
    expected = {"fifo.json": "not a regular file (a FIFO)", "zero.json": "a character device",
                "notes.json": "not an initopt results file", "other.json": "not an initopt results file",
                "deep.json": "not an initopt results file", "dangling.json": "broken symbolic link",
                "folder.json": "is a directory"}
    for name, message in expected.items():
        with pytest.raises(UsageError, match=re.escape(message)):
            files.read_existing(str(tmp_path / name))
    assert files.read_existing(str(tmp_path / "absent.json")) is None
    document = {"schema_version": SCHEMA_VERSION, "meta": {}, "runs": [], "summary": []}
    (tmp_path / "run.json").write_text(json.dumps(document))
    assert files.read_existing(str(tmp_path / "run.json")) == document


# ---------------------------------------------------------------------------------------------
# Reuse


CONFIG = {"task": "digits-mlp", "optimizer": "adam", "seeds": [0, 1], "steps": 10}


def _record(seed, accuracy=0.9):
    return {"task": "digits-mlp", "optimizer": "adam", "init": "he_normal", "lr": 0.003,
            "seed": seed, "final_test_accuracy": accuracy, "curve": {"step": [10], "val_accuracy": [accuracy]}}


def _file_with_one_program(path, records, config=CONFIG):
    program = {"task": "digits-mlp", "optimizer": "adam", "config": config, "reused": False,
               **files.program_stamp(config, records)}
    document = {"schema_version": SCHEMA_VERSION, "meta": {"programs": [program]},
                "runs": records, "summary": []}
    files.write(str(path), document)
    return document


KEY = ("digits-mlp", "adam", "evaluation")


def test_an_unchanged_program_is_reused_with_its_own_code_provenance(tmp_path):
    path = tmp_path / "run.json"
    records = [_record(0), _record(1)]
    _file_with_one_program(path, records)
    reused = files.reusable_programs(str(path))
    program, reused_records = reused[KEY]
    assert reused_records == records
    assert program["code"] == files.code_identity()
    assert set(program["code"]) == {"sources_sha256", "git_revision", "versions"}
    assert {"jax", "jaxlib", "flax", "optax"} <= set(program["code"]["versions"])


def test_a_hand_edited_run_is_never_reused(tmp_path):
    path = tmp_path / "run.json"
    _file_with_one_program(path, [_record(0), _record(1)])
    document = json.loads(path.read_text())
    document["runs"][1]["final_test_accuracy"] = 0.99  # still a valid accuracy
    path.write_text(json.dumps(document))
    assert files.reusable_programs(str(path)) == {}
    document["runs"] = document["runs"][:1]  # a run deleted by hand
    path.write_text(json.dumps(document))
    assert files.reusable_programs(str(path)) == {}


def test_an_edited_config_other_code_or_other_libraries_reuse_nothing(tmp_path, monkeypatch):
    path = tmp_path / "run.json"
    document = _file_with_one_program(path, [_record(0)])
    document["meta"]["programs"][0]["config"]["steps"] = 20  # the config edited by hand
    path.write_text(json.dumps(document))
    assert files.reusable_programs(str(path)) == {}
    _file_with_one_program(path, [_record(0)])
    identity = files.code_identity()
    for changed in ({**identity, "sources_sha256": "0" * 64},
                    {**identity, "versions": {**identity["versions"], "jax": "0.0.1"}}):
        monkeypatch.setattr(files, "code_identity", lambda changed=changed: changed)
        assert files.reusable_programs(str(path)) == {}
    monkeypatch.undo()
    assert KEY in files.reusable_programs(str(path))


def test_a_file_without_reuse_keys_or_of_another_schema_reuses_nothing(tmp_path):
    path = tmp_path / "run.json"
    document = _file_with_one_program(path, [_record(0)])
    del document["meta"]["programs"][0]["reuse_key"]
    path.write_text(json.dumps(document))
    assert files.reusable_programs(str(path)) == {}
    document = _file_with_one_program(path, [_record(0)])
    path.write_text(json.dumps({**document, "schema_version": SCHEMA_VERSION + 1}))
    assert files.reusable_programs(str(path)) == {}


def test_the_sources_hash_follows_every_source_file(tmp_path):
    copy = _copy_of_the_sources(tmp_path)
    hashes = []
    for edit in (None, "inits/simple.py", "bench/tasks/models.py"):
        if edit:
            with open(copy / edit, "a") as source:
                source.write("\n# edited\n")
        done = _subprocess("from bench.results import files; print(files.sources_sha256())", cwd=copy)
        hashes.append(done.stdout.strip())
    assert hashes[0] == files.sources_sha256()  # the copy is the same code
    assert len(set(hashes)) == 3


def _copy_of_the_sources(tmp_path):
    copy = tmp_path / "copy"
    for package in files.CODE_PACKAGES:
        shutil.copytree(os.path.join(ROOT, package), copy / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_new_code_never_inherits_old_numbers(tmp_path):
    """Issue 10: Adam's formula changed in a copy of the tree; a rerun into the same --out."""
    from bench.cli import main

    out = str(tmp_path / "run.json")
    assert main(["run", *TINY_ADAM, "--out", out]) == 0
    assert main(["run", *TINY_ADAM, "--out", out]) == 0  # the same code: reused
    first = json.loads(open(out).read())
    [before] = first["meta"]["programs"]
    assert before["reused"] is True

    copy = _copy_of_the_sources(tmp_path)
    transform = copy / "optimizers" / "transform.py"
    source = transform.read_text()
    adam = source.index("def scale_by_adam(")
    edited = re.sub(r"\+ eps\)", "+ 2 * eps)", source[adam:], count=1)
    assert edited != source[adam:], "Adam's formula was not found in optimizers/transform.py"
    transform.write_text(source[:adam] + edited)
    done = subprocess.run([sys.executable, "-m", "bench", "run", *TINY_ADAM, "--out", out],
                          cwd=copy, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    second = json.loads(open(out).read())
    [after] = second["meta"]["programs"]
    assert after["reused"] is False
    assert after["code"]["sources_sha256"] != before["code"]["sources_sha256"]
    assert after["reuse_key"] != before["reuse_key"]
