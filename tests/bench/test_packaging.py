"""pyproject.toml ships every package: a wheel (`pip install .`, not only `pip install -e .`)
must hold each subpackage of bench, or `python -m bench` fails with ModuleNotFoundError."""
import os
import tomllib

from setuptools import find_packages

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_every_package_with_an_init_file_is_shipped():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as handle:
        setuptools_config = tomllib.load(handle)["tool"]["setuptools"]
    assert isinstance(setuptools_config["packages"], dict), "a plain list leaves subpackages out: use packages.find"
    shipped = set(find_packages(ROOT, include=setuptools_config["packages"]["find"]["include"]))
    on_disk = {os.path.relpath(folder, ROOT).replace(os.sep, ".")
               for top in ("inits", "optimizers", "bench")
               for folder, _, names in os.walk(os.path.join(ROOT, top)) if "__init__.py" in names}
    assert {"bench.suite", "bench.results", "bench.analysis", "bench.tools.perf"} <= on_disk
    assert shipped == on_disk
