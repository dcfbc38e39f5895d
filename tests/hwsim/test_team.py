"""The engine's worker threads (hwsim.team): which worker runs which core, and that a run on
several workers is one worker's run, bit for bit, counts included, against the interpreter
(which runs every op in the documented order, one lane after another)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from compiler.ops import OPS
from compiler.pipeline import compile_artifact
from hwsim.backends import ExecutionOptions, open_backend
from hwsim.encode import encode
from hwsim.engine import Engine
from hwsim.runner import train_batch
from hwsim.team import (
    MIN_WORK_PER_EXTRA_WORKER,
    default_workers,
    instruction_work,
    lane_local,
    lane_ranges,
    plan_owners,
    splits_lanes,
)
from neuropc.spec import load_spec
from neuropc.tasks import task_from_spec
from tests.conformance.test_counts import same_counts, same_state

LANES = 9


@pytest.fixture(scope="module")
def compiled():
    """The copy network with two cores in each of its two larger layers."""
    spec = load_spec("examples/copy.yaml").with_overrides(
        {"recurrent.size": 128, "readout.hidden": [256], "task.delay": 2, "task.length": 4})
    return compile_artifact(spec)


def stage_cores(tables, s: int) -> list[int]:
    lo, hi = tables.phases.stage_ptr[s], tables.phases.stage_ptr[s + 1]
    return sorted(set(tables.instructions.core[lo:hi].tolist()))


def test_every_stage_spreads_its_cores_and_keeps_each_core_on_one_worker(compiled) -> None:
    tables = encode(compiled.program, 2, compiled.placement_arrays["hops"]).tables
    owner = plan_owners(tables, 2)
    work = instruction_work(tables)
    ptr, core = tables.phases.stage_ptr, tables.instructions.core
    spread = 0
    for s in range(len(ptr) - 1):
        lo, hi = ptr[s], ptr[s + 1]
        per_core = {c: set(owner[lo:hi][core[lo:hi] == c].tolist()) for c in stage_cores(tables, s)}
        assert all(len(workers) == 1 for workers in per_core.values()), f"stage {s} splits a core"
        loads = {c: int(work[lo:hi][core[lo:hi] == c].sum()) for c in per_core}
        if len(per_core) == 1:
            assert per_core[next(iter(per_core))] == {0}, "a lone core runs on worker 0"
            continue
        largest = sorted(loads, key=lambda c: -loads[c])[:2]
        assert per_core[largest[0]] != per_core[largest[1]], f"stage {s}: the two largest cores share a worker"
        spread += 1
    assert spread > 0  # the network has stages with several cores


def test_one_worker_owns_everything(compiled) -> None:
    tables = encode(compiled.program, 1, compiled.placement_arrays["hops"]).tables
    assert not plan_owners(tables, 1).any()


def test_default_workers() -> None:
    small, large = MIN_WORK_PER_EXTRA_WORKER - 1, MIN_WORK_PER_EXTRA_WORKER
    assert default_workers(small, 2) == 1
    assert default_workers(large, 2) == 2
    assert default_workers(large, 1) == 1
    assert default_workers(large, 16) == 2
    assert default_workers(small, 2, "3") == 3  # NEUROPC_THREADS decides
    assert default_workers(large, 2, "1") == 1
    for bad in ("0", "two"):
        with pytest.raises(ValueError, match="NEUROPC_THREADS must be"):
            default_workers(large, 2, bad)


def test_the_copy_network_takes_two_workers_from_batch_8(compiled, monkeypatch) -> None:
    """What the default's threshold was measured on (examples/copy.yaml)."""
    monkeypatch.delenv("NEUROPC_THREADS", raising=False)
    monkeypatch.setattr("hwsim.engine.available_cpus", lambda: 2)
    copy = compile_artifact(load_spec("examples/copy.yaml"))
    assert Engine(copy, 3).threads == 1
    assert Engine(copy, 8).threads == 2


def test_threads_below_one_are_refused(compiled) -> None:
    with pytest.raises(ValueError, match="threads must be at least 1"):
        Engine(compiled, 2, threads=0)
    with pytest.raises(ValueError, match="threads must be at least 1"):
        ExecutionOptions(threads=0)


