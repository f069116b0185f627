"""The runner: pairing, vmapped == alone, determinism, chunking, divergence, sharding."""
import json
import os
import subprocess
import sys

import jax
import numpy as np
import optax
import pytest

from bench import runner
from bench.records import per_run, summary
from bench.tasks import TASKS
from inits.strategy import Strategy
from optimizers.spec import OptimizerSpec

I = jax.nn.initializers
STRATEGIES = {"he_normal": Strategy(I.he_normal(), I.zeros, "", ""),
              "lecun_normal": Strategy(I.lecun_normal(), I.zeros, "", "")}
ADAM = OptimizerSpec(optax.adam, optax.adam, {}, (1e-3,), "", "")
SGD = OptimizerSpec(optax.sgd, optax.sgd, {}, (0.1,), "", "")
INFINITE_STEP = OptimizerSpec(lambda learning_rate: optax.sgd(learning_rate * np.inf), optax.sgd,
                              {}, (0.1,), "", "")
GD = OptimizerSpec(optax.sgd, optax.sgd, {}, (0.5,), "", "", full_batch=True)
TASK = TASKS["digits-mlp"]
STEPS, EVAL_EVERY, BATCH = 40, 10, 64


def train(spec, inits, seeds, lrs, **options):
    mesh = runner.runs_mesh()
    dataset = TASK.load()
    initialized = runner.initialize(TASK, dataset, {n: STRATEGIES[n] for n in inits}, seeds, BATCH, mesh)
    runs = runner.grid(inits, seeds, lrs)
    output, _ = runner.train_runs(TASK, dataset, spec, runs, initialized, steps=STEPS,
                                  batch_size=BATCH, eval_every=EVAL_EVERY, mesh=mesh, **options)
    return runs, output


@pytest.fixture(scope="module")
def batch_of_runs():
    return train(ADAM, ["he_normal", "lecun_normal"], [0, 1, 2, 3], [1e-3, 3e-3])


def test_grid_is_init_major_then_seed_then_lr():
    runs = runner.grid(["a", "b"], [0, 1], [0.1, 0.2])
    assert runs[:3] == [runner.Run.of("a", 0, {"learning_rate": 0.1}, 0), runner.Run.of("a", 0, {"learning_rate": 0.2}, 1), runner.Run.of("a", 1, {"learning_rate": 0.1}, 0)]
    assert len(runs) == 8


