import pytest

from bench import data


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """INITOPT_DATA_DIR at an empty tmp folder, and no loader remembering an earlier load."""
    monkeypatch.setenv("INITOPT_DATA_DIR", str(tmp_path))
    for loader in (data.mnist, data.fashion_mnist, data.cifar10, data.cifar100, data.mnist1d):
        loader.cache_clear()
    yield tmp_path
    for loader in (data.mnist, data.fashion_mnist, data.cifar10, data.cifar100, data.mnist1d):
        loader.cache_clear()


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Every download in these tests fails as if offline, unless a test serves the files itself."""
    from urllib.error import URLError

    def offline(url, timeout=None):
        raise URLError("tests never touch the network")

    monkeypatch.setattr("bench.data.download.urlopen", offline)
