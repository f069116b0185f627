"""Bring your own optimizer, init and task (bench.plugins): names, files, modules, entry points
and objects resolve into the built-ins' objects with their provenance, and anything wrong with a
user's object ends in one UsageError line that names it."""
from __future__ import annotations

import functools
import hashlib
import sys
import textwrap
import uuid
from importlib.metadata import EntryPoint

import flax.linen as nn
import jax
import numpy as np
import optax
import pytest

from bench import plugins
from bench.data import Dataset
from bench.errors import UsageError
from bench.plugins import DEFAULT_LEARNING_RATE_RANGE, DEFAULT_LEARNING_RATES, resolve, resolve_many
from bench.tasks import TASKS, Task
from inits import STRATEGIES, Strategy
from optimizers import OPTIMIZERS, OptimizerSpec, SearchDimension

HEAVY_BALL = """\
import optax

heavy_ball = lambda learning_rate, momentum=0.9: optax.sgd(learning_rate, momentum=momentum)
"""


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def usage_error(call, *args, **kwargs) -> str:
    """The one line a UsageError says (a multi-line message fails)."""
    with pytest.raises(UsageError) as caught:
        call(*args, **kwargs)
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message, message
    return message


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def unique_package(monkeypatch, tmp_path):
    """A package name no other test uses, with tmp_path on sys.path; its modules are forgotten after."""
    name = f"byo_pkg_{uuid.uuid4().hex[:10]}"
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[module]


# ---------------------------------------------------------------------------------------------
# Names


def test_split_names_on_commas_stripped_without_empties():
    assert plugins.split_names("adam, ./m.py:heavy_ball") == ["adam", "./m.py:heavy_ball"]
    assert plugins.split_names(" ,sgd,, C:/x/m.py:f ,") == ["sgd", "C:/x/m.py:f"]


def test_builtin_names_resolve_to_the_registries_objects_without_provenance():
    assert resolve("optimizer", "adam", OPTIMIZERS) == ("adam", OPTIMIZERS["adam"], None, True)
    assert resolve("init", "he_normal", STRATEGIES) == ("he_normal", STRATEGIES["he_normal"], None, True)
    # a built-in task is not loaded (this one would need a download)
    assert resolve("task", "mnist-lenet", TASKS).obj is TASKS["mnist-lenet"]


def test_unknown_name_suggests_the_closest():
    assert usage_error(resolve, "optimizer", "adma", OPTIMIZERS) == "unknown optimizer 'adma'; did you mean 'adam'?"
    assert "did you mean 'he_normal'" in usage_error(resolve, "init", "he_nromal", STRATEGIES)
    assert "unknown task 'qwertyuiop'; valid: digits-mlp" in usage_error(resolve, "task", "qwertyuiop", TASKS)


def test_a_builtin_cannot_be_renamed():
    assert "cannot be renamed" in usage_error(resolve, "optimizer", "adam", OPTIMIZERS, name="fast")
    assert resolve("optimizer", "adam", OPTIMIZERS, name="adam").obj is OPTIMIZERS["adam"]


def test_kind_must_be_known():
    with pytest.raises(ValueError, match="kind must be one of"):
        resolve("scheduler", "adam", OPTIMIZERS)


# ---------------------------------------------------------------------------------------------
# PATH.py:NAME


