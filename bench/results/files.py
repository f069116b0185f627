"""Results files on disk: their names, atomic writes, one writer at a time, and safe reuse.

The document itself (version, keys, checks) is `bench.results.document`'s; this module only
moves it to and from files.

Names. A results file is `<stem>.json`; everything derived from it lies beside it under a name
that can never be the JSON's nor another derived file's:

    <stem>.json                   the results (the only file read back)
    <stem>.summary.csv            its summary, one row per cell
    <stem>.report.md              the Markdown report (`python -m bench report`)
    <stem>-<task>-<kind>.png      the plots (`bench.analysis.plots`; <stem>-budget<N>-... per budget)
    .<stem>.json.lock             held while a process writes any of the above
    .<name>.<8 random>.tmp        a file being written; renamed over <name> when whole

Writes go to a temporary file in the same folder, renamed into place, so a reader never sees
half a file; a temporary left by a killed writer is removed by the next writer of that results
file. One process writes a results file at a time: the lock is an `flock` on the lock file,
released when the writer finishes or dies.

Reuse. A rerun into the same file reuses a finished program only when its `reuse_key` (the
program's configuration, a hash of the sources of `inits/`, `optimizers/` and `bench/`, and the
versions of the numeric libraries) equals this run's, and its records still hash to the
`records_sha256` written with them: new code never inherits old numbers, and a hand-edited run
is never reused. Each program keeps the `code` (sources hash, git revision, versions) it was
made with.
"""
from __future__ import annotations

import contextlib
import csv
import errno
import fcntl
import functools
import hashlib
import io
import json
import os
import re
import stat
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

from bench.errors import UsageError
from bench.phases import mark
from bench.results import provenance
from bench.results.schema import SCHEMA_VERSION, SUMMARY_COLUMNS, TOP_LEVEL_KEYS, csv_row

RESULTS_SUFFIX = ".json"
SUMMARY_SUFFIX = ".summary.csv"
REPORT_SUFFIX = ".report.md"
# What decides a program's numbers besides its configuration.
CODE_PACKAGES = ("inits", "optimizers", "bench")
VERSIONED_LIBRARIES = ("jax", "jaxlib", "flax", "optax", "numpy")


# ---------------------------------------------------------------------------------------------
# Names