def test_seed_inside_the_batch_equals_the_seed_alone(batch_of_runs):
    runs, output = batch_of_runs
    for seed in (0, 3):
        alone_runs, alone = train(ADAM, ["lecun_normal"], [seed], [3e-3])
        i = runs.index(alone_runs[0]._replace(trial=1))  # lr 3e-3 is the second point of the grid
        np.testing.assert_allclose(alone.train_loss[0], output.train_loss[i], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(alone.val_accuracy[0], output.val_accuracy[i], atol=1e-6)


def test_same_program_twice_gives_identical_numbers(batch_of_runs):
    _, output = batch_of_runs
    _, again = train(ADAM, ["he_normal", "lecun_normal"], [0, 1, 2, 3], [1e-3, 3e-3])
    np.testing.assert_array_equal(output.train_loss, again.train_loss)
    np.testing.assert_array_equal(output.test_accuracy, again.test_accuracy)


def test_chunked_runs_axis_gives_the_same_numbers(batch_of_runs):
    _, output = batch_of_runs
    _, chunked = train(ADAM, ["he_normal", "lecun_normal"], [0, 1, 2, 3], [1e-3, 3e-3],
                       max_runs_per_call=6)  # 16 runs in 3 padded calls of 6
    np.testing.assert_allclose(chunked.train_loss, output.train_loss, rtol=1e-5, atol=1e-6)


def test_initialization_in_chunks_of_seeds_gives_the_same_variables():
    mesh, dataset = runner.runs_mesh(), TASK.load()
    whole = runner.initialize(TASK, dataset, STRATEGIES, [0, 1, 2, 3, 4], BATCH, mesh)
    chunked = runner.initialize(TASK, dataset, STRATEGIES, [0, 1, 2, 3, 4], BATCH, mesh,
                                max_seeds_per_call=2)  # 2 + 2 + 1 (padded)
    for a, b in zip(jax.tree_util.tree_leaves(whole.variables), jax.tree_util.tree_leaves(chunked.variables)):
        np.testing.assert_array_equal(a, b)
        assert a.shape[:2] == (2, 5)
    for initialized in (whole, chunked):  # what a train program compiles from, before the values
        assert jax.tree_util.tree_map(lambda a: (a.shape, a.dtype), initialized.shapes) == \
            jax.tree_util.tree_map(lambda a: (a.shape, a.dtype), initialized.variables)
        keys = initialized.data_key_data([4, 0], shape_only=True)
        assert (keys.shape, keys.dtype) == (initialized.data_key_data([4, 0]).shape, initialized.data_keys.dtype)


def test_init_depends_on_seed_and_strategy_only():
    mesh = runner.runs_mesh()
    dataset = TASK.load()
    params = runner.init_params(TASK, dataset, STRATEGIES, [0, 1], BATCH, mesh)
    kernel = np.asarray(params["Dense_0"]["kernel"])  # [strategy, seed, in, out]
    assert not np.allclose(kernel[0, 0], kernel[0, 1])  # seeds differ
    # he_normal and lecun_normal share the key: same draws, scaled by sqrt(2)
    np.testing.assert_allclose(kernel[0, 0], np.sqrt(2) * kernel[1, 0], rtol=1e-5)


def test_learning_rate_and_optimizer_do_not_change_the_data_order():
    # With lr = 0 nothing moves, so the per-period loss is a pure function of the batches seen.
    _, sgd = train(SGD, ["he_normal"], [0, 1], [0.0])
    _, adam = train(ADAM, ["he_normal"], [0, 1], [0.0])
    np.testing.assert_allclose(sgd.train_loss, adam.train_loss, rtol=1e-6)
    assert not np.allclose(sgd.train_loss[0], sgd.train_loss[1])  # another seed, other batches


def test_full_batch_gd_and_learning_progress():
    runs, output = train(GD, ["he_normal"], [0, 1], [0.5])
    assert (output.train_loss[:, -1] < output.train_loss[:, 0]).all()
    assert (output.val_accuracy[:, -1] > 0.5).all()


def test_exploding_and_non_finite_runs_fail_are_recorded_and_never_chosen():
    # SGD at lr 10 blows the loss up by orders of magnitude, then sits at chance (dead ReLUs);
    # at 1e30 everything turns NaN. Neither raises; both are failures; lr 0.1 is chosen.
    runs, output = train(SGD, ["he_normal"], [0, 1], [0.1, 10.0, 1e30])
    records = per_run.run_records("digits-mlp", "sgd", runs, output, target=0.5,
                                  phase="selection", examples_per_step=BATCH)
    by_lr = {lr: [r for r in records if r["lr"] == lr] for lr in (0.1, 10.0, 1e30)}
    assert not any(r["failed"] for r in by_lr[0.1])
    assert all(r["failed"] for r in by_lr[10.0] + by_lr[1e30])
    assert {r["failure"] for r in by_lr[1e30]} == {"non-finite"}
    assert all(r["diverged"] == (r["failure"] == "non-finite") for r in records)
    assert all(r["steps_to_target"] is None for r in by_lr[10.0] + by_lr[1e30])
    assert all(r["initial_train_loss"] is not None for r in records)  # measured before any update
    assert summary.chosen_trials(records, num_classes={"digits-mlp": 10}) == {("he_normal", None): 0}  # trial 0: lr 0.1
    json.dumps(records, allow_nan=False)  # no NaN leaks into the results file


def test_a_nan_made_by_the_last_update_is_caught():
    # One step of an update that is infinite: the loss recorded (before the update) is finite,
    # the parameters after it are not; the run must still count as non-finite.
    mesh = runner.runs_mesh()
    dataset = TASK.load()
    initialized = runner.initialize(TASK, dataset, {"he_normal": STRATEGIES["he_normal"]}, [0, 1],
                                    BATCH, mesh)
    runs = runner.grid(["he_normal"], [0, 1], [0.1])
    output, _ = runner.train_runs(TASK, dataset, INFINITE_STEP, runs, initialized, steps=1,
                                  batch_size=BATCH, eval_every=1, mesh=mesh)
    assert output.finite.all() and not output.params_finite.any()
    records = per_run.run_records("digits-mlp", "sgd", runs, output, target=0.5, phase="evaluation",
                                  examples_per_step=BATCH)
    assert all(r["failure"] == "non-finite" for r in records)


def test_runs_per_call_splits_evenly_over_devices():
    assert runner.runs_per_call(10, 2, per_run_bytes=1, budget_bytes=10**9) == 10
    assert runner.runs_per_call(10, 4, per_run_bytes=1, budget_bytes=10**9) == 12
    size = runner.runs_per_call(10_000, 2, per_run_bytes=10**6, budget_bytes=10**9)
    assert size % 2 == 0 and size <= 1000
    assert runner.runs_per_call(100, 2, 1, 10**9, max_runs=7) == 6


SHARDING_SCRIPT = """
import json, sys
import bench
from tests.bench.test_runner import train, ADAM
import jax
runs, output = train(ADAM, ["he_normal"], [0, 1, 2], [1e-3, 3e-3])
print(json.dumps({"devices": jax.device_count(), "loss": output.train_loss.tolist(),
                  "test": output.test_accuracy.tolist()}))
"""


def _run_with_devices(count):
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={count}",
           "JAX_PLATFORMS": "cpu"}
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    done = subprocess.run([sys.executable, "-c", SHARDING_SCRIPT], env=env, cwd=root,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_four_devices_give_the_same_numbers_as_one():
    one, four = _run_with_devices(1), _run_with_devices(4)
    assert (one["devices"], four["devices"]) == (1, 4)
    np.testing.assert_allclose(four["loss"], one["loss"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(four["test"], one["test"], atol=1e-6)


DISTRIBUTED_SCRIPT = """
import json, sys
import jax
jax.config.update("jax_cpu_collectives_implementation", "gloo")
jax.distributed.initialize(coordinator_address=sys.argv[1], num_processes=2,
                           process_id=int(sys.argv[2]))
from tests.bench.test_runner import train, ADAM
runs, output = train(ADAM, ["he_normal"], [0, 1, 2], [1e-3, 3e-3])
print(json.dumps({"processes": jax.process_count(), "devices": jax.device_count(),
                  "loss": output.train_loss.tolist(), "test": output.test_accuracy.tolist()}))
"""


@pytest.mark.slow
def test_two_processes_give_the_same_numbers_as_one():
    """--distributed: a global mesh over two processes (one CPU device each, gloo collectives)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=1",
           "JAX_PLATFORMS": "cpu"}
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    workers = [subprocess.Popen([sys.executable, "-c", DISTRIBUTED_SCRIPT, f"127.0.0.1:{port}",
                                 str(i)], env=env, cwd=root, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for i in range(2)]
    outs = [worker.communicate(timeout=300) for worker in workers]
    for worker, (_, err) in zip(workers, outs):
        assert worker.returncode == 0, err[-2000:]
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    one = _run_with_devices(2)
    for result in results:
        assert (result["processes"], result["devices"]) == (2, 2)
        np.testing.assert_allclose(result["loss"], one["loss"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(result["test"], one["test"], atol=1e-6)


def test_learning_rate_multipliers_travel_per_run_and_leave_other_runs_alone():
    # muP's per-layer multipliers ride on the runs axis; a run whose strategy has none gets
    # ones, and trains exactly as in a program without multipliers.
    from inits import STRATEGIES as REGISTRY

    mesh, dataset = runner.runs_mesh(), TASK.load()
    strategies = {name: REGISTRY[name] for name in ("lecun_normal", "mup")}
    both = runner.initialize(TASK, dataset, strategies, [0, 1], BATCH, mesh)
    assert set(both.multipliers) == {"mup"}
    hidden = both.multipliers["mup"]["adam"]["Dense_1"]["kernel"]
    assert hidden == 64 / 128  # digits-mlp's hidden width 128 against muP's base width 64
    mixed, _ = runner.train_runs(TASK, dataset, ADAM, runner.grid(["lecun_normal", "mup"], [0, 1], [1e-3]),
                                 both, steps=STEPS, batch_size=BATCH, eval_every=EVAL_EVERY, mesh=mesh)
    alone, _ = runner.train_runs(TASK, dataset, ADAM, runner.grid(["lecun_normal"], [0, 1], [1e-3]),
                                 both, steps=STEPS, batch_size=BATCH, eval_every=EVAL_EVERY, mesh=mesh)
    np.testing.assert_allclose(mixed.train_loss[:2], alone.train_loss, rtol=1e-6)
    assert not np.allclose(mixed.train_loss[2:], mixed.train_loss[:2])
    assert runner.optimizer_rule(ADAM) == "adam"
    from optimizers import sgd

    assert runner.optimizer_rule(OptimizerSpec(sgd, None, {}, (), "", "")) == "sgd"


def test_an_optimizer_is_evaluated_at_its_eval_params():
    # Schedule-free methods evaluate at their averaged parameters: the runner must evaluate at
    # spec.eval_params(opt_state, params), not at the training iterate. An eval_params that
    # zeroes every parameter makes the validation accuracy that of a constant predictor.
    zeroing = SGD._replace(eval_params=lambda opt_state, params: jax.tree_util.tree_map(jax.numpy.zeros_like, params))
    runs, plain = train(SGD, ["he_normal"], [0, 1], [0.1])
    _, zeroed = train(zeroing, ["he_normal"], [0, 1], [0.1])
    np.testing.assert_allclose(zeroed.train_loss, plain.train_loss, rtol=1e-6)  # training untouched
    class_0 = float(np.mean(TASK.load().y_val == 0))  # argmax of all-zero logits is class 0
    np.testing.assert_allclose(zeroed.val_accuracy, class_0, atol=1e-6)
    assert (plain.val_accuracy[:, -1] > 0.5).all()


def test_schedule_free_adamw_trains_in_the_runner():
    from optimizers import OPTIMIZERS

    _, output = train(OPTIMIZERS["schedule_free_adamw"], ["he_normal"], [0], [3e-3])
    assert output.val_accuracy[0, -1] > 0.5 and np.isfinite(output.train_loss).all()


def test_shared_permutations_give_the_numbers_of_one_permutation_per_run():
    # Runs that share a seed share that seed's epoch permutations; sorting one per run instead
    # must give the same batches, so the same numbers.
    mesh, dataset = runner.runs_mesh(), TASK.load()
    initialized = runner.initialize(TASK, dataset, STRATEGIES, [0, 1], BATCH, mesh)
    runs = runner.grid(list(STRATEGIES), [0, 1], [1e-3, 3e-3])  # 4 runs per seed
    options = dict(steps=STEPS, batch_size=BATCH, eval_every=EVAL_EVERY, mesh=mesh)
    shared, _ = runner.train_runs(TASK, dataset, ADAM, runs, initialized, **options)
    alone, _ = runner.train_runs(TASK, dataset, ADAM, runs, initialized, share_permutations=False,
                                 **options)
    np.testing.assert_array_equal(shared.train_loss, alone.train_loss)
    assert runner.device_seed_slots(np.asarray([5, 5, 7, 7], np.uint32), 2)[0].tolist() == [5, 7]
    assert runner.device_seed_slots(np.asarray([5, 5, 7, 7], np.uint32), 2, share=False)[0].tolist() == [5, 5, 7, 7]


def test_the_numbers_do_not_depend_on_how_the_steps_are_split_into_calls():
    # One step per call, or each period's steps in one call (calls then cross the epochs' ends,
    # every 19 steps of 64): every batch is the same, so every number.
    mesh, dataset = runner.runs_mesh(), TASK.load()
    initialized = runner.initialize(TASK, dataset, STRATEGIES, [0, 1], BATCH, mesh)
    runs = runner.grid(list(STRATEGIES), [0, 1], [1e-3])
    options = dict(steps=STEPS, batch_size=BATCH, eval_every=EVAL_EVERY, mesh=mesh)
    outputs = [runner.train_runs(TASK, dataset, ADAM, runs, initialized, call_seconds=seconds, **options)
               for seconds in (0.0, 1e9)]
    assert outputs[0][1].calls == STEPS and outputs[1][1].calls == STEPS // EVAL_EVERY + 1
    for field in ("train_loss", "train_loss_max", "val_accuracy", "test_accuracy"):
        np.testing.assert_array_equal(getattr(outputs[0][0], field), getattr(outputs[1][0], field))


def test_the_ring_of_orders_holds_each_epochs_permutation_in_its_row():
    mesh, dataset = runner.runs_mesh(), TASK.load()
    program = runner.TrainProgram(TASK, dataset, ADAM, BATCH, mesh)
    seeds = np.asarray([3, 9] * mesh.devices.size, np.uint32)
    initialized = runner.initialize(TASK, dataset, STRATEGIES, [3, 9], BATCH, mesh)
    keys = runner.global_array(initialized.data_key_data(seeds), runner.runs_sharding(mesh))
    ring = program._ring(keys)
    for epoch in range(program.ring_epochs + 2):  # wraps: the first two rows are overwritten
        ring = program.fill_orders(ring, keys, np.int32(epoch))
    ring = np.asarray(ring)
    for epoch in (2, program.ring_epochs, program.ring_epochs + 1):
        for row, seed in enumerate(seeds):
            want = runner.epoch_order(runner.seed_keys(seed)[1], epoch, dataset.x_train.shape[0])
            np.testing.assert_array_equal(ring[row, epoch % program.ring_epochs], np.asarray(want))


@pytest.mark.parametrize("rest,seconds_per_step,calls", [
    (25, 0.041, [25]),  # 1.03 s: one call, where a call of 24 steps and one of 1 step were made
    (100, 0.04, [25, 25, 25, 25]),
    (30, 0.04, [30]),  # 1.2 s: within 3/2 of a call
    (50, 0.03, [25, 25]),
    (7, None, [1]),  # the first call measures one step
])
def test_calls_split_their_stretch_evenly_and_leave_no_stub(rest, seconds_per_step, calls):
    made = []
    while rest:
        made.append(runner.call_steps(rest, seconds_per_step, 1.0))
        rest -= made[-1]
        if seconds_per_step is None:
            break
    assert made == calls


def test_chunks_with_different_numbers_of_distinct_seeds_share_one_compile():
    # One seed four times, then four seeds: the chunks' key tables differ in width unless padded
    # to one, and one compile must serve both (it once failed on the second chunk's shapes).
    mesh, dataset = runner.runs_mesh(), TASK.load()
    initialized = runner.initialize(TASK, dataset, STRATEGIES, [0, 1, 2, 3, 4], BATCH, mesh)
    runs = (runner.grid(["he_normal"], [0], [1e-3, 2e-3, 3e-3, 4e-3])
            + runner.grid(["he_normal"], [1, 2, 3, 4], [1e-3]))
    options = dict(steps=STEPS, batch_size=BATCH, eval_every=EVAL_EVERY, mesh=mesh)
    chunked, timing = runner.train_runs(TASK, dataset, ADAM, runs, initialized, max_runs_per_call=4, **options)
    whole, _ = runner.train_runs(TASK, dataset, ADAM, runs, initialized, **options)
    assert timing.runs_per_call == 4
    np.testing.assert_array_equal(chunked.train_loss, whole.train_loss)
    np.testing.assert_array_equal(chunked.val_accuracy, whole.val_accuracy)


def test_an_evaluation_program_runs_what_its_selection_program_compiled():
    # A selection program (2 seeds x 2 learning rates) and an evaluation program (4 other seeds,
    # one rate): 4 runs each, so one compile serves both, and the evaluation program's numbers
    # are those of its own compile.
    mesh, dataset = runner.runs_mesh(), TASK.load()
    initialized = runner.initialize(TASK, dataset, STRATEGIES, [0, 1, 10, 11, 12, 13], BATCH, mesh)
    selection = runner.grid(["he_normal"], [0, 1], [1e-3, 3e-3])
    evaluation = runner.grid(["he_normal"], [10, 11, 12, 13], [3e-3])
    options = dict(steps=STEPS, batch_size=BATCH, eval_every=EVAL_EVERY, mesh=mesh)
    compiled = runner.CompiledPrograms()
    _, first = runner.train_runs(TASK, dataset, ADAM, selection, initialized, compiled=compiled, **options)
    reused, second = runner.train_runs(TASK, dataset, ADAM, evaluation, initialized, compiled=compiled,
                                       **options)
    alone, own = runner.train_runs(TASK, dataset, ADAM, evaluation, initialized, **options)
    assert first.compile_seconds > 0 and own.compile_seconds > 0 and second.compile_seconds == 0
    for field in ("train_loss", "train_loss_max", "val_accuracy", "test_accuracy", "initial_train_loss"):
        np.testing.assert_array_equal(getattr(reused, field), getattr(alone, field))
    # another optimizer, other shapes, or other options compile their own
    for spec, runs, more in ((SGD, evaluation, {}), (ADAM, evaluation[:2], {}),
                             (ADAM, evaluation, {"steps": STEPS + EVAL_EVERY}),  # schedule_steps
                             (ADAM, evaluation, {"watch": runner.Watch(loss_max=False)}),
                             (ADAM, evaluation, {"vmap_width": 1})):
        _, timing = runner.train_runs(TASK, dataset, spec, runs, initialized, compiled=compiled,
                                      **{**options, **more})
        assert timing.compile_seconds > 0, (spec, len(runs), more)


def test_the_key_width_depends_on_the_chunk_size_and_the_tasks_seeds_alone_where_compiles_are_shared():
    runs_4x2 = runner.grid(["he_normal"], [0, 1, 2, 3], [1e-3, 3e-3])  # 2 seeds a device
    runs_8x1 = runner.grid(["he_normal"], list(range(4, 12)), [1e-3])  # 4 seeds a device
    # shared compiles: 4 rows a device for both, where the task has 12 seeds (3 where it has 3)
    assert runner.key_width(runs_4x2, 8, 2, n_seeds=12) == runner.key_width(runs_8x1, 8, 2, n_seeds=12) == 4
    assert runner.key_width(runs_4x2, 8, 2, n_seeds=3) == 3
    # alone: each program's own widest chunk; one row per run without sharing
    assert runner.key_width(runs_4x2, 8, 2) == 2 and runner.key_width(runs_8x1, 8, 2) == 4
    assert runner.key_width(runs_4x2, 8, 2, share=False) == 4
    assert runner.key_width(runs_4x2, 4, 2) == 1  # chunks of 4: one seed a device each


def test_options_this_jaxlib_knows_are_kept_beside_one_it_does_not(monkeypatch):
    monkeypatch.setitem(runner.QUICK_COMPILER_OPTIONS, "cpu",
                        {"xla_cpu_use_xnnpack": False, "xla_no_such_option_anywhere": True})
    assert runner.quick_compiler_options("cpu") == {"xla_cpu_use_xnnpack": False}


def test_a_program_compiles_again_for_a_smaller_chunk():
    # What `_compile_chunks` does when XLA says a chunk needs more memory than there is.
    mesh, dataset = runner.runs_mesh(), TASK.load()
    initialized = runner.initialize(TASK, dataset, STRATEGIES, [0, 1, 2, 3], BATCH, mesh)
    runs = runner.grid(["he_normal"], [0, 1, 2, 3], [1e-3])
    program = runner.TrainProgram(TASK, dataset, ADAM, BATCH, mesh)
    program.compile(runs, initialized)
    program.compile(runs[:2], initialized)
    periods = program.run(runs[:2], initialized, steps=STEPS, eval_every=EVAL_EVERY)
    alone, _ = runner.train_runs(TASK, dataset, ADAM, runs[:2], initialized, steps=STEPS, batch_size=BATCH,
                                 eval_every=EVAL_EVERY, mesh=mesh)
    np.testing.assert_array_equal(runner.collect([(2, periods)], STEPS, EVAL_EVERY).train_loss,
                                  alone.train_loss)
