"""Backends that count give identical counters: every counting backend against native.

For every case (including online updates and squared error) and three sending modes (threshold
0, per-population thresholds, dense), the same inputs go through ``native`` and the other
backend step by step: every bound array is bit for bit the same (every backend follows the
arithmetic order of ``compiler.op_semantics``), and the counts of every step (per lane row,
core and field) and per kind of work are identical. A mutation of a threshold
comparison, of a message count or of a counting rule in either backend fails here.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from compiler.artifact import Artifact
from compiler.program import bound_extents
from hwsim.backends import Backend, ExecutionOptions, open_backend
from hwsim.runner import calibrate
from hwsim.team import splits_lanes
from tests.conformance.cases import BACKENDS, CASES, LANES, artifact, backend_cases, step_inputs

STEPS = 4
TOL = 0.0  # bit for bit
MODES = {
    "threshold-0": ExecutionOptions(thresholds={"activity": 0.0, "error": 0.0}),
    "thresholds-0.2-0.002": ExecutionOptions(thresholds={"activity": 0.2, "error": 0.002}),
    "dense": ExecutionOptions(dense=True),
}
OTHERS = [name for name in BACKENDS if name != "native"]


def bound_arrays(backend: Backend, compiled: Artifact) -> dict[tuple, np.ndarray]:
    """Every array some buffer is bound to, read through the protocol."""
    return {key: backend.read(key[0], key[1], shape, part=key[2], layer=key[3], copy=key[4])
            for key, shape in bound_extents(compiled.program).items()}


def same_state(native: Backend, other: Backend, compiled: Artifact, where: str, tol: float) -> None:
    want, got = bound_arrays(native, compiled), bound_arrays(other, compiled)
    for key, value in want.items():
        if tol == 0.0:
            assert np.array_equal(got[key], value, equal_nan=True), \
                f"{where}: {key} differs by {float(np.nanmax(np.abs(got[key] - value))):.3g}"
            continue
        diff = float(np.nanmax(np.abs(got[key] - value))) if value.size else 0.0
        assert diff <= tol, f"{where}: {key} differs by {diff:.3g}"


def same_counts(native: Backend, other: Backend, where: str) -> None:
    want, got = native.take_counts(), other.take_counts()
    if not np.array_equal(got, want):
        at = np.argwhere(got != want)
        raise AssertionError(f"{where}: counts differ at (row, core, field) {at[:5].tolist()}: "
                             f"{other.name} {got[tuple(at[0])]}, native {want[tuple(at[0])]}")
    assert np.array_equal(other.take_work_counts(), native.take_work_counts()), \
        f"{where}: counts per kind of work differ"


def compare(backend_name: str, case: str, options: ExecutionOptions, tol: float = TOL, lanes: int = LANES) -> None:
    """``backend_name`` with ``options`` against native on one worker thread."""
    compiled = artifact(case)
    native = open_backend("native", compiled, lanes, replace(options, threads=1))
    other = open_backend(backend_name, compiled, lanes, options)
    online = bool(compiled.program.phases_when("step_with_loss"))
    rng = np.random.default_rng(5)
    for sequence in range(2):
        native.reset()
        other.reset()
        same_counts(native, other, f"{case} sequence {sequence} reset")
        carried = 0.0
        for t in range(STEPS):
            u, target, mask = step_inputs(compiled, rng, t, lanes)
            carried += mask.sum()
            want = native.run(u[None], target[None], mask[None], train=True, scale=0.25)
            got = other.run(u[None], target[None], mask[None], train=True, scale=0.25)
            where = f"{case} sequence {sequence} step {t}"
            same_state(native, other, compiled, where, tol)
            np.testing.assert_allclose(got.loss, want.loss, atol=tol, rtol=0, err_msg=where)
            np.testing.assert_allclose(got.outputs, want.outputs, atol=tol, rtol=0, err_msg=where)
            assert np.array_equal(got.step_counts, want.step_counts), f"{where}: step counts"
            same_counts(native, other, where)
        if not online:
            native.apply(1.0 / carried)
            other.apply(1.0 / carried)
            same_state(native, other, compiled, f"{case} sequence {sequence} after apply", tol)
            same_counts(native, other, f"{case} sequence {sequence} apply")
    assert other.optimizer_steps == native.optimizer_steps
    u, target, mask = step_inputs(compiled, rng, 0, lanes)  # evaluation: no train-only phases
    want = native.run(u[None], target[None], mask[None], train=False, reset=True)
    got = other.run(u[None], target[None], mask[None], train=False, reset=True)
    np.testing.assert_allclose(got.loss, want.loss, atol=tol, rtol=0)
    same_counts(native, other, f"{case} evaluation")


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("backend_name,case", backend_cases(OTHERS, CASES))
def test_backend_counts_and_values_equal_native(backend_name: str, case: str, mode: str) -> None:
    compare(backend_name, case, MODES[mode])


@pytest.mark.parametrize("case", list(CASES))
def test_native_on_two_threads_equals_one(case: str) -> None:
    """The cores of a stage on two worker threads (hwsim.team; LANES = 3 is fewer than two
    lanes per worker, so the cores are split, not the lanes): the same bits, the same counts,
    step by step, as one thread (delta-coded: what is sent depends on every value)."""
    assert not splits_lanes(LANES, 2)
    compare("native", case, replace(MODES["thresholds-0.2-0.002"], threads=2))


#: lanes on two workers that split them (two per worker at least; hwsim.team.splits_lanes):
#: unevenly, 2 and 3
SPLIT_LANES = 5


@pytest.mark.parametrize("case", list(CASES))
def test_native_with_lanes_split_on_two_threads_equals_one(case: str) -> None:
    """Each worker runs the lane-local instructions for its own lanes and delivers their
    events; learning and the optimizer stay one worker per core: the same bits and counts,
    step by step, as one thread."""
    assert splits_lanes(SPLIT_LANES, 2)
    compare("native", case, replace(MODES["thresholds-0.2-0.002"], threads=2), lanes=SPLIT_LANES)


@pytest.mark.parametrize("case", ["rtrl-split-two-hidden-inferred", "spatial-bp-real-split"])
def test_native_with_lanes_split_on_three_threads_equals_one(case: str) -> None:
    """Seven lanes on three workers (2, 2 and 3): the same bits and counts as one thread."""
    assert splits_lanes(7, 3)
    compare("native", case, replace(MODES["thresholds-0.2-0.002"], threads=3), lanes=7)


@pytest.mark.parametrize("number_format", ["float32", "fixed"])
def test_rounding_with_lanes_split_on_two_threads_equals_one(number_format: str) -> None:
    """Each worker rounds what it stored for its own lanes only (the other's are being written)."""
    case = "rtrl-split-two-hidden-inferred"
    formats = calibrate(artifact(case), sequences=2 * LANES) if number_format == "fixed" else None
    compare("native", case, ExecutionOptions(number_format=number_format, formats=formats, threads=2,
                                             thresholds={"activity": 0.2, "error": 0.002}), lanes=SPLIT_LANES)


@pytest.mark.parametrize("case,options", [
    ("rtrl-split-two-hidden-inferred", ExecutionOptions(thresholds={"activity": 0.2, "error": 0.002}, threads=3)),
    ("spatial-bp-complex", ExecutionOptions(dense=True, threads=3)),
    ("rtrl-complex-fixed-K2", ExecutionOptions(number_format="float32", thresholds={"activity": 0.2, "error": 0.002},
                                               threads=2))],
    ids=["three-threads", "three-threads-dense", "two-threads-float32"])
def test_native_on_more_threads_than_cores_equals_one(case: str, options: ExecutionOptions) -> None:
    """More workers than some stages have cores (idle workers still meet at every barrier),
    and rounding as values are stored, on several workers."""
    compare("native", case, options)


@pytest.mark.parametrize("backend_name,case", backend_cases(OTHERS, [
    "rtrl-complex-fixed-K2", "rtrl-split-two-hidden-inferred", "spatial-bp-complex"]))
def test_float32_storage_agrees_with_native(backend_name: str, case: str) -> None:
    """Both round every stored value to float32 the same way: the same bits, the same counts."""
    compare(backend_name, case, ExecutionOptions(number_format="float32",
                                                 thresholds={"activity": 0.2, "error": 0.002}),
            tol=TOL)


@pytest.mark.parametrize("backend_name,case", backend_cases(OTHERS, [
    "rtrl-complex-fixed-K2", "rtrl-split-two-hidden-inferred", "spatial-bp-complex"]))
def test_fixed_point_agrees_with_native(backend_name: str, case: str) -> None:
    """Fixed point at the target's widths, formats from a short float64 calibration: every
    stored value rounded onto its group's grid at the same moments, so the same bits and
    the same counts as native."""
    formats = calibrate(artifact(case), sequences=2 * LANES)
    compare(backend_name, case, ExecutionOptions(number_format="fixed", formats=formats,
                                                 thresholds={"activity": 0.2, "error": 0.002}))