def default_path(suite: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return os.path.join("results", f"{suite}-{stamp}{RESULTS_SUFFIX}")


def is_results_name(path: str) -> bool:
    """`<stem>.json` with a non-empty stem."""
    name = os.path.basename(str(path))
    return name.endswith(RESULTS_SUFFIX) and len(name) > len(RESULTS_SUFFIX)


def stem(json_path: str) -> str:
    """The results path without `.json`: every derived name starts with it."""
    json_path = str(json_path)
    if json_path.endswith(RESULTS_SUFFIX):
        return json_path[:-len(RESULTS_SUFFIX)]
    return os.path.splitext(json_path)[0]


def summary_path(json_path: str) -> str:
    return stem(json_path) + SUMMARY_SUFFIX


def report_path(json_path: str) -> str:
    return stem(json_path) + REPORT_SUFFIX


def plot_pattern(json_path: str, several_budgets: bool = False) -> str:
    """The plots' names as `bench.analysis.plots.make_plots` writes them, for messages."""
    return stem(json_path) + ("-budget<N>" if several_budgets else "") + "-<task>-<kind>.png"


def lock_path(json_path: str) -> str:
    folder, name = os.path.split(str(json_path))
    return os.path.join(folder, f".{name}.lock")


# ---------------------------------------------------------------------------------------------
# Atomic writes


def temporary_beside(path: str) -> tuple[int, str]:
    """(fd, name) of a new temporary file `.<name>.<random>.tmp` in `path`'s folder."""
    folder, name = os.path.split(os.path.abspath(path))
    return tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")


def _temporary_names(name: str) -> re.Pattern:
    # mkstemp's random part is 8 characters of [a-z0-9_]
    return re.compile(rf"\.{re.escape(name)}\.[a-z0-9_]{{8}}\.tmp")


def atomic_write(path: str, text: str) -> None:
    """Write `text` to `path` via a temporary file in the same folder: whole or not at all."""
    handle, temporary = temporary_beside(path)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes 0600; results are for sharing
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def remove_stale_temporaries(json_path: str) -> list[str]:
    """Delete the temporaries a killed writer left for this results file and its derived files.

    Only the lock holder may call this: any such temporary is then nobody's.
    """
    folder, name = os.path.split(os.path.abspath(json_path))
    derived = [name, os.path.basename(summary_path(name)), os.path.basename(report_path(name))]
    patterns = [_temporary_names(n) for n in derived]
    patterns.append(re.compile(rf"\.{re.escape(stem(name))}-[A-Za-z0-9_.-]+\.png\.[a-z0-9_]{{8}}\.tmp"))
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if any(p.fullmatch(entry.name) for p in patterns) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
                    removed.append(entry.path)
    return removed


def summary_csv(summary: Sequence[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(csv_row(row) for row in summary)
    return buffer.getvalue()


def write(path: str, results: dict[str, Any]) -> None:
    """The JSON, then the CSV beside it; each appears whole or not at all.

    A failed write (a full disk, a folder gone read-only) is one UsageError line; the file that
    was there before is left as it was.
    """
    for target, text in ((path, json.dumps(results, indent=1, allow_nan=False) + "\n"),
                         (summary_path(path), summary_csv(results["summary"]))):
        try:
            atomic_write(target, text)
        except OSError as error:
            raise UsageError(write_failure(target, error)) from None
    mark("records, statistics and writing")


def write_failure(path: str, error: OSError) -> str:
    reason = error.strerror or str(error)
    kept = "the earlier file is unchanged" if os.path.exists(path) else "nothing was written"
    return f"cannot write {path}: {reason} ({kept})"


# ---------------------------------------------------------------------------------------------
# Reading an existing results file (for resume, or before overwriting it)


def read_existing(path: str, what: str = "--out") -> dict[str, Any] | None:
    """The results document at `path`, or None if there is no file there.

    Only a regular file is read (never a device, a FIFO or a folder: they could block or never
    end). Anything that is not an initopt results file raises a one-line UsageError, so that a
    file the user owns is never overwritten.
    """
    data = read_regular(path, what)
    if data is None:
        return None
    document = _parse(data)
    if not is_results_document(document):
        if what in ("--out", "results path"):
            raise UsageError(f"{what} '{path}' exists and is not an initopt results file; "
                             "choose another path (nothing was changed)")
        raise UsageError(f"{_label(path, what)} is not an initopt results file")
    return document


def read_json(path: str, what: str = "--out") -> Any:
    """The JSON value in the regular file at `path` (None if there is no file, or not JSON)."""
    data = read_regular(path, what)
    return None if data is None else _parse(data)


def _parse(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None


def read_regular(path: str, what: str = "--out") -> bytes | None:
    """The bytes of the regular file at `path`; None if there is none; one UsageError line for
    a folder, a device, a FIFO or an unreadable file (opened without blocking, never read)."""
    label = _label(path, what)
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        if os.path.islink(path):
            raise UsageError(f"{label} is a broken symbolic link") from None
        return None
    except IsADirectoryError:
        raise UsageError(_folder_message(label, path)) from None
    except OSError as error:
        raise UsageError(f"{label} cannot be read ({error.strerror})") from None
    mode = os.fstat(handle).st_mode
    if not stat.S_ISREG(mode):
        os.close(handle)
        if stat.S_ISDIR(mode):
            raise UsageError(_folder_message(label, path))
        raise UsageError(f"{label} is not a regular file ({_file_kind(mode)})")
    with os.fdopen(handle, "rb") as file:
        return file.read()


def _label(path: str, what: str) -> str:
    return f"{what} '{path}'" if what else f"'{path}'"


def _folder_message(label: str, path: str) -> str:
    return f"{label} is a directory; give a file path like {os.path.join(path, 'run.json')}"


def is_results_document(document: Any) -> bool:
    """Has the top level of a results file (of any schema version)."""
    return isinstance(document, dict) and all(key in document for key in TOP_LEVEL_KEYS)


def _file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "not a plain file"


# ---------------------------------------------------------------------------------------------
# One writer per results file


_held: dict[str, list] = {}  # lock path -> [fd, depth]: re-entrant within this process


def _writes_files() -> bool:
    """Multi-host: only process 0 writes (and so locks); the others only read."""
    jax = sys.modules.get("jax")
    if jax is None:
        return True
    try:
        return jax.process_index() == 0
    except Exception:  # no backend: a single process
        return True


@contextlib.contextmanager
def lock(json_path: str) -> Iterator[None]:
    """Hold the results file's lock: a second writer gets a one-line UsageError at once.

    Re-entrant within a process (the CLI holds it across the run and its report; `run_suite`
    takes it too, for API callers). On entry, temporaries left by a killed writer are removed.
    The lock file is deleted on exit; after a crash the kernel releases the `flock`, so a lock
    file left behind never blocks anyone.
    """
    if not _writes_files():
        yield
        return
    path = os.path.abspath(lock_path(json_path))
    if path in _held:
        _held[path][1] += 1
        try:
            yield
        finally:
            _held[path][1] -= 1
        return
    handle = _acquire(path, json_path)
    _held[path] = [handle, 1]
    try:
        remove_stale_temporaries(json_path)
        yield
    finally:
        del _held[path]
        _release(path, handle)


def _acquire(path: str, json_path: str) -> int:
    while True:
        try:
            handle = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
                             | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as error:
            raise UsageError(f"cannot write beside {json_path}: {error.strerror} "
                             f"(creating its lock file {path})") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                os.close(handle)
                raise UsageError(f"cannot lock {json_path}: {error.strerror}") from None
            holder = _read_pid(handle)
            os.close(handle)
            raise UsageError(f"{json_path} is being written by another process"
                             f"{f' (pid {holder})' if holder else ''}; wait for it to finish "
                             "or choose another path") from None
        # The holder before us may have deleted the file between our open and our flock:
        # then we hold a lock on a file nobody else will open; start again.
        try:
            same = os.path.samestat(os.fstat(handle), os.stat(path, follow_symlinks=False))
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(handle, 0)
            os.write(handle, f"{os.getpid()}\n".encode())
            return handle
        os.close(handle)


def _read_pid(handle: int) -> str | None:
    with contextlib.suppress(OSError, ValueError):
        text = os.pread(handle, 32, 0).decode().strip()
        return text if text.isdigit() else None
    return None


def _release(path: str, handle: int) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)  # while still holding it, so nobody can hold a lock on a deleted file
    os.close(handle)


def abandon_locks() -> None:
    """Delete the lock files this process holds, right before it exits without unwinding
    (a second interrupt). The kernel releases the locks themselves."""
    for path in list(_held):
        with contextlib.suppress(OSError):
            os.unlink(path)


# ---------------------------------------------------------------------------------------------
# Reuse


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False,
                      ensure_ascii=True).encode()


def sha256_of(value: Any) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()


@functools.lru_cache(maxsize=None)
def sources_sha256() -> str:
    """A hash of every .py file of inits/, optimizers/ and bench/ as imported (names and bytes)."""
    from importlib.util import find_spec

    digest = hashlib.sha256()
    for package in CODE_PACKAGES:
        root = Path(find_spec(package).origin).parent  # found, not imported (inits imports jax)
        for source in sorted(root.rglob("*.py")):
            digest.update(f"{package}/{source.relative_to(root).as_posix()}".encode() + b"\0")
            digest.update(source.read_bytes() + b"\0")
    return digest.hexdigest()


@functools.lru_cache(maxsize=None)
def code_identity() -> dict[str, Any]:
    """The code that makes numbers now: sources hash, git revision (if any), library versions."""
    return {"sources_sha256": sources_sha256(), "git_revision": provenance.git_revision(),
            "versions": {name: provenance.package_version(name) for name in VERSIONED_LIBRARIES}}


def reuse_key(program_config: dict[str, Any]) -> str:
    """Equal keys: same configuration, same sources, same libraries, hence the same numbers."""
    code = code_identity()
    return sha256_of({"config": program_config, "sources_sha256": code["sources_sha256"],
                      "versions": code["versions"]})


def program_stamp(program_config: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    """What a program's meta entry carries so that a later run can trust its records."""
    return {"reuse_key": reuse_key(program_config), "records_sha256": sha256_of(records),
            "code": code_identity()}


def reusable_programs(path: str) -> dict[tuple[str, str, str], tuple[dict[str, Any], list[dict[str, Any]]]]:
    """The programs of an earlier results file at `path` that the code of now may take as they are.

    Returns (task, optimizer, phase) -> (program meta, run records) for each program whose
    `reuse_key` is that of its own `config` under this code and these libraries, and whose
    records still match their `records_sha256`; the caller reuses a program only if its
    `config` also equals the new one. No file, another schema, or anything unreadable reuses
    nothing.
    """
    try:
        earlier = read_existing(path)
    except UsageError:
        return {}
    if earlier is None or earlier.get("schema_version") != SCHEMA_VERSION:
        return {}
    meta, runs = earlier["meta"], earlier["runs"]
    programs = meta.get("programs") if isinstance(meta, dict) else None
    if not isinstance(programs, list) or not isinstance(runs, list):
        return {}
    found = {}
    for program in programs:
        if not isinstance(program, dict):
            continue
        key = (program.get("task"), program.get("optimizer"), program.get("phase", "evaluation"))
        if key in found or not isinstance(key[2], str):
            continue
        phases = key[2].split("+")  # "selection+evaluation": one program trained both phases
        records = [run for run in runs if isinstance(run, dict) and (
            run.get("task"), run.get("optimizer")) == key[:2] and run.get("phase", "evaluation") in phases]
        try:
            trusted = (program.get("reuse_key") == reuse_key(program.get("config"))
                       and program.get("records_sha256") == sha256_of(records))
        except (TypeError, ValueError):  # a hand-edited NaN, or a value JSON cannot hold
            trusted = False
        if trusted:
            found[key] = (program, records)
    return found
