"""The native engine shares large matvecs (lane groups) and outer products (row blocks) out
over numba's threads. Every lane and every accumulator row is computed by one thread in the
serial order, so a threaded run equals the interpreter (which runs every op in the
documented order, one lane after another) bit for bit, counts included."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from compiler.artifact import Artifact
from compiler.pipeline import compile_artifact
from hwsim.backends import ExecutionOptions, open_backend
from hwsim.kernels import learn, synapse
from hwsim.runner import train_batch
from neuropc.spec import load_spec
from neuropc.tasks import task_from_spec
from tests.conformance.test_counts import same_counts, same_state

LANES = 6 * synapse.GROUP + 1  # seven lane groups, the last one short

pytestmark = pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two numba threads")


def largest_matvec(compiled: Artifact) -> int:
    """The most synapses one core's matvec holds (what the kernels' thresholds see)."""
    return max(int(np.prod(core.buffers[op.inputs["w"]].shape))
               for core in compiled.program.cores for ops in core.phases.values() for op in ops
               if op.kind == "matvec")


@pytest.mark.parametrize("thresholds", [{"activity": 0.0, "error": 0.0}, {"activity": 0.2, "error": 0.002}],
                         ids=["threshold-0", "delta-coded"])
def test_threaded_native_equals_the_interpreter(thresholds: dict[str, float]) -> None:
    spec = load_spec("examples/copy.yaml").with_overrides(
        {"recurrent.size": 128, "readout.hidden": [256], "task.delay": 2, "task.length": 4})
    compiled = compile_artifact(spec)
    # the parallel paths run (the hidden layer's outer product is as large as its matvec)
    assert largest_matvec(compiled) * LANES >= max(synapse.PARALLEL_WORK, learn.PARALLEL_WORK)
    options = ExecutionOptions(thresholds=thresholds)
    native = open_backend("native", compiled, LANES, options)
    interpreter = open_backend("interpreter", compiled, LANES, options)
    task = task_from_spec(spec.task)
    rng = np.random.default_rng(7)
    numba.set_num_threads(2)
    for sequence in range(2):
        batch = task.sample(rng, LANES)
        want, _ = train_batch(interpreter, batch)
        got, _ = train_batch(native, batch)
        assert got == want
        same_state(interpreter, native, compiled, f"sequence {sequence}", 0.0)
        same_counts(interpreter, native, f"sequence {sequence}")
