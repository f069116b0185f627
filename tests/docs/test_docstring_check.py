"""A documented public name without a docstring fails the documentation build (`-W`): the check
in docs/docstring_check.py, alone and in a real Sphinx build of a one-function package."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "docs"))
import docstring_check  # noqa: E402


def test_a_public_object_without_a_docstring_is_missing_one():
    assert docstring_check.missing_docstring("function", "inits.he_normal", [])
    assert docstring_check.missing_docstring("class", "bench.data.Dataset", ["", "  "])
    assert not docstring_check.missing_docstring("function", "inits.he_normal", ["He et al. 2015."])
    assert not docstring_check.missing_docstring("function", "inits._private", [])
    assert not docstring_check.missing_docstring("attribute", "inits.Strategy.kernel_init", [])


def build(tmp_path: Path, source: str) -> subprocess.CompletedProcess:
    """`sphinx -W` on a site documenting the module `sample` (its `source`) with docs/'s check."""
    tmp_path.mkdir()
    (tmp_path / "sample.py").write_text(source)
    (tmp_path / "conf.py").write_text(
        f"import sys\nsys.path[:0] = [{str(tmp_path)!r}, {str(ROOT / 'docs')!r}]\n"
        "extensions = ['sphinx.ext.autodoc', 'sphinx.ext.napoleon', 'docstring_check']\n")
    (tmp_path / "index.rst").write_text("Sample\n======\n\n.. automodule:: sample\n   :members:\n")
    return subprocess.run([sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", str(tmp_path),
                           str(tmp_path / "_build")], capture_output=True, text=True, timeout=300)


def test_the_build_fails_on_a_public_function_without_a_docstring(tmp_path):
    pytest.importorskip("sphinx")
    documented = build(tmp_path / "documented", '"""A module."""\n\ndef scale(x):\n    """x, scaled."""\n    return x\n')
    assert documented.returncode == 0, documented.stderr
    bare = build(tmp_path / "bare", '"""A module."""\n\ndef scale(x):\n    return x\n')
    assert bare.returncode != 0
    assert "public function sample.scale has no docstring" in bare.stderr
