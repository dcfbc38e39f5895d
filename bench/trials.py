"""Trials of a benchmark grid: one spec file plus dotted-path overrides, run by one function.

A grid is a list of plain mappings ``{"label": ..., "spec": "examples/copy.yaml",
"overrides": {"rule.name": "bptt", "run.seed": 1, ...}}`` (optionally ``"probe_rules"``:
label -> rule overrides, more rules measured at the trial's own parameters), so any executor that can call
``run_trial`` on a mapping (a process pool here, a sweep scheduler later) runs it. Each trial
trains with the numpy reference and, at every evaluation, measures the rule's update against
the BPTT gradient on a fixed batch of held-out sequences (``neuropc.reference.approximation``).
Results are cached as JSON by the trial's content, so an interrupted grid resumes where it
stopped and a changed trial runs again.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import platform
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
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
               run_missing: bool = True) -> list[dict[str, Any]]:
    """Every trial's result, in the order given: cached ones read from ``runs``, the others
    run ``jobs`` at a time in fresh processes with one BLAS thread each (``run_missing``
    False: not run, returned as ``{"label": ..., "missing": True, "rows": []}``)."""
    runs.mkdir(parents=True, exist_ok=True)
    results: dict[int, dict[str, Any]] = {}
    pending = []
    for index, trial in enumerate(trials):
        cached = runs / f"{trial_key(trial)}.json"
        if cached.exists():
            results[index] = {**json.loads(cached.read_text()), "cached": True}
        else:
            pending.append(index)
    if pending and not run_missing:
        for index in pending:
            results[index] = {"label": trials[index]["label"], "missing": True, "rows": [], "wall_time_s": 0.0}
        pending = []
    if pending:
        os.environ.update(ONE_THREAD)  # read by numpy in the spawned workers
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            futures = {pool.submit(run_trial, trials[index]): index for index in pending}
            for future in as_completed(futures):
                index = futures[future]
                result = future.result()
                (runs / f"{trial_key(trials[index])}.json").write_text(json.dumps(result))
                results[index] = result
                if on_done is not None:
                    on_done(result)
    return [results[index] for index in range(len(trials))]


def generated_by(minutes: float, jobs: int, results: Sequence[Mapping[str, Any]]) -> str:
    """The first sentence of a results file: the exact command, how long it took and where.
    Trials read from the cache ran earlier, so their own train times are summed as well."""
    command = " ".join(["python", f"bench/{Path(sys.argv[0]).name}", *sys.argv[1:]])
    trained = sum(result["wall_time_s"] for result in results) / 60
    cached = sum(1 for result in results if result.get("cached"))
    return (f"Generated by `{command}` in {minutes:.1f} min ({jobs} runs at a time, one BLAS thread each; "
            f"{cached} of the {len(results)} trials were read from the cache of earlier runs of the same "
            f"command; the trials' own train times add up to {trained:.1f} min; measured under load, other "
            f"agents shared the machine) on {cpu_name()}, Python {platform.python_version()}.")
