"""Timing for the speed benchmarks: interleaved rounds, best of each."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any


def time_interleaved(runs: Mapping[Any, tuple[Callable[[], Any], Callable[[Any], None]]],
                     repeats: int) -> dict[Any, float]:
    """Best wall time of each ``(setup, run)`` in ``runs`` over ``repeats`` rounds; every
    round times each once, one after the other, so that a slow spell of a shared machine
    hits all of them rather than one (setup not timed)."""
    best = {key: float("inf") for key in runs}
    for _ in range(repeats):
        for key, (setup, run) in runs.items():
            state = setup()
            started = time.perf_counter()
            run(state)
            best[key] = min(best[key], time.perf_counter() - started)
    return best
