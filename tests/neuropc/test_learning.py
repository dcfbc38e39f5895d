"""End-to-end learning on a small copy task: the ordering the paper reports, in seconds."""

from __future__ import annotations

import numpy as np
import pytest

from neuropc.training import train

SMALL_COPY = {
    "recurrent.size": 24, "readout.hidden": [24], "task.length": 3, "task.delay": 6,
    "task.vocab": 4, "input.size": 6, "readout.output": 4, "run.steps": 300, "run.batch": 32,
    "run.eval_every": 50, "run.eval_sequences": 256, "rule.optimizer.lr": 1e-2,
}


@pytest.fixture(scope="module")
def curves(copy_spec):
    result = {}
    for rule in ("tpc-rtrl", "bptt", "tpc"):
        spec = copy_spec.with_overrides({**SMALL_COPY, "rule.name": rule})
        result[rule] = np.array([row["eval_accuracy"] for row in train(spec).metrics])
    return result


def test_exact_tpc_rtrl_follows_the_bptt_learning_curve(curves):
    np.testing.assert_allclose(curves["tpc-rtrl"], curves["bptt"], atol=1e-9)


def test_tpc_rtrl_learns_the_copy_task_and_tpc_lags(curves):
    assert curves["tpc-rtrl"][-1] >= 0.9
    assert curves["tpc"][-1] <= curves["tpc-rtrl"][-1] - 0.1
