"""Where trials run: a Dask ``LocalCluster`` on this machine, or a scheduler already running.

A local cluster has one single-threaded worker process per core (``--workers``), and every
thread pool a trial could start (BLAS through OpenMP, OpenBLAS or MKL; Numba) is held to one
thread: trials are the parallelism, and N trials that each start N threads only fight over
the cores. Workers of an existing cluster are configured by whoever started them
(docs/sweeps.md shows how).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from neuropc.errors import NeuropcError

#: set in every local worker before it imports numpy or numba
WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "NUMEXPR_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1", "NEUROPC_THREADS": "1"}


def local_workers(workers: int | None) -> int:
    return workers if workers is not None else max(os.cpu_count() or 1, 1)


def check_scheduler(scheduler: str, workers: int | None) -> None:
    """Refuse options that cannot go together, before anything is written or started."""
    if not scheduler.strip():
        raise NeuropcError("--scheduler is empty; give local or a scheduler address (tcp://host:8786)")
    if scheduler != "local" and workers is not None:
        raise NeuropcError("--workers starts workers of a local cluster; an existing cluster "
                           f"({scheduler}) has the workers it was given")


@contextmanager
def dask_client(scheduler: str = "local", workers: int | None = None) -> Iterator[object]:
    """A ``distributed.Client``: of a new LocalCluster (``scheduler='local'``) closed on exit,
    or connected to the scheduler at ``scheduler`` (``tcp://host:8786``), left running."""
    from distributed import Client, LocalCluster

    check_scheduler(scheduler, workers)
    if scheduler != "local":
        try:
            client = Client(scheduler)  # connect timeout: Dask's distributed.comm.timeouts.connect
        except (OSError, TimeoutError, ValueError) as exc:
            raise NeuropcError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
        try:
            yield client
        finally:
            client.close()
        return
    # logs at ERROR: the sweep reports failed trials itself, and a busy machine's slow worker
    # shutdown ("still alive after 4.0 seconds, killing") is not news
    cluster = LocalCluster(n_workers=local_workers(workers), threads_per_worker=1, processes=True,
                           env=WORKER_ENV, silence_logs=logging.ERROR)
    try:
        with Client(cluster) as client:
            yield client
    finally:
        cluster.close()
