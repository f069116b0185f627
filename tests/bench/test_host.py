"""What the command line sets in the environment before any library starts (bench.host)."""
import json
import os
import subprocess
import sys

import pytest

from bench.host import BLAS_SPIN

# a fresh process: the command line's entry (`main()` with no argv, as `python -m bench` calls
# it) on --help, then what it sees, what numpy loaded, and what a child of perf would be given
ENTRY = ("import json, os, sys\n"
         "sys.argv = ['bench', '--help']\n"
         "import bench.cli\n"
         "loaded = 'numpy' in sys.modules\n"
         "try:\n    bench.cli.main()\nexcept SystemExit:\n    pass\n"
         "from bench.host import environment_as_the_user_set_it\n"
         "child = environment_as_the_user_set_it()\n"
         f"names = {sorted(BLAS_SPIN)!r}\n"
         "print(json.dumps([{n: os.environ.get(n) for n in names}, {n: child.get(n) for n in names}, loaded]))\n")


def run(code: str, **set_by_user: str):
    env = {name: value for name, value in os.environ.items() if name not in BLAS_SPIN}
    env.update(set_by_user)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_command_line_shortens_openblas_spin_before_numpy_loads_and_not_for_its_children():
    seen, child, numpy_before = run(ENTRY)
    assert seen == BLAS_SPIN
    assert child == {name: None for name in BLAS_SPIN}  # an older revision runs as it would alone
    assert numpy_before is False


def test_importing_bench_leaves_the_environment_alone():
    code = f"import json, os, bench; print(json.dumps({{n: os.environ.get(n) for n in {sorted(BLAS_SPIN)!r}}}))"
    assert run(code) == {name: None for name in BLAS_SPIN}


@pytest.mark.parametrize("value", ["20", "28"])
def test_a_users_own_openblas_setting_is_kept_for_the_run_and_its_children(value):
    users = {name: value for name in BLAS_SPIN}
    seen, child, _ = run(ENTRY, **users)
    assert seen == users and child == users
