"""Downloads: verified, atomic, with mirrors; offline is one line naming files, URLs and folder (exit 2)."""
import io
import os
from urllib.error import URLError

import pytest

from bench.cli import main
from bench.data import download
from bench.data.download import RemoteFile, fetch
from bench.errors import UsageError
from tests.bench.data.original_formats import sha256

CONTENT = b"some bytes " * 1000


class FakeResponse(io.BytesIO):
    def __init__(self, content: bytes, fail_after: int | None = None):
        super().__init__(content)
        self.headers = {"Content-Length": str(len(content))}
        self.fail_after = fail_after

    def read(self, size=-1):
        if self.fail_after is not None and self.tell() >= self.fail_after:
            raise ConnectionResetError("connection dropped")
        return super().read(size)


def serve(monkeypatch, files: dict[str, bytes], fail_after: int | None = None):
    """urlopen answering from `files`; every other URL unreachable. Returns the URLs asked for."""
    asked = []

    def urlopen(url, timeout=None):
        asked.append(url)
        if url not in files:
            raise URLError("unreachable")
        return FakeResponse(files[url], fail_after)

    monkeypatch.setattr(download, "urlopen", urlopen)
    monkeypatch.setattr(download, "CHUNK_BYTES", 1000)
    return asked


def leftovers(folder):
    return sorted(name for name in os.listdir(folder) if name.startswith("."))


def test_a_download_is_verified_and_renamed_into_place_once(data_dir, monkeypatch):
    file = RemoteFile("a.bin", ("https://host/a.bin",), sha256(CONTENT))
    asked = serve(monkeypatch, {"https://host/a.bin": CONTENT})
    paths = fetch("set", [file])
    assert paths["a.bin"] == data_dir / "set" / "a.bin"
    assert paths["a.bin"].read_bytes() == CONTENT
    assert leftovers(data_dir / "set") == []
    fetch("set", [file])  # already there: nothing downloaded again
    assert asked == ["https://host/a.bin"]


def test_a_mirror_serves_when_the_first_host_fails(data_dir, monkeypatch):
    file = RemoteFile("a.bin", ("https://down/a.bin", "https://mirror/a.bin"), sha256(CONTENT))
    asked = serve(monkeypatch, {"https://mirror/a.bin": CONTENT})
    assert fetch("set", [file])["a.bin"].read_bytes() == CONTENT
    assert asked == ["https://down/a.bin", "https://mirror/a.bin"]


@pytest.mark.parametrize("served, fail_after", [(CONTENT[:-1] + b"!", None), (CONTENT, 3000)])
def test_a_corrupt_or_partial_download_never_looks_complete(data_dir, monkeypatch, served, fail_after):
    file = RemoteFile("a.bin", ("https://host/a.bin",), sha256(CONTENT))
    serve(monkeypatch, {"https://host/a.bin": served}, fail_after)
    with pytest.raises(UsageError, match="a.bin"):
        fetch("set", [file])
    assert os.listdir(data_dir / "set") == []  # neither the file nor a temporary


def test_offline_is_one_line_naming_files_urls_and_folder(data_dir):
    files = [RemoteFile("a.bin", ("https://one/a.bin", "https://two/a.bin"), "0" * 64),
             RemoteFile("b.bin", ("https://one/b.bin",), "1" * 64)]
    with pytest.raises(UsageError) as raised:
        fetch("set", files)
    message = str(raised.value)
    assert "\n" not in message
    for needle in ("a.bin", "b.bin", "https://one/a.bin", "https://two/a.bin", "https://one/b.bin",
                   str(data_dir / "set"), "INITOPT_DATA_DIR"):
        assert needle in message


def test_offline_cli_exits_2_with_one_line(data_dir, capsys):
    code = main(["diagnose", "--task", "mnist-lenet", "--seeds", "1", "--out", str(data_dir / "d.png")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: could not download")
    assert "train-images-idx3-ubyte.gz" in err and "https://ossci-datasets.s3.amazonaws.com/mnist/" in err
    assert str(data_dir / "mnist") in err
    assert not (data_dir / "d.png").exists()
