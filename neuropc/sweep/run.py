"""Run a validated sweep on Dask: skip finished trials, submit the rest, show progress, gather.

Each pending trial is one Dask task (``neuropc.sweep.trial.run_trial``) writing its own run
folder. A trial that fails with a user-level error (NeuropcError) is reported with its error
while the others go on; one that raises anything else is retried ``retries`` times by Dask;
a worker that dies mid-trial is replaced and the trial rescheduled by the Dask scheduler (up
to its ``distributed.scheduler.allowed-failures``, 3 by default). The retried attempt starts
the trial's run folder afresh: nothing a finished trial wrote is touched, since finished
trials are never submitted.
"""

from __future__ import annotations

import shlex
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from neuropc.errors import NeuropcError
from neuropc.sweep.cluster import check_scheduler, dask_client
from neuropc.sweep.folder import SweepFolder
from neuropc.sweep.loading import Sweep
from neuropc.sweep.results import SweepResults, write_results
from neuropc.sweep.trial import TrialOutcome, run_trial

Echo = Callable[[str], None]


class TrialsFailed(NeuropcError):
    """Some trials failed; the others finished and the results were written (exit status 1:
    the input was valid, the runs were not all good). ``results``: what ``run_sweep`` would
    have returned, for a script that goes on with the trials that finished."""

    exit_code = 1

    def __init__(self, message: str, results: SweepResults) -> None:
        super().__init__(message)
        self.results = results


def _error_text(exc: BaseException) -> str:
    """A trial's unexpected error, one line: the exception's type and message."""
    message = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {message[0] if message else ''}".rstrip(": ")


#: seconds between looks at the connection while no trial finishes
POLL_SECONDS = 2.0
#: consecutive failed looks (not timeouts) after which the scheduler counts as lost
MAX_WAIT_FAILURES = 30


def _lost(unfinished: int) -> NeuropcError:
    return NeuropcError(f"lost the Dask scheduler with {unfinished} trials unfinished (or they were cancelled "
                        "on the cluster); the finished ones are kept: run the same command again to continue")


def _submit_all(client: Any, items: Mapping[str, Any], fn: Callable[[Any], Any], retries: int,
                on_done: Callable[[str, Any, BaseException | None], None]) -> None:
    """Submit ``fn(item)`` for every named item and report each as it arrives: its value, or
    the exception it ended with after its retries. A client whose scheduler is gone (it gives
    up reconnecting after Dask's ``distributed.comm.timeouts.connect``) ends the run with an
    error instead of waiting forever for work nobody does."""
    from distributed import wait
    from distributed.client import FuturesCancelledError

    token = uuid.uuid4().hex[:8]  # two runs on one cluster never share a task key
    futures = {client.submit(fn, item, key=f"trial-{name}-{token}", pure=False, retries=retries): name
               for name, item in items.items()}
    waiting = set(futures)
    failures = 0
    try:
        while waiting:
            try:
                done, waiting = wait(waiting, timeout=POLL_SECONDS, return_when="FIRST_COMPLETED")
            except TimeoutError:
                done = set()
            except FuturesCancelledError:  # the client lost its scheduler, or someone cancelled them
                raise _lost(len(waiting)) from None
            except Exception:  # noqa: BLE001 - distributed's sync can fail once while another client of
                # this process closes (seen: UnboundLocalError inside distributed.utils.sync); the
                # futures are still there, so look again unless the client is gone or it keeps failing
                failures += 1
                if client.status in ("closing", "closed") or failures > MAX_WAIT_FAILURES:
                    raise _lost(len(waiting)) from None
                time.sleep(POLL_SECONDS)
                continue
            failures = 0
            for future in done:
                try:
                    value, error = future.result(), None
                except Exception as exc:  # a crash (after its retries) is reported, the rest go on
                    value, error = None, exc
                on_done(futures[future], value, error)
            if waiting and client.status in ("closing", "closed"):
                raise _lost(len(waiting))
    finally:
        for future in futures:
            future.cancel()


def run_on_dask(fn: Callable[[Any], Any], items: Mapping[str, Any], *, scheduler: str = "local",
                workers: int | None = None, retries: int = 2,
                on_done: Callable[[str, Any, BaseException | None], None]) -> None:
    """``fn(item)`` for every named item on the sweep's Dask machinery (a LocalCluster of
    single-threaded workers or the scheduler at ``scheduler``, retries, a killed worker's item
    rescheduled, failures reported through ``on_done`` while the others go on). For work that
    is not a ``neuropc train``/``simulate`` trial, such as a benchmark's own trial function
    (``fn`` must be importable by the workers); the caller keeps its own record of what is done."""
    if items:
        with dask_client(scheduler, workers) as client:
            _submit_all(client, items, fn, retries, on_done)


def run_sweep(sweep: Sweep, out: str | Path, *, scheduler: str = "local", workers: int | None = None,
              retries: int = 2, echo: Echo = print, progress: bool = True,
              command: str | None = None) -> SweepResults:
    """Run every trial of ``sweep`` not yet finished in ``out`` (a LocalCluster of ``workers``
    processes, or the scheduler at address ``scheduler``) and write results.csv, results.md and
    plots into ``out``. Returns the rows; raises TrialsFailed after writing them when a trial
    failed. ``command``: how the sweep was started, for results.md."""
    check_scheduler(scheduler, workers)
    folder = SweepFolder(Path(out), sweep)  # checked, nothing created: refused before a cluster starts
    command = command or " ".join(shlex.quote(a) for a in ["neuropc", "sweep", sweep.source, "--out", str(out)])
    for warning in sweep.warnings:
        echo(f"warning: {warning}")
    pending = folder.pending
    outcomes: dict[str, TrialOutcome] = {}
    echo(f"sweep {sweep.source}: {len(sweep.trials)} trials of `neuropc {sweep.command}` -> {folder.path}"
         + (f"; {len(folder.finished)} finished before, skipped" if folder.finished else ""))
    if pending:
        with dask_client(scheduler, workers) as client:
            folder.prepare()  # once a cluster is there to run the trials
            echo(f"dask dashboard: {client.dashboard_link}")
            with _progress(len(sweep.trials), len(folder.finished), progress) as advance:

                def on_done(name: str, outcome: TrialOutcome | None, error: BaseException | None) -> None:
                    if error is not None:
                        outcome = TrialOutcome(name, "failed", _error_text(error))
                    outcomes[name] = outcome
                    if outcome.status == "failed":
                        echo(f"trial {name} failed: {outcome.error}")
                    advance()

                _submit_all(client, {job.name: job for job in pending}, run_trial, retries, on_done)
    results = write_results(folder, outcomes, command)
    echo(f"wrote {', '.join(str(p.relative_to(folder.path)) for p in results.files)} in {folder.path}")
    if results.failed:
        raise TrialsFailed(f"{len(results.failed)} of {len(results.rows)} trials failed (errors in "
                           f"{folder.shown}/results.md); the others finished; run the same command again to "
                           "retry the failed ones", results)
    return results


@contextmanager
def _progress(total: int, done: int, shown: bool) -> Iterator[Callable[[], None]]:
    """A progress bar over trials (nothing when ``shown`` is false); yields ``advance``."""
    if not shown:
        yield lambda: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("[bold]trials"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()) as bar:
        task = bar.add_task("trials", total=total, completed=done)
        yield lambda: bar.advance(task)
