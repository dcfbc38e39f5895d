"""The interpreter backend equals the native engine: values and every counter.

Each case runs the same inputs through ``hwsim.engine.Engine`` and
``hwsim.backends.interpreter.InterpreterBackend`` step by step (two sequences, the second
from applied weights) and demands, after every step, every bound buffer equal within 1e-9
(float64) and the counts per lane row, core and field, and per kind of work, identical; at
threshold 0, at per-population thresholds, and dense. Then the delta-coding rule on single
values: a change below the threshold is not sent, above it is, and the receiver holds the
last value sent.
"""

from __future__ import annotations

import numpy as np
import pytest

from compiler.artifact import Artifact
from compiler.pipeline import compile_artifact as artifact_from_spec
from hwsim.backends import Backend, ExecutionOptions, backend_factory
from hwsim.backends.interpreter import InterpreterBackend, Pending
from hwsim.engine import Engine
from tests.hwsim.test_engine import CASES as ENGINE_CASES
from tests.hwsim.test_engine import tiny

LANES = 3
STEPS = 4
TOL = 1e-9

CASES = {
    **ENGINE_CASES,
    "online-rtrl-adam": tiny(update="online"),
    "online-spatial-bp-sgd": tiny(rule="spatial-bp", update="online", optimizer="sgd", hidden=(5, 4)),
    "squared-error": tiny(hidden=(4,)).model_copy(update={"loss": "squared_error"}),
}
THRESHOLDS = {
    "exact": {"thresholds": {"activity": 0.0, "error": 0.0}},
    "thresholded": {"thresholds": {"activity": 0.2, "error": 0.002}},
    "dense": {"dense": True},
}

_artifacts: dict[str, Artifact] = {}


def _artifact(case: str) -> Artifact:
    if case not in _artifacts:
        _artifacts[case] = artifact_from_spec(CASES[case])
    return _artifacts[case]


def _inputs(artifact: Artifact, rng: np.random.Generator, t: int):
    settings = artifact.program.settings
    u = np.eye(settings.inputs)[rng.integers(0, settings.inputs, size=LANES)]
    if settings.loss == "cross_entropy":
        target = rng.integers(0, settings.outputs, size=LANES).astype(float)
    else:
        target = rng.normal(size=(LANES, settings.outputs))
    mask = (rng.uniform(size=LANES) < 0.7).astype(float)
    mask[t % LANES] = 1.0
    if t == 1:
        mask[:] = 0.0  # a step without loss: every error is exactly zero
    return u, target, mask


def _engine(artifact: Artifact, options: ExecutionOptions) -> Engine:
    thresholds = options.resolved_thresholds(artifact.program)
    return Engine(artifact, LANES, number_format=options.number_format, threshold=thresholds,
                  dense=options.dense)


def _same_buffers(engine: Engine, interp: InterpreterBackend, tol: float, where: str) -> None:
    for core in interp.program.cores:
        for buf in core.buffers.values():
            if buf.binding is None:
                continue
            got, want = interp.buffer(core.core, buf.name), engine.buffer(core.core, buf.name)
            diff = float(np.max(np.abs(got - want))) if got.size else 0.0
            assert diff <= tol, f"{where}: core {core.core} {buf.name} differs by {diff:.3g}"


def _same_counts(engine: Engine, interp: InterpreterBackend, where: str) -> None:
    want, got = engine.take_counts(), interp.take_counts()
    if not np.array_equal(got, want):
        diff = np.argwhere(got != want)
        raise AssertionError(f"{where}: counts differ at (row, core, field) {diff[:5].tolist()}: "
                             f"interpreter {got[tuple(diff[0])]}, engine {want[tuple(diff[0])]}")
    want_kinds, got_kinds = engine.take_op_counts(), interp.take_work_counts()
    assert np.array_equal(got_kinds, want_kinds), f"{where}: counts per kind of work differ"


def _compare(case: str, options: ExecutionOptions, tol: float = TOL) -> None:
    artifact = _artifact(case)
    engine = _engine(artifact, options)
    interp = InterpreterBackend(artifact, LANES, options)
    online = artifact.program.phases_when("step_with_loss") != []
    rng = np.random.default_rng(5)
    for sequence in range(2):
        engine.reset()
        interp.reset()
        _same_counts(engine, interp, f"sequence {sequence} reset")
        carried = 0.0
        for t in range(STEPS):
            u, target, mask = _inputs(artifact, rng, t)
            carried += mask.sum()
            want = engine.run(u[None], target[None], mask[None], train=True, online=online)
            got = interp.run(u[None], target[None], mask[None], train=True)
            where = f"{case} sequence {sequence} step {t}"
            _same_buffers(engine, interp, tol, where)
            np.testing.assert_allclose(got.loss, want.loss, atol=tol, rtol=0, err_msg=where)
            np.testing.assert_allclose(got.outputs, want.logits, atol=tol, rtol=0, err_msg=where)
            assert np.array_equal(got.step_counts, want.step_counts), f"{where}: step counts"
            _same_counts(engine, interp, where)
        if not online:
            engine.apply(1.0 / carried)
            interp.apply(1.0 / carried)
            _same_buffers(engine, interp, tol, f"{case} sequence {sequence} after apply")
            _same_counts(engine, interp, f"{case} sequence {sequence} apply")
    assert interp.optimizer_steps == engine.count
    u, target, mask = _inputs(artifact, rng, 0)  # evaluation: no train-only phases, no restarts
    want = engine.run(u[None], target[None], mask[None], train=False, reset=True)
    got = interp.run(u[None], target[None], mask[None], train=False, reset=True)
    np.testing.assert_allclose(got.loss, want.loss, atol=tol, rtol=0)
    _same_counts(engine, interp, f"{case} evaluation")


