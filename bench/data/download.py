"""Files fetched on first use from their canonical hosts, each checked against its published SHA-256.

`fetch(folder, files)` returns the local paths of `files` in the cache folder `folder`
(`bench.data.cache.data_dir(folder)`), downloading those that are missing with a progress bar on
stderr. A download goes to a temporary name, is hashed as it streams, and is renamed into place
only if its SHA-256 is the published one: a partial or corrupt download never looks complete.
A file already in the folder (downloaded earlier, or put there by hand) is hashed once per
process before it is used. Offline, or any host failing: one line naming the files, their URLs
and the folder to put them in, raised as `UsageError` (exit 2).
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import sys
from pathlib import Path
from typing import NamedTuple, Sequence
from urllib.request import urlopen

from bench.data.cache import atomic_file, data_dir
from bench.errors import UsageError

CHUNK_BYTES = 1 << 20
TIMEOUT_SECONDS = 60


class RemoteFile(NamedTuple):
    name: str  # the file's name in the cache folder, as on the host
    urls: tuple[str, ...]  # the canonical host first, then mirrors
    sha256: str  # the published hash; where it was published is cited beside each table


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


@functools.cache
def _verified(path: Path, size: int, mtime_ns: int, sha256: str) -> bool:
    return _sha256_of(path) == sha256


class _DownloadBars(contextlib.AbstractContextManager):
    """Rich download bars on stderr, shown from the first response on: an offline attempt prints
    nothing but its one-line error."""

    def __init__(self):
        self.progress = None

    def add_task(self, name: str, total: int | None):
        if self.progress is None:
            from rich.console import Console
            from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                                       TransferSpeedColumn)

            self.progress = Progress(TextColumn("downloading {task.description}"), BarColumn(), DownloadColumn(),
                                     TransferSpeedColumn(), TimeRemainingColumn(),
                                     console=Console(file=sys.stderr), transient=True)
            self.progress.start()
        return self.progress.add_task(name, total=total)

    def advance(self, task, steps: int) -> None:
        self.progress.advance(task, steps)

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()


def _download(url: str, destination: Path, sha256: str, progress: _DownloadBars) -> None:
    """Stream `url` to a temporary file, hash it, rename it to `destination` if the hash matches."""
    with atomic_file(destination) as temporary, urlopen(url, timeout=TIMEOUT_SECONDS) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        bar = progress.add_task(destination.name, total=total)
        digest = hashlib.sha256()
        with open(temporary, "wb") as file:
            for chunk in iter(lambda: response.read(CHUNK_BYTES), b""):
                digest.update(chunk)
                file.write(chunk)
                progress.advance(bar, len(chunk))
        if digest.hexdigest() != sha256:
            raise OSError(f"{url} sent a file with SHA-256 {digest.hexdigest()}, not the published {sha256}")


def _offline_message(folder: Path, missing: Sequence[RemoteFile], reason: str) -> str:
    files = "; ".join(f"{file.name} from {' or '.join(file.urls)}" for file in missing)
    return (f"could not download {len(missing)} file(s) ({reason}): put {files} in {folder} "
            f"(or point INITOPT_DATA_DIR at a folder holding {folder.name}/)")


def fetch(folder_name: str, files: Sequence[RemoteFile]) -> dict[str, Path]:
    """Local paths of `files` in the cache folder `folder_name`, downloaded and verified as needed."""
    folder = data_dir(folder_name)
    missing = [file for file in files if not (folder / file.name).exists()]
    if missing:
        reason = ""
        with _DownloadBars() as progress:
            for file in missing:
                for url in file.urls:
                    try:
                        _download(url, folder / file.name, file.sha256, progress)
                        break
                    except (OSError, ValueError) as error:  # URLError, HTTPError, timeouts are OSErrors
                        reason = reason or " ".join(str(error).split())
                if not (folder / file.name).exists():  # every host failed: offline? do not wait on the rest
                    break
        still_missing = [file for file in missing if not (folder / file.name).exists()]
        if still_missing:
            raise UsageError(_offline_message(folder, still_missing, reason))
    for file in files:
        path = folder / file.name
        stat = path.stat()
        if not _verified(path, stat.st_size, stat.st_mtime_ns, file.sha256):
            raise UsageError(f"{path} is not the published file (its SHA-256 is {_sha256_of(path)}, "
                             f"not {file.sha256}): delete it and run again to download it")
    return {file.name: folder / file.name for file in files}
