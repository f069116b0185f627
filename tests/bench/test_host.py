"""What importing `bench` sets in the environment before any library starts (bench.host)."""
import json
import os
import subprocess
import sys

import pytest

from bench.host import BLAS_SPIN


def environment_after_import(**set_by_user: str) -> dict[str, str | None]:
    """The BLAS_SPIN variables as a fresh process sees them after `import bench`."""
    env = {name: value for name, value in os.environ.items() if name not in BLAS_SPIN}
    env.update(set_by_user)
    code = ("import json, os, bench; "
            f"print(json.dumps({{name: os.environ.get(name) for name in {sorted(BLAS_SPIN)!r}}}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout)


def test_importing_bench_shortens_openblas_spin_before_any_blas_loads():
    assert environment_after_import() == BLAS_SPIN


@pytest.mark.parametrize("value", ["20", "28"])
def test_a_users_own_openblas_setting_is_kept(value):
    users = {name: value for name in BLAS_SPIN}
    assert environment_after_import(**users) == users

