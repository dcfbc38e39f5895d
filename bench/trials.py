"""Trials of a benchmark grid: one spec file plus dotted-path overrides, run by one function.

A grid is a list of plain mappings ``{"label": ..., "spec": "examples/copy.yaml",
"overrides": {"rule.name": "bptt", "run.seed": 1, ...}}`` (optionally ``"probe_rules"``:
label -> rule overrides, more rules measured at the trial's own parameters), so any executor that can call
``run_trial`` on a mapping runs it: here the sweep's Dask machinery (``run_trials``). Each trial
trains with the numpy reference and, at every evaluation, measures the rule's update against
the BPTT gradient on a fixed batch of held-out sequences (``neuropc.reference.approximation``).
Results are cached as JSON by the trial's content, so an interrupted grid resumes where it
stopped and a changed trial runs again.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from machine import cpu_name  # bench/machine.py

from neuropc.errors import RunStopped
from neuropc.reference.approximation import probe
from neuropc.reference.network import Architecture, Params
from neuropc.spec import load_spec
from neuropc.tasks import task_from_spec
from neuropc.training import train

ROOT = Path(__file__).resolve().parents[1]
#: the cache of finished trials every benchmark shares (the same trial runs once)
DEFAULT_RUNS = ROOT / "runs" / "trials"
#: held-out sequences (streams, for charlm) the update is probed on at every evaluation
PROBE_SEQUENCES = 16
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

Trial = Mapping[str, Any]


def trial_key(trial: Trial) -> str:
    """A short name for the trial's content (its cache file)."""
    text = json.dumps({"spec": trial["spec"], "overrides": trial["overrides"],
                       **({"probe_rules": trial["probe_rules"]} if "probe_rules" in trial else {})}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_trial(trial: Trial) -> dict[str, Any]:
    """Train one trial; returns its metrics rows (with ``eval_probe_*`` measurements), wall
    time, the test split's metrics for tasks that have one, or the reason it stopped."""
    spec = load_spec(ROOT / trial["spec"]).with_overrides(dict(trial["overrides"]))
    arch = Architecture.from_spec(spec)
    task = task_from_spec(spec.task)
    probe_batch = task.held_out(spec.run.seed, PROBE_SEQUENCES)

    # other rules measured at the same parameters (label -> rule overrides): how each
    # approximation would move this very trajectory, free of differences between trajectories
    others = {label: spec.with_overrides(dict(overrides)).rule
              for label, overrides in trial.get("probe_rules", {}).items()}

    def measure(params: Params) -> dict[str, float]:
        row = probe(arch, spec.rule, params, probe_batch).as_row("probe_")
        for label, rule in others.items():
            row.update(probe(arch, rule, params, probe_batch).as_row(f"{label}/probe_"))
        return row

    result: dict[str, Any] = {"label": trial["label"], "spec": trial["spec"],
                              "overrides": dict(trial["overrides"])}
    started = time.perf_counter()
    try:
        trained = train(spec, probe=measure)
    except RunStopped as stopped:
        result.update(stopped=str(stopped), stopped_at=stopped.step, rows=[],
                      wall_time_s=time.perf_counter() - started)
        return result
    result.update(rows=trained.metrics, wall_time_s=trained.wall_time)
    if trained.test is not None:  # a task with a test split: scored once, at the end
        result["test"] = trained.test
    return result


def run_trials(trials: Sequence[Trial], runs: Path, jobs: int,
               on_done: Callable[[dict[str, Any]], None] | None = None,
               run_missing: bool = True, scheduler: str = "local") -> list[dict[str, Any]]:
    """Every trial's result, in the order given: cached ones read from ``runs``, the others
    run on the sweep's Dask machinery (``neuropc.sweep.run_on_dask``: a LocalCluster of
    ``jobs`` single-threaded workers, or the scheduler at ``scheduler``; a crashed trial is
    retried, a killed worker's trial rescheduled). ``run_missing`` False: not run, returned
    as ``{"label": ..., "missing": True, "rows": []}``. A trial that still fails ends the
    grid with its error after the others finished (their results are cached)."""
    from neuropc.sweep import run_on_dask

    runs.mkdir(parents=True, exist_ok=True)
    results: dict[int, dict[str, Any]] = {}
    pending: dict[str, list[int]] = {}  # a trial's content -> where it stands in the grid
    for index, trial in enumerate(trials):
        cached = runs / f"{trial_key(trial)}.json"
        if cached.exists():
            results[index] = {**json.loads(cached.read_text()), "cached": True}
        else:
            pending.setdefault(trial_key(trial), []).append(index)
    if pending and not run_missing:
        for index in (i for indexes in pending.values() for i in indexes):
            results[index] = {"label": trials[index]["label"], "missing": True, "rows": [], "wall_time_s": 0.0}
        pending = {}
    failed: list[str] = []

    def finished(key: str, result: dict[str, Any] | None, error: BaseException | None) -> None:
        if error is not None:
            failed.append(f"{trials[pending[key][0]]['label']}: {type(error).__name__}: {error}")
            return
        (runs / f"{key}.json").write_text(json.dumps(result))
        for index in pending[key]:
            results[index] = result
        if on_done is not None:
            on_done(result)

    os.environ.update(ONE_THREAD)
    # the workers import this module (and bench/machine.py) by name
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT / "bench"), str(ROOT), os.environ.get("PYTHONPATH", "")])
    run_on_dask(run_trial, {key: trials[indexes[0]] for key, indexes in pending.items()}, scheduler=scheduler,
                workers=jobs, on_done=finished)
    if failed:
        raise SystemExit("trials failed (the others are cached; run again to retry):\n" + "\n".join(failed))
    return [results[index] for index in range(len(trials))]


#: the machine's 1-minute load average when this module was imported (before any trial ran)
LOAD_AT_START = os.getloadavg()[0]


def generated_by(minutes: float, jobs: int, results: Sequence[Mapping[str, Any]]) -> str:
    """The first sentence of a results file: the exact command, how long it took and where.
    Trials read from the cache ran earlier, so their own train times are summed as well. The
    load average before the run says whether anything else was running (a quiet machine reads
    near 0; the run's own workers add about ``jobs``)."""
    command = " ".join(["python", f"bench/{Path(sys.argv[0]).name}", *sys.argv[1:]])
    trained = sum(result["wall_time_s"] for result in results) / 60
    cached = sum(1 for result in results if result.get("cached"))
    return (f"Generated by `{command}` in {minutes:.1f} min ({jobs} runs at a time, one BLAS thread each; "
            f"{cached} of the {len(results)} trials were read from the cache of earlier runs of the same "
            f"command; the trials' own train times add up to {trained:.1f} min; 1-minute load average "
            f"{LOAD_AT_START:.2f} before the run and {os.getloadavg()[0]:.2f} at its end, on "
            f"{os.cpu_count()} cores) on {cpu_name()}, Python {platform.python_version()}.")