@pytest.mark.parametrize("thresholds", [{"activity": 0.0, "error": 0.0}, {"activity": 0.2, "error": 0.002}],
                         ids=["threshold-0", "delta-coded"])
def test_two_workers_equal_the_interpreter(compiled, thresholds: dict[str, float]) -> None:
    native = open_backend("native", compiled, LANES, ExecutionOptions(thresholds=thresholds, threads=2))
    assert native.engine.threads == 2
    interpreter = open_backend("interpreter", compiled, LANES, ExecutionOptions(thresholds=thresholds))
    task = task_from_spec(load_spec("examples/copy.yaml").with_overrides(
        {"task.delay": 2, "task.length": 4}).task)
    rng = np.random.default_rng(7)
    for sequence in range(2):
        batch = task.sample(rng, LANES)
        want, _ = train_batch(interpreter, batch)
        got, _ = train_batch(native, batch)
        assert got == want
        same_state(interpreter, native, compiled, f"sequence {sequence}", 0.0)
        same_counts(interpreter, native, f"sequence {sequence}")


@given(lanes=st.integers(1, 300), workers=st.integers(1, 8))
def test_lane_ranges_cover_every_lane_once(lanes: int, workers: int) -> None:
    first, end = lane_ranges(lanes, workers)
    if not splits_lanes(lanes, workers):
        assert (first[0], end[0]) == (0, lanes) and not (end[1:] - first[1:]).any()
        return
    assert first[0] == 0 and end[-1] == lanes and (first[1:] == end[:-1]).all()
    assert (first % 2 == 0).all(), "cuts at even lanes (the synapse's lane pairs)"
    sizes = end - first
    assert sizes.min() >= 1 and sizes.max() - sizes.min() <= 3


def test_splits_lanes_from_two_per_worker() -> None:
    assert not splits_lanes(9, 1)
    assert not splits_lanes(3, 2) and splits_lanes(4, 2)
    assert not splits_lanes(5, 3) and splits_lanes(6, 3)


def test_lane_local_instructions_write_per_lane_buffers_and_lead_their_core(compiled) -> None:
    """Lane-local: writes only per-lane buffers, and so does every instruction of its core
    before it in the stage; the stage's kind says whether it needs the barrier between."""
    tables = encode(compiled.program, LANES, compiled.placement_arrays["hops"]).tables
    ins, ptr, per_lane = tables.instructions, tables.phases.stage_ptr, tables.buffers.lane
    local, stages = lane_local(tables, LANES, 2)
    assert not lane_local(tables, 3, 2)[0].any(), "three lanes on two workers: no split"
    kinds = set()
    for s in range(len(ptr) - 1):
        lo, hi = int(ptr[s]), int(ptr[s + 1])
        shared_before: set[int] = set()
        for i in range(lo, hi):
            lane_writes = bool(per_lane[ins.out_ids[ins.out_ptr[i]:ins.out_ptr[i + 1]]].all())
            core = int(ins.core[i])
            assert local[i] == (lane_writes and core not in shared_before), f"instruction {i}"
            if not local[i]:
                shared_before.add(core)
        part = local[lo:hi]
        assert stages[s] == (0 if not part.any() else 1 if part.all() else 2)
        kinds.add(int(stages[s]))
    assert kinds == {0, 1, 2}  # the network has stages of every kind
    learn = np.isin(ins.op, [OPS["outer_accumulate"].code, OPS["apply_adam"].code])
    assert learn.any() and not local[learn].any()


def test_calibration_on_two_workers_equals_one(compiled) -> None:
    """While calibrating (every write's magnitude recorded per buffer) no lanes are split:
    the maxima are one worker's."""
    task = task_from_spec(load_spec("examples/copy.yaml").with_overrides(
        {"task.delay": 2, "task.length": 4}).task)
    batch = task.sample(np.random.default_rng(3), LANES)
    maxima = []
    for threads in (1, 2):
        native = open_backend("native", compiled, LANES, ExecutionOptions(threads=threads))
        native.track_ranges(True)
        train_batch(native, batch)
        maxima.append(native.calibration_maxima())
    assert maxima[0] == maxima[1]
