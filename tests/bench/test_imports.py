"""bench.imports: modules imported at first use, or beside the compiles."""
import sys

import pytest

from bench import imports, overlap
from bench.imports import LazyModule, preload, preload_beside_compile
from bench.overlap import compiling


@pytest.fixture
def module_file(tmp_path, monkeypatch):
    """A module of the test's own, not imported yet, that counts its imports."""
    (tmp_path / "initopt_lazy_probe.py").write_text(
        "import builtins\nbuiltins.initopt_probe_loads = getattr(builtins, 'initopt_probe_loads', 0) + 1\n"
        "VALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "initopt_lazy_probe", raising=False)
    import builtins

    monkeypatch.setattr(builtins, "initopt_probe_loads", 0, raising=False)
    yield "initopt_lazy_probe"
    sys.modules.pop("initopt_lazy_probe", None)


def test_a_lazy_module_imports_at_its_first_attribute_and_once(module_file):
    import builtins

    lazy = LazyModule(module_file)
    assert module_file not in sys.modules
    assert lazy.VALUE == 42 and lazy.VALUE == 42
    assert builtins.initopt_probe_loads == 1


def test_preload_imports_in_a_thread_and_leaves_failures_to_the_real_import(module_file):
    preload(module_file).join(timeout=30)
    assert sys.modules[module_file].VALUE == 42
    preload("initopt_no_such_module").join(timeout=30)  # no exception escapes the thread
    with pytest.raises(ModuleNotFoundError):
        LazyModule("initopt_no_such_module").VALUE


def test_a_preload_beside_compile_waits_for_the_compile_and_starts_once(module_file, monkeypatch):
    monkeypatch.setattr(imports, "_waiting", [])
    monkeypatch.setattr(overlap, "_waiting", [])
    started = []
    monkeypatch.setattr(imports, "preload", lambda *names: started.append(names) or preload(*names))
    preload_beside_compile(module_file)
    preload_beside_compile(module_file)
    assert module_file not in sys.modules and started == []
    compiling()
    compiling()  # nothing waits any more
    assert started == [(module_file,)]
    assert LazyModule(module_file).VALUE == 42  # imported by the thread or, if it is not done, here
    preload_beside_compile(module_file, "initopt_no_such_module")  # waits for the next compile
    assert started == [(module_file,)]
    compiling()
    assert started == [(module_file,), (module_file, "initopt_no_such_module")]
