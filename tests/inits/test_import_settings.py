"""Importing `inits` changes no JAX or XLA setting: a user's program that imports it keeps its
own precision, platforms and XLA flags."""
import json
import subprocess
import sys
import textwrap

SNAPSHOT = textwrap.dedent("""
    import json, os, sys
    import jax
    def snapshot():
        return {"environ": dict(os.environ),
                "config": {name: repr(value) for name, value in jax.config.values.items()}}
    before = snapshot()
    import {package}
    after = snapshot()
    print(json.dumps({"before": before, "after": after}))
""")


def settings_around_import(package: str) -> tuple[dict, dict]:
    done = subprocess.run([sys.executable, "-c", SNAPSHOT.replace("{package}", package)],
                          capture_output=True, text=True, check=True)
    seen = json.loads(done.stdout)
    return seen["before"], seen["after"]


def test_importing_inits_changes_no_jax_setting_nor_environment():
    before, after = settings_around_import("inits")
    assert after["environ"] == before["environ"]
    changed = {name for name in before["config"] if before["config"][name] != after["config"].get(name)}
    assert not changed, f"importing inits changed {sorted(changed)}"
    assert "jax_enable_x64" in before["config"]  # the snapshot sees the settings that matter


def test_the_check_sees_a_changed_setting():
    before, after = settings_around_import("jax; jax.config.update('jax_enable_x64', True)")
    assert before["config"]["jax_enable_x64"] != after["config"]["jax_enable_x64"]