def test_file_optimizer_resolves_traceable_with_the_files_sha256(in_tmp, capsys):
    path = write(in_tmp / "byo_methods.py", HEAVY_BALL)
    path_before = list(sys.path)
    resolved = resolve("optimizer", "./byo_methods.py:heavy_ball", OPTIMIZERS)

    assert resolved.name == "heavy_ball" and resolved.traceable
    assert resolved.source == {"spec": "./byo_methods.py:heavy_ball", "file": str(path.resolve()),
                               "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    spec = resolved.obj
    assert isinstance(spec, OptimizerSpec) and spec.optax_reference is None and spec.hyperparams == {}
    assert spec.learning_rates == DEFAULT_LEARNING_RATES
    assert spec.search_space == {"learning_rate": SearchDimension("learning_rate", "log", *DEFAULT_LEARNING_RATE_RANGE)}
    assert spec.paper == "user-provided (./byo_methods.py:heavy_ball)"
    assert spec.description == "./byo_methods.py:heavy_ball"  # a lambda has no docstring
    params = {"w": jax.numpy.ones(2)}
    state = spec.factory(learning_rate=0.1).init(params)
    assert isinstance(state[0], optax.TraceState)  # the user's own code, momentum and all
    # the user's module is not left under its plain name, and sys.path is as it was
    # nothing shadows what was on the path: the file's folder is appended, for imports that
    # its factory makes when called
    assert "byo_methods" not in sys.modules and sys.path[:len(path_before)] == path_before
    assert sys.path[len(path_before):] in ([], [str(path.resolve().parent)])
    assert capsys.readouterr() == ("", "")


def test_an_edited_file_is_read_again_with_a_new_sha256(in_tmp):
    path = write(in_tmp / "m.py", HEAVY_BALL)
    first = resolve("optimizer", "m.py:heavy_ball", OPTIMIZERS)
    write(path, HEAVY_BALL + "heavy_ball.learning_rates = (0.01, 0.1)\n")
    second = resolve("optimizer", "m.py:heavy_ball", OPTIMIZERS)
    assert second.source["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest() != first.source["sha256"]
    assert second.obj.learning_rates == (0.01, 0.1)


def test_an_absolute_path_and_two_files_of_one_basename(tmp_path):
    a = write(tmp_path / "a" / "methods.py", HEAVY_BALL + "heavy_ball.learning_rates = (0.5,)\n")
    b = write(tmp_path / "b" / "methods.py", HEAVY_BALL + "heavy_ball.learning_rates = (0.25,)\n")
    from_a = resolve("optimizer", f"{a}:heavy_ball", OPTIMIZERS)
    from_b = resolve("optimizer", f"{b}:heavy_ball", OPTIMIZERS)
    assert from_a.obj.learning_rates == (0.5,) and from_b.obj.learning_rates == (0.25,)
    assert from_a.obj.factory.__module__ != from_b.obj.factory.__module__
    assert from_a.obj.factory.__module__ in sys.modules  # under its own unique name


def test_a_file_imports_its_siblings(in_tmp):
    sibling = f"byo_sibling_{uuid.uuid4().hex[:8]}"
    write(in_tmp / f"{sibling}.py", "MOMENTUM = 0.5\n")
    write(in_tmp / "m.py", f"""\
        import optax
        from {sibling} import MOMENTUM

        def heavy_ball(learning_rate, momentum=MOMENTUM):
            '''Heavy ball with the sibling's momentum.'''
            return optax.sgd(learning_rate, momentum=momentum)
        """)
    try:
        resolved = resolve("optimizer", "./m.py:heavy_ball", OPTIMIZERS)
        assert resolved.obj.description == "Heavy ball with the sibling's momentum."
        assert sys.path.index(str(in_tmp)) == len(sys.path) - 1  # appended, never ahead of anything
        # the sibling is part of the source: editing it changes what a run is keyed on
        helper = in_tmp / f"{sibling}.py"
        assert resolved.source["imports"] == {helper.name: hashlib.sha256(helper.read_bytes()).hexdigest()}
        write(helper, "MOMENTUM = 0.75\n")
        assert resolve("optimizer", "./m.py:heavy_ball", OPTIMIZERS).source["imports"] != resolved.source["imports"]
    finally:
        sys.modules.pop(sibling, None)


def test_an_optimizers_own_grid_and_search_space(in_tmp):
    write(in_tmp / "m.py", HEAVY_BALL + textwrap.dedent("""\
        from optimizers.spec import SearchDimension
        heavy_ball.learning_rates = [0.01, 0.1]
        heavy_ball.search_space = {"learning_rate": SearchDimension("learning_rate", "log", 1e-3, 1.0),
                                   "momentum": ("momentum", "one_minus_log", 0.5, 0.999)}
        bad = lambda learning_rate: optax.sgd(learning_rate)
        bad.learning_rates = (0.1, -1.0)
        worse = lambda learning_rate: optax.sgd(learning_rate)
        worse.search_space = {"momentum": ("momentum", "log", 0.0, 1.0)}
        """))
    spec = resolve("optimizer", "./m.py:heavy_ball", OPTIMIZERS).obj
    assert spec.learning_rates == (0.01, 0.1)
    assert spec.search_space["momentum"] == SearchDimension("momentum", "one_minus_log", 0.5, 0.999)
    assert "learning_rates must be positive" in usage_error(resolve, "optimizer", "./m.py:bad", OPTIMIZERS)
    assert "do not fit scale 'log'" in usage_error(resolve, "optimizer", "./m.py:worse", OPTIMIZERS)


def test_a_factory_that_needs_a_concrete_learning_rate_is_not_traceable(in_tmp):
    write(in_tmp / "m.py", """\
        import functools
        import optax

        def concrete(learning_rate, momentum=0.9):
            return optax.sgd(float(learning_rate), momentum=momentum)

        def branching(learning_rate, momentum=0.9):
            return optax.sgd(learning_rate, momentum=momentum if momentum > 0 else None)

        @functools.lru_cache  # hashes its arguments: "unhashable type: 'DynamicJaxprTracer'"
        def cached(learning_rate):
            return optax.sgd(learning_rate)
        """)
    assert resolve("optimizer", "./m.py:concrete", OPTIMIZERS).traceable is False
    assert resolve("optimizer", "./m.py:branching", OPTIMIZERS).traceable is False
    assert resolve("optimizer", "./m.py:cached", OPTIMIZERS).traceable is False


def test_a_module_importing_a_missing_package(in_tmp):
    write(in_tmp / "m.py", "import not_a_package_anyone_has\n")
    assert usage_error(resolve, "optimizer", "./m.py:heavy_ball", OPTIMIZERS) == (
        "error importing ./m.py: ModuleNotFoundError: No module named 'not_a_package_anyone_has'")


def test_a_module_raising_on_import_is_not_left_in_sys_modules(in_tmp):
    path = write(in_tmp / "m.py", "x = 1 / 0\n")
    modules_before, path_before = set(sys.modules), list(sys.path)
    assert usage_error(resolve, "init", "./m.py:x", STRATEGIES) == (
        "error importing ./m.py: ZeroDivisionError: division by zero")
    assert set(sys.modules) == modules_before and sys.path == path_before
    assert plugins.module_name_for(path.resolve()) not in sys.modules


def test_a_syntax_error(in_tmp):
    write(in_tmp / "m.py", "def heavy_ball(learning_rate:\n    return 1\n")
    message = usage_error(resolve, "optimizer", "./m.py:heavy_ball", OPTIMIZERS)
    assert message.startswith("error importing ./m.py: SyntaxError:") and "line 1" in message


def test_a_missing_file(in_tmp):
    message = usage_error(resolve, "optimizer", "./nowhere.py:heavy_ball", OPTIMIZERS)
    assert message == f"optimizer ./nowhere.py:heavy_ball: no such file {in_tmp.resolve() / 'nowhere.py'}"


def test_a_missing_name_says_the_closest_or_what_the_module_has(in_tmp):
    write(in_tmp / "m.py", HEAVY_BALL + "def nesterov_ish(learning_rate):\n    return optax.sgd(learning_rate)\n")
    assert usage_error(resolve, "optimizer", "./m.py:heavy_bal", OPTIMIZERS) == (
        "optimizer ./m.py:heavy_bal: ./m.py has no 'heavy_bal'; did you mean 'heavy_ball'?")
    message = usage_error(resolve, "optimizer", "./m.py:zzz", OPTIMIZERS)
    assert "its optimizer-like names: heavy_ball, nesterov_ish" in message


def test_neither_a_file_nor_a_module():
    assert "is neither a .py file nor a module name" in usage_error(resolve, "optimizer", "./m:f", OPTIMIZERS)
    assert "is neither PATH.py:NAME" in usage_error(resolve, "optimizer", "m.py:", OPTIMIZERS)


def test_a_factory_that_raises(in_tmp):
    write(in_tmp / "m.py", "def f(learning_rate):\n    raise RuntimeError('boom')\n")
    assert usage_error(resolve, "optimizer", "./m.py:f", OPTIMIZERS) == (
        "optimizer ./m.py:f: calling it with learning_rate=0.001 raised RuntimeError: boom")


def test_a_factory_returning_an_int(in_tmp):
    write(in_tmp / "m.py", "def f(learning_rate):\n    return 3\n")
    assert usage_error(resolve, "optimizer", "./m.py:f", OPTIMIZERS) == (
        "optimizer ./m.py:f returned int, not an optax.GradientTransformation")


def test_updates_must_match_the_params(in_tmp):
    write(in_tmp / "m.py", """\
        import jax, jax.numpy as jnp, optax

        def half(learning_rate):
            return optax.GradientTransformation(
                lambda params: (), lambda g, s, p=None: (jax.tree.map(lambda x: x.astype(jnp.bfloat16), g), s))

        def extra(learning_rate):
            return optax.GradientTransformation(lambda params: (), lambda g, s, p=None: ({**g, "c": 1.0}, s))

        def no_state(learning_rate):
            return optax.GradientTransformation(lambda params: (), lambda g, s, p=None: g)
        """)
    assert "update of a float32[3, 2] parameter is bfloat16[3, 2]" in usage_error(
        resolve, "optimizer", "./m.py:half", OPTIMIZERS)
    assert "not like the params" in usage_error(resolve, "optimizer", "./m.py:extra", OPTIMIZERS)
    assert "update must return (updates, state)" in usage_error(resolve, "optimizer", "./m.py:no_state", OPTIMIZERS)


def test_an_error_only_under_tracing_is_a_usage_error(in_tmp):
    write(in_tmp / "m.py", """\
        import optax

        def picky(learning_rate):
            if not isinstance(learning_rate, float):
                raise ValueError("learning_rate must be a float")
            return optax.sgd(learning_rate)
        """)
    assert usage_error(resolve, "optimizer", "./m.py:picky", OPTIMIZERS) == (
        "optimizer ./m.py:picky: with traced hyperparameters it raised ValueError: learning_rate must be a float")


def test_the_wrong_kind_of_object(in_tmp):
    write(in_tmp / "m.py", "x = 5\n")
    assert usage_error(resolve, "optimizer", "./m.py:x", OPTIMIZERS) == (
        "./m.py:x is an int, not an optimizer (a callable returning an optax.GradientTransformation, "
        "or an OptimizerSpec)")
    assert "Task 'spirals' is a Task, not an optimizer" in usage_error(
        resolve, "optimizer", TASKS["spirals"], OPTIMIZERS)
    assert "is an OptimizerSpec, not an init" in usage_error(resolve, "init", OPTIMIZERS["adam"], STRATEGIES)
    assert "is a function, not a task" in usage_error(resolve, "task", optax.adam, TASKS)


def test_a_user_name_never_shadows_a_builtin(in_tmp):
    write(in_tmp / "m.py", HEAVY_BALL + "adam = heavy_ball\nfrom optimizers import OPTIMIZERS\nsgd = OPTIMIZERS['sgd']\n")
    message = usage_error(resolve, "optimizer", "./m.py:adam", OPTIMIZERS)
    assert "is named 'adam', like the built-in optimizer 'adam': rename it" in message
    # renamed, it resolves; the built-in object itself is the built-in
    assert resolve("optimizer", "./m.py:adam", OPTIMIZERS, name="my_adam").name == "my_adam"
    assert resolve("optimizer", "./m.py:sgd", OPTIMIZERS) == ("sgd", OPTIMIZERS["sgd"], None, True)


# ---------------------------------------------------------------------------------------------
# Objects given in Python


def test_optax_adam_given_as_an_object():
    resolved = resolve("optimizer", optax.adam, OPTIMIZERS, name="optax_adam")
    assert resolved.name == "optax_adam" and resolved.traceable and resolved.obj.factory is optax.adam
    assert resolved.obj.description == "The Adam optimizer."
    source = resolved.source
    assert source["spec"] == "<python object>" and source["file"].endswith("alias.py")
    assert source["sha256"] == hashlib.sha256(open(source["file"], "rb").read()).hexdigest()
    # under its own name it would pass for the built-in adam
    assert "like the built-in optimizer 'adam'" in usage_error(resolve, "optimizer", optax.adam, OPTIMIZERS)


def test_a_partial_and_a_named_function_given_as_objects():
    def heavy_ball(learning_rate, momentum=0.9):
        return optax.sgd(learning_rate, momentum=momentum)

    resolved = resolve("optimizer", functools.partial(heavy_ball, momentum=0.5), OPTIMIZERS)
    assert resolved.name == "heavy_ball" and resolved.traceable
    assert resolved.source["file"] == __file__
    assert resolved.source["sha256"] == hashlib.sha256(open(__file__, "rb").read()).hexdigest()
    assert "has no usable name ('<lambda>')" in usage_error(
        resolve, "optimizer", lambda learning_rate: optax.sgd(learning_rate), OPTIMIZERS)


def test_an_optimizer_spec_is_taken_as_it_is_and_checked():
    spec = OptimizerSpec(optax.sgd, optax.sgd, {"momentum": 0.9}, (0.1,), "heavy ball", "Polyak 1964")
    resolved = resolve("optimizer", spec, OPTIMIZERS, name="polyak")
    assert resolved.obj is spec and resolved.traceable
    broken = spec._replace(hyperparams={"momentum": 0.9, "no_such_argument": 1})
    assert "calling it with learning_rate=0.001 raised TypeError" in usage_error(
        resolve, "optimizer", broken, OPTIMIZERS, name="broken")


# ---------------------------------------------------------------------------------------------
# Inits


def test_a_file_initializer_becomes_a_strategy(in_tmp):
    write(in_tmp / "m.py", """\
        import jax

        def scaled_normal(key, shape, dtype=jax.numpy.float32):
            '''Normal with std 0.02.'''
            return 0.02 * jax.random.normal(key, shape, dtype)
        """)
    resolved = resolve("init", "./m.py:scaled_normal", STRATEGIES)
    strategy = resolved.obj
    assert isinstance(strategy, Strategy) and resolved.name == "scaled_normal"
    assert strategy.bias_init is jax.nn.initializers.zeros and strategy.post_init is None
    assert strategy.description == "Normal with std 0.02."
    assert strategy.reference == "user-provided (./m.py:scaled_normal)"
    assert strategy.kernel_init(jax.random.key(1), (4, 4), jax.numpy.float32).shape == (4, 4)


def test_an_init_of_the_wrong_shape_or_dtype_or_only_for_matrices(in_tmp):
    write(in_tmp / "m.py", """\
        import jax.numpy as jnp, numpy as np

        def transposed(key, shape, dtype=jnp.float32):
            return jnp.zeros(shape[::-1], dtype)

        def integers(key, shape, dtype=jnp.float32):
            return jnp.zeros(shape, jnp.int32)

        def matrices_only(key, shape, dtype=jnp.float32):
            rows, cols = shape
            return jnp.zeros((rows, cols), dtype)

        def numpy_noise(key, shape, dtype=jnp.float32):
            return np.random.default_rng(int(np.asarray(jnp.sum(jnp.zeros(1))))).normal(size=shape).astype(dtype)

        def concrete(key, shape, dtype=jnp.float32):
            import jax
            return jnp.full(shape, float(jax.random.normal(key)), dtype)
        """)
    assert usage_error(resolve, "init", "./m.py:transposed", STRATEGIES) == (
        "init ./m.py:transposed returned shape (3, 5) for (key, (5, 3), float32)")
    assert usage_error(resolve, "init", "./m.py:integers", STRATEGIES) == (
        "init ./m.py:integers returned dtype int32 for (key, (5, 3), float32)")
    assert "calling it with (key, (3, 3, 2, 4), float32) raised ValueError" in usage_error(
        resolve, "init", "./m.py:matrices_only", STRATEGIES)
    assert "cannot be traced under jax.vmap" in usage_error(resolve, "init", "./m.py:concrete", STRATEGIES)


def test_he_normal_and_he_normal_called_are_both_inits():
    key, shape = jax.random.key(3), (6, 4)
    expected = jax.nn.initializers.he_normal()(key, shape, jax.numpy.float32)
    for given in (jax.nn.initializers.he_normal, jax.nn.initializers.he_normal()):
        resolved = resolve("init", given, STRATEGIES, name="jax_he_normal")
        assert resolved.name == "jax_he_normal"
        np.testing.assert_array_equal(resolved.obj.kernel_init(key, shape, jax.numpy.float32), expected)
    # under its own name it would pass for the built-in he_normal
    assert "like the built-in init 'he_normal'" in usage_error(
        resolve, "init", jax.nn.initializers.he_normal, STRATEGIES)


def test_a_strategy_is_taken_as_it_is_and_checked():
    strategy = Strategy(jax.nn.initializers.orthogonal(), jax.nn.initializers.zeros, "orthogonal", "Saxe 2014")
    assert resolve("init", strategy, STRATEGIES, name="my_orthogonal").obj is strategy
    broken = strategy._replace(bias_init=lambda key, shape, dtype=None: jax.numpy.zeros((1,)))
    assert "(bias_init) returned shape (1,) for (key, (4,), float32)" in usage_error(
        resolve, "init", broken, STRATEGIES, name="broken")


# ---------------------------------------------------------------------------------------------
# Tasks


class TinyMLP(nn.Module):
    num_classes: int
    kernel_init: object
    bias_init: object

    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Dense(8, kernel_init=self.kernel_init, bias_init=self.bias_init)(x))
        return nn.Dense(self.num_classes, kernel_init=self.kernel_init, bias_init=self.bias_init)(x)


def tiny_dataset(n=20, features=4, num_classes=3, **changes) -> Dataset:
    rng = np.random.default_rng(0)
    split = lambda: (rng.normal(size=(n, features)).astype(np.float32),
                     rng.integers(0, num_classes, n).astype(np.int32))
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = split(), split(), split()
    return Dataset(x_train, y_train, x_val, y_val, x_test, y_test, num_classes)._replace(**changes)


def tiny_task(dataset=None, num_classes=3, **changes) -> Task:
    dataset = tiny_dataset() if dataset is None else dataset
    return Task("tiny", "a tiny MLP on noise", lambda: dataset,
                lambda kernel_init, bias_init: TinyMLP(num_classes, kernel_init, bias_init),
                batch_size=8, target=0.5, steps=10)._replace(**changes)


def test_a_task_resolves_under_its_name_with_its_file():
    task = tiny_task()
    resolved = resolve("task", task, TASKS)
    assert resolved.name == "tiny" and resolved.obj is task
    assert resolved.source["file"] == __file__ and resolved.source["spec"] == "<python object>"
    assert resolve("task", task, TASKS, name="renamed").obj.name == "renamed"


def test_a_file_task_is_recorded_under_the_specs_name(in_tmp):
    write(in_tmp / "t.py", """\
        from tests.bench.test_plugins import tiny_task
        noise = tiny_task()
        """)
    resolved = resolve("task", "./t.py:noise", TASKS)
    assert resolved.name == resolved.obj.name == "noise"


@pytest.mark.parametrize("task, message", [
    (tiny_task(tiny_dataset(y_val=np.array([0, 1, 3] * 6 + [0, 0], np.int32))),
     "task 'tiny': y_val holds labels from 0 to 3, outside [0, 3) (num_classes=3)"),
    (tiny_task(tiny_dataset(y_train=np.zeros(20, np.float32))), "y_train has dtype float32; labels must be integers"),
    (tiny_task(tiny_dataset(x_test=np.full((20, 4), np.nan, np.float32))),
     "task 'tiny': x_test holds 80 non-finite values (NaN or inf)"),
    (tiny_task(batch_size=21), "task 'tiny': batch_size 21 is larger than the training set (20 examples)"),
    (tiny_task(tiny_dataset(x_val=np.zeros((20, 5), np.float32))), "x_val has inputs of shape (5,), x_train of (4,)"),
    (tiny_task(tiny_dataset(y_test=np.zeros(19, np.int32))), "the test split has 20 inputs but labels of shape (19,)"),
    (tiny_task(tiny_dataset(x_val=np.zeros((0, 4), np.float32), y_val=np.zeros(0, np.int32))), "the val split is empty"),
    (tiny_task(steps=0), "steps must be a positive integer, got 0"),
    (tiny_task(batch_size=8.0), "batch_size must be a positive integer, got 8.0"),
    (tiny_task(target=1.5), "target (a validation accuracy) must be in (0, 1], got 1.5"),
    (tiny_task(target=0), "target (a validation accuracy) must be in (0, 1], got 0"),
    (tiny_task(num_classes=4), "its model maps 2 inputs to (2, 4), not (2, num_classes=3) logits"),
    (tiny_task(load=lambda: (np.zeros(3),) * 7), "load() returned tuple, not a bench.data.Dataset"),
    (tiny_task(load=lambda: 1 / 0), "task 'tiny': load() raised ZeroDivisionError: division by zero"),
    (tiny_task(make_model=lambda kernel_init, bias_init: nn.relu), "make_model returned"),
    (tiny_task(tiny_dataset(x_train=np.zeros((20, 4, 2), np.float32), x_val=np.zeros((20, 4, 2), np.float32),
                            x_test=np.zeros((20, 4, 2), np.float32))),
     "its model maps 2 inputs to (2, 4, 3), not (2, num_classes=3) logits"),
    (tiny_task(augment=lambda key, x: x[:, :2]), "augment maps a batch of shape (2, 4) to (2, 2)"),
    (tiny_task(eval_every=0), "eval_every must be a positive integer or None, got 0"),
], ids=["labels", "float-labels", "nan", "batch", "feature-shape", "lengths", "empty", "steps", "float-batch",
        "target-high", "target-zero", "classes", "not-dataset", "load-raises", "not-module", "output-rank",
        "augment", "eval-every"])
def test_a_broken_task_is_one_line_naming_it(task, message):
    assert message in usage_error(resolve, "task", task, TASKS)


# ---------------------------------------------------------------------------------------------
# package.module:NAME and entry points


def test_a_package_module(tmp_path, unique_package):
    methods = write(tmp_path / unique_package / "methods.py", HEAVY_BALL)
    write(tmp_path / unique_package / "__init__.py", "")
    resolved = resolve("optimizer", f"{unique_package}.methods:heavy_ball", OPTIMIZERS)
    assert resolved.name == "heavy_ball" and resolved.traceable
    assert resolved.source == {"spec": f"{unique_package}.methods:heavy_ball", "file": str(methods.resolve()),
                               "sha256": hashlib.sha256(methods.read_bytes()).hexdigest()}
    assert usage_error(resolve, "optimizer", f"{unique_package}.nothing:heavy_ball", OPTIMIZERS) == (
        f"optimizer {unique_package}.nothing:heavy_ball: no module named '{unique_package}.nothing'")
    write(tmp_path / unique_package / "broken.py", "import not_a_package_anyone_has\n")
    assert usage_error(resolve, "optimizer", f"{unique_package}.broken:x", OPTIMIZERS) == (
        f"error importing {unique_package}.broken: ModuleNotFoundError: No module named 'not_a_package_anyone_has'")
    assert f"{unique_package}.broken" not in sys.modules


def install_fake_distribution(root, package, dist_name, entry_points: str):
    """A distribution as pip leaves it (dist-info with RECORD and entry_points.txt) under `root`."""
    write(root / package / "__init__.py", "")
    write(root / package / "methods.py", HEAVY_BALL + "def broken_attribute():\n    pass\n")
    info = root / f"{dist_name.replace('-', '_')}-1.2.3.dist-info"
    write(info / "METADATA", f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: 1.2.3\n")
    write(info / "entry_points.txt", entry_points)
    write(info / "RECORD", f"{package}/__init__.py,,\n{package}/methods.py,,\n{info.name}/METADATA,,\n")
    return root / package


def test_an_entry_point_by_its_bare_name(tmp_path, unique_package):
    folder = install_fake_distribution(tmp_path, unique_package, "fake-initopt-plugin", f"""\
        [initopt.optimizers]
        heavy = {unique_package}.methods:heavy_ball
        missing = {unique_package}.methods:not_there
        """)
    dist, entry_point = plugins.installed("optimizer")["heavy"]
    assert dist == "fake-initopt-plugin" and entry_point.value == f"{unique_package}.methods:heavy_ball"

    resolved = resolve("optimizer", "heavy", OPTIMIZERS)
    assert resolved.name == "heavy" and resolved.traceable
    digests = sorted((f"{unique_package}/{name}", hashlib.sha256((folder / name).read_bytes()).hexdigest())
                     for name in ("__init__.py", "methods.py"))
    files_sha256 = hashlib.sha256("".join(f"{path}\t{digest}\n" for path, digest in digests).encode()).hexdigest()
    assert resolved.source == {
        "spec": "heavy", "entry_point": f"{unique_package}.methods:heavy_ball",
        "package": "fake-initopt-plugin", "version": "1.2.3", "files_sha256": files_sha256,
        "file": str((folder / "methods.py").resolve()),
        "sha256": hashlib.sha256((folder / "methods.py").read_bytes()).hexdigest()}
    assert "did you mean 'heavy'?" in usage_error(resolve, "optimizer", "hevy", OPTIMIZERS)
    assert usage_error(resolve, "optimizer", "missing", OPTIMIZERS).startswith(
        "error loading optimizer 'missing' (entry point")
    assert list(resolve_many("optimizer", "sgd, heavy", OPTIMIZERS)) == ["sgd", "heavy"]


def test_an_entry_point_named_like_a_builtin_is_refused(tmp_path, unique_package):
    install_fake_distribution(tmp_path, unique_package, "sneaky-adam", f"""\
        [initopt.optimizers]
        adam = {unique_package}.methods:heavy_ball
        """)
    message = usage_error(resolve, "optimizer", "adam", OPTIMIZERS)
    assert "package 'sneaky-adam' provides optimizer 'adam'" in message and "built-in optimizer" in message
    assert "sneaky-adam" in usage_error(resolve_many, "optimizer", "sgd,adam", OPTIMIZERS)
    assert resolve("optimizer", "sgd", OPTIMIZERS).obj is OPTIMIZERS["sgd"]  # other names are untouched


def test_two_packages_providing_one_name(monkeypatch, tmp_path, unique_package):
    install_fake_distribution(tmp_path, unique_package, "unused", "")
    value = f"{unique_package}.methods:heavy_ball"
    points = [EntryPoint("heavy", value, "initopt.optimizers"), EntryPoint("heavy", value, "initopt.optimizers")]
    monkeypatch.setattr(plugins, "entry_points_of", lambda group: points if group == "initopt.optimizers" else [])
    assert "all provide optimizer 'heavy'" in usage_error(resolve, "optimizer", "heavy", OPTIMIZERS)
    del points[1]
    resolved = resolve("optimizer", "heavy", OPTIMIZERS)  # a bare EntryPoint knows no distribution
    assert resolved.name == "heavy" and "package" not in resolved.source and resolved.source["sha256"]


# ---------------------------------------------------------------------------------------------
# resolve_many


def test_resolve_many_keeps_order_and_takes_strings_lists_and_mappings(in_tmp):
    write(in_tmp / "m.py", HEAVY_BALL)
    assert list(resolve_many("optimizer", "adam, ./m.py:heavy_ball,sgd", OPTIMIZERS)) == ["adam", "heavy_ball", "sgd"]
    def polyak(learning_rate, momentum=0.9):
        return optax.sgd(learning_rate, momentum=momentum)

    assert list(resolve_many("optimizer", ["sgd", polyak, "adam"], OPTIMIZERS)) == ["sgd", "polyak", "adam"]
    by_name = resolve_many("optimizer", {"optax_adam": optax.adam, "hb": "./m.py:heavy_ball", "sgd": "sgd"}, OPTIMIZERS)
    assert list(by_name) == ["optax_adam", "hb", "sgd"] and by_name["hb"].obj.factory.__name__ == "<lambda>"
    assert list(resolve_many("optimizer", "adam,adam", OPTIMIZERS)) == ["adam"]  # the same item once
    # one OptimizerSpec (a tuple) is one item, not a list of its fields
    spec = OptimizerSpec(polyak, None, {}, (0.1,), "", "")
    assert list(resolve_many("optimizer", spec, OPTIMIZERS)) == ["polyak"]


def test_resolve_many_refuses_two_things_under_one_name_and_nothing(in_tmp):
    write(in_tmp / "a.py", HEAVY_BALL)
    write(in_tmp / "b.py", HEAVY_BALL)
    message = usage_error(resolve_many, "optimizer", "./a.py:heavy_ball, ./b.py:heavy_ball", OPTIMIZERS)
    assert message == ("two optimizers are named 'heavy_ball' (./a.py:heavy_ball and ./b.py:heavy_ball): "
                       "give them different names")
    assert usage_error(resolve_many, "optimizer", " , ", OPTIMIZERS).startswith("--optimizers needs at least one name; valid: ")
    assert usage_error(resolve_many, "optimizer", {1: optax.adam}, OPTIMIZERS) == "optimizer names must be strings, got 1"


# --- what a user's code is keyed by: every module it imports, its task's data, an object's state


def test_the_source_covers_every_module_the_file_imports_however_deep_and_wherever(tmp_path):
    (tmp_path / "h2.py").write_text("SCALE = 1.0\n")
    (tmp_path / "helper.py").write_text("from h2 import SCALE\n")
    (tmp_path / "x.py").write_text(
        "import optax\n"
        "def f(learning_rate):\n"
        "    from helper import SCALE  # an import in a function body\n"
        "    return optax.sgd(SCALE * learning_rate)\n")
    first = resolve("optimizer", f"{tmp_path / 'x.py'}:f", OPTIMIZERS).source
    assert set(first["imports"]) == {"helper.py", "h2.py"}
    again = resolve("optimizer", f"{tmp_path / 'x.py'}:f", OPTIMIZERS).source
    assert again == first  # the same, whatever this process has imported meanwhile
    (tmp_path / "h2.py").write_text("SCALE = 2.0\n")  # a helper of a helper
    assert resolve("optimizer", f"{tmp_path / 'x.py'}:f", OPTIMIZERS).source != first


def test_a_users_task_is_keyed_by_its_data(tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(90, 4)).astype(np.float32), np.arange(90, dtype=np.int32) % 2
    np.savez(tmp_path / "data.npz", x=x, y=y)
    (tmp_path / "t.py").write_text(textwrap.dedent("""
        import os
        import flax.linen as nn
        import numpy as np
        from bench.data import Dataset
        from bench.tasks import Task

        def load():
            d = np.load(os.path.join(os.path.dirname(__file__), "data.npz"))
            x, y = d["x"], d["y"]
            return Dataset(x[:60], y[:60], x[60:75], y[60:75], x[75:], y[75:], num_classes=2)

        class M(nn.Module):
            kernel_init: object
            bias_init: object

            @nn.compact
            def __call__(self, x):
                return nn.Dense(2, kernel_init=self.kernel_init, bias_init=self.bias_init)(x)

        t = Task(name="t", description="d", load=load, make_model=lambda k, b: M(k, b),
                 batch_size=16, target=0.9, steps=10)
    """))
    first = resolve("task", f"{tmp_path / 't.py'}:t", TASKS).source
    np.savez(tmp_path / "data.npz", x=x, y=1 - y)  # the labels change, no code does
    assert resolve("task", f"{tmp_path / 't.py'}:t", TASKS).source["data_sha256"] != first["data_sha256"]


def test_an_objects_captured_arguments_are_part_of_its_source():
    import functools

    slow = resolve("optimizer", functools.partial(optax.sgd, momentum=0.0), OPTIMIZERS, name="heavy").source
    fast = resolve("optimizer", functools.partial(optax.sgd, momentum=0.9), OPTIMIZERS, name="heavy").source
    assert slow["state"] != fast["state"]
    assert resolve("optimizer", functools.partial(optax.sgd, momentum=0.9), OPTIMIZERS,
                   name="heavy").source == fast

    def make(decay):
        return lambda learning_rate: optax.sgd(learning_rate * decay)

    assert (resolve("optimizer", make(0.5), OPTIMIZERS, name="scaled").source["state"]
            != resolve("optimizer", make(0.25), OPTIMIZERS, name="scaled").source["state"])

    class Opaque:
        pass

    captured = Opaque()
    odd = lambda learning_rate: optax.sgd(learning_rate) if captured else None  # noqa: E731
    one = resolve("optimizer", odd, OPTIMIZERS, name="odd").source["state"]
    two = resolve("optimizer", odd, OPTIMIZERS, name="odd").source["state"]
    assert one.startswith("not captured") and one != two  # never the same key twice: never reused
