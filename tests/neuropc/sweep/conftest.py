"""The sweep tests' Dask cluster: two single-threaded worker processes, configured as the
LocalCluster ``neuropc sweep --workers 2`` starts, shared by a module's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """The address of a LocalCluster of 2 workers, one thread each, configured as the sweep's own."""
    from distributed import LocalCluster

    from neuropc.sweep.cluster import WORKER_ENV

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, env=WORKER_ENV,
                      dashboard_address=":0") as cluster:
        yield cluster.scheduler_address
