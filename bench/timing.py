"""Timing for the speed benchmarks: interleaved rounds, best of each."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from neuropc.spec import NetworkSpec
from neuropc.tasks import task_from_spec
from neuropc.tasks.base import SequenceBatch
from neuropc.training import TRAIN_STREAM


def training_batches(spec: NetworkSpec, batch: int, batches: int) -> tuple[list[SequenceBatch], int]:
    """The first ``batches`` training batches of the spec's task (its training stream), and
    the sequence-steps they hold: every runner of a speed bench gets the same data."""
    rng = np.random.default_rng([spec.run.seed, TRAIN_STREAM])
    task = task_from_spec(spec.task)
    data = [task.sample(rng, batch) for _ in range(batches)]
    return data, batches * batch * data[0].length


#: the delta-coded setting the speed benchmarks time against threshold 0 (per population)
DELTA = {"activity": 0.2, "error": 0.002}

#: seconds of rest before each timed run (``time_interleaved``)
SETTLE = 0.5


def time_interleaved(runs: Mapping[Any, tuple[Callable[[], Any], Callable[[Any], None]]],
                     repeats: int) -> dict[Any, float]:
    """Best wall time of each ``(setup, run)`` in ``runs`` over ``repeats`` rounds; every
    round times each once, one after the other, so that a slow spell of a shared machine
    hits all of them rather than one (setup not timed). Before each timed run the machine
    rests ``SETTLE`` seconds: the thread pools of the run before (OpenMP's, OpenBLAS's) keep
    spinning for a while after their last call, and would take a core from the next run."""
    best = {key: float("inf") for key in runs}
    for _ in range(repeats):
        for key, (setup, run) in runs.items():
            state = setup()
            time.sleep(SETTLE)
            started = time.perf_counter()
            run(state)
            best[key] = min(best[key], time.perf_counter() - started)
    return best
