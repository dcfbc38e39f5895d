"""The workers' barrier (hwsim/kernels/sync.py): nobody passes barrier n before everyone has
reached it, and what a worker wrote before it is what the others read after it."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from numba import njit

from hwsim.kernels.sync import LINE, barrier


@njit(nogil=True)
def _rounds(flags, written, tid, workers, rounds, misses):
    """Each round every worker writes the round number into its slot, meets the others, reads
    every slot (each must hold this round), and meets them again before the next write."""
    for r in range(1, rounds + 1):
        written[tid] = r
        barrier(flags, tid, workers, 2 * r - 1)
        for other in range(workers):
            if written[other] != r:
                misses[tid] += 1
        barrier(flags, tid, workers, 2 * r)


@pytest.mark.parametrize("workers", [2, 3])
def test_every_worker_sees_every_write_made_before_the_barrier(workers: int) -> None:
    flags = np.zeros(workers * LINE, np.int64)
    written = np.zeros(workers, np.int64)
    misses = np.zeros(workers, np.int64)
    rounds = 2000
    _rounds(flags, written, 0, 1, 1, misses)  # compile before the threads start
    flags[:] = 0
    written[:] = 0
    misses[:] = 0
    helpers = [threading.Thread(target=_rounds, args=(flags, written, t, workers, rounds, misses))
               for t in range(1, workers)]
    for helper in helpers:
        helper.start()
    _rounds(flags, written, 0, workers, rounds, misses)
    for helper in helpers:
        helper.join()
    assert not misses.any()
    assert list(written) == [rounds] * workers
    assert all(flags[t * LINE] == 2 * rounds for t in range(workers))
