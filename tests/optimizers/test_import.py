"""Importing `optimizers` changes no JAX or XLA setting: a library must leave precision (x64,
matmul precision), platforms and XLA flags to the program that imports it (bench sets them,
once, at its edge). Each check imports the package and every submodule in a fresh interpreter
and compares os.environ (XLA_FLAGS included) and every value of `jax.config.values` before
and after."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = textwrap.dedent("""
    import importlib, json, os, pkgutil, sys
    import jax

    NAMED = ("jax_enable_x64", "jax_default_matmul_precision", "jax_platforms", "jax_default_dtype_bits",
             "jax_numpy_rank_promotion", "jax_default_prng_impl", "jax_disable_jit")

    def snapshot():
        config = {name: repr(value) for name, value in jax.config.values.items()}
        config.update({f"jax.config.{name}": repr(getattr(jax.config, name)) for name in NAMED
                       if hasattr(jax.config, name)})
        return {"environ": dict(os.environ), "config": config}

    before = snapshot()
    package = importlib.import_module(sys.argv[1])
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(module.name)
    after = snapshot()
    changed = {kind: sorted(name for name in set(before[kind]) | set(after[kind])
                            if before[kind].get(name) != after[kind].get(name)) for kind in before}
    print(json.dumps({"changed": changed, "config_values": len(before["config"])}))
""")


def changes_made_by_importing(package: str, path: Path = ROOT) -> dict:
    """{"environ": [names], "config": [names]} that importing `package` (found first on `path`)
    and all its submodules changed, from a fresh interpreter."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(path), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", PROBE, package], capture_output=True, text=True, cwd=path,
                            env=environment, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["config_values"] > 50, "jax.config.values looks empty: the probe would see nothing"
    return report["changed"]


def test_importing_optimizers_changes_no_jax_or_xla_setting():
    changed = changes_made_by_importing("optimizers")
    assert changed["environ"] == [], "os.environ entries changed by the import"
    assert changed["config"] == [], "jax.config values changed by the import"


def test_the_check_sees_a_package_that_changes_settings(tmp_path):
    package = tmp_path / "meddling"
    package.mkdir()
    (package / "__init__.py").write_text("import jax\njax.config.update('jax_enable_x64', True)\n")
    (package / "flags.py").write_text("import os\nos.environ['XLA_FLAGS'] = '--xla_force_host_platform_device_count=8'\n")
    changed = changes_made_by_importing("meddling", tmp_path)
    assert changed["environ"] == ["XLA_FLAGS"]
    assert {"jax_enable_x64", "jax.config.jax_enable_x64"} <= set(changed["config"])