@pytest.mark.parametrize("mode", list(THRESHOLDS))
@pytest.mark.parametrize("case", list(CASES))
def test_interpreter_equals_the_engine_step_by_step(case: str, mode: str) -> None:
    _compare(case, ExecutionOptions(**THRESHOLDS[mode]))


@pytest.mark.parametrize("case", ["rtrl-complex-fixed-K2", "rtrl-split-two-hidden-inferred", "spatial-bp-complex"])
def test_float32_interpreter_equals_the_engine(case: str) -> None:
    """Storage rounding to float32 in both: values within float32 resolution, same counts."""
    _compare(case, ExecutionOptions(number_format="float32", thresholds={"activity": 0.2, "error": 0.002}),
             tol=1e-5)


def test_the_registry_opens_the_interpreter() -> None:
    backend = backend_factory("interpreter")(_artifact("rtrl-no-hidden-K0"), 2, ExecutionOptions())
    assert isinstance(backend, Backend)
    assert backend.name == "interpreter" and backend.counts and backend.lanes == 2


def test_load_shared_takes_weights_and_optimizer_steps_across_lane_counts() -> None:
    artifact = _artifact("rtrl-complex-fixed-K2")
    trained = InterpreterBackend(artifact, LANES, ExecutionOptions())
    u, target, mask = _inputs(artifact, np.random.default_rng(1), 0)
    trained.run(u[None], target[None], mask[None], train=True, reset=True, apply_end=True, scale=0.5)
    single = InterpreterBackend(artifact, 1, ExecutionOptions())
    single.load_shared(trained)
    assert single.optimizer_steps == trained.optimizer_steps == 1
    for name, value in trained.parameters().items():
        assert np.array_equal(single.parameters()[name], value), name
    assert set(single.optimizer_state()["adam_m"]) == set(trained.optimizer_state()["adam_m"])


def test_fixed_point_is_refused_clearly() -> None:
    from hwsim.number_format import FixedFormat

    with pytest.raises(NotImplementedError, match="fixed"):
        InterpreterBackend(_artifact("rtrl-no-hidden-K0"), 1,
                           ExecutionOptions(number_format="fixed", formats={("x", "y", "z"): FixedFormat(16, 8)}))


# -- the delta-coding rule on single values --------------------------------------------------------

def _activity_group(interp: InterpreterBackend):
    """A send group of activities and the (destination core, inbox, start) it feeds."""
    for groups in interp.groups.values():
        for group in groups:
            if group.population == "activity":
                return group
    raise AssertionError("no activity channel")


def _send_once(interp: InterpreterBackend, group, values: np.ndarray) -> np.ndarray:
    source = interp.mem[group.core][group.source].reshape(interp.lanes, -1)
    source[:, group.start:group.start + group.length] = values
    fired = interp._send(group)
    interp._deliver(Pending([(group, fired)]))
    d = group.destinations[0]
    return interp.mem[d.core][d.inbox].reshape(interp.lanes, -1)[:, d.start:d.start + group.length].copy()


def test_a_change_below_the_threshold_is_not_sent_and_the_receiver_keeps_the_last_sent() -> None:
    threshold = 0.2
    interp = InterpreterBackend(_artifact("rtrl-complex-fixed-K2"), 1,
                                ExecutionOptions(thresholds={"activity": threshold, "error": 0.0}))
    interp.reset()
    interp.take_counts()
    group = _activity_group(interp)
    n = group.length
    first = np.full((1, n), 0.5)
    assert np.array_equal(_send_once(interp, group, first), first)  # |0.5 - 0| > T: sent
    sent = interp.take_counts()[0, group.core, 5]
    assert sent == n * len(group.destinations)
    small = first + 0.15  # moved by less than T: nothing sent, the receiver keeps 0.5
    assert np.array_equal(_send_once(interp, group, small), first)
    assert interp.take_counts()[0, group.core, 5] == 0
    drifted = first + 0.25  # now 0.25 from the last value sent (0.5): sent
    assert np.allclose(_send_once(interp, group, drifted), drifted)
    assert interp.take_counts()[0, group.core, 5] == n * len(group.destinations)


def test_threshold_zero_sends_exactly_the_changed_values() -> None:
    interp = InterpreterBackend(_artifact("rtrl-complex-fixed-K2"), 1, ExecutionOptions())
    interp.reset()
    group = _activity_group(interp)
    values = np.zeros((1, group.length))
    values[0, 0] = 1e-12
    interp.take_counts()
    assert np.array_equal(_send_once(interp, group, values), values)
    assert interp.take_counts()[0, group.core, 5] == len(group.destinations)
