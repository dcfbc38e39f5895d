"""What is particular to the interpreter backend: the registry opens it, it shares weights
across lane counts, it refuses fixed point clearly, and its delta-coding rule on single
values (a change below the threshold is not sent, above it is, and the receiver holds the
last value sent). Its equality with the reference and with native, values and every
counter, is in tests/conformance.
"""

from __future__ import annotations

import numpy as np
import pytest

from hwsim.backends import Backend, ExecutionOptions, backend_factory
from hwsim.backends.interpreter import InterpreterBackend
from tests.conformance.cases import artifact as _artifact
from tests.conformance.cases import step_inputs

LANES = 3


def test_the_registry_opens_the_interpreter() -> None:
    backend = backend_factory("interpreter")(_artifact("rtrl-no-hidden-K0"), 2, ExecutionOptions())
    assert isinstance(backend, Backend)
    assert backend.name == "interpreter" and backend.counts and backend.lanes == 2


def test_load_shared_takes_weights_and_optimizer_steps_across_lane_counts() -> None:
    artifact = _artifact("rtrl-complex-fixed-K2")
    trained = InterpreterBackend(artifact, LANES, ExecutionOptions())
    u, target, mask = step_inputs(artifact, np.random.default_rng(1), 0)
    trained.run(u[None], target[None], mask[None], train=True, reset=True, apply_end=True, scale=0.5)
    single = InterpreterBackend(artifact, 1, ExecutionOptions())
    single.load_shared(trained)
    assert single.optimizer_steps == trained.optimizer_steps == 1
    for name, value in trained.parameters().items():
        assert np.array_equal(single.parameters()[name], value), name
    assert set(single.optimizer_state()["adam_m"]) == set(trained.optimizer_state()["adam_m"])


def test_fixed_point_without_a_format_for_every_group_is_refused_clearly() -> None:
    """(Fixed point with the calibrated formats equals native: tests/conformance.)"""
    from hwsim.number_format import FixedFormat

    with pytest.raises(ValueError, match="no fixed-point format for buffer group"):
        InterpreterBackend(_artifact("rtrl-no-hidden-K0"), 1,
                           ExecutionOptions(number_format="fixed", formats={("x", "y", "z"): FixedFormat(16, 8)}))


# -- the delta-coding rule on single values --------------------------------------------------------

def _activity_group(interp: InterpreterBackend):
    """A send group of activities and the (destination core, inbox, start) it feeds."""
    for groups in interp.cores[0].layout.groups.values():
        for group in groups:
            if group.population == "activity":
                return group
    raise AssertionError("no activity channel")


def _send_once(interp: InterpreterBackend, group, values: np.ndarray) -> np.ndarray:
    source = interp.mem[group.core][group.source].reshape(interp.lanes, -1)
    source[:, group.start:group.start + group.length] = values
    interp._deliver([interp.cores[group.core]._send(group)])
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
