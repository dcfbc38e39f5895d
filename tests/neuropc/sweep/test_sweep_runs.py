"""``neuropc sweep`` on a 2-worker Dask cluster: trials equal the commands run one by one, a
failing trial does not stop the others, a second run resumes, a killed worker's trial is
retried, and a finished trial is never written again."""

from __future__ import annotations

import csv
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from neuropc.cli import main
from neuropc.run_files import read_checkpoint
from neuropc.sweep import build_sweep, load_sweep, run_sweep
from tests.neuropc.cli.bad_input_helpers import snapshot
from tests.neuropc.sweep.sweep_helpers import metric_rows, tiny_spec_data, write_sweep

RULES, SEEDS = ("tpc", "bptt"), (0, 3)


def sweep_cli(path: Path, out: Path, address: str):
    return CliRunner().invoke(main, ["sweep", str(path), "--out", str(out), "--scheduler", address])


def test_a_grid_gives_the_runs_of_neuropc_train_and_resumes(scheduler: str, tmp_path: Path) -> None:
    path = write_sweep(tmp_path, {"command": "train", "grid": {"rule.name": list(RULES), "run.seed": list(SEEDS)},
                                  "overrides": {"run.steps": 5}})
    out = tmp_path / "out"
    result = sweep_cli(path, out, scheduler)
    assert result.exit_code == 0, result.output
    assert "dask dashboard: http" in result.output
    folders = sorted(p.name for p in (out / "runs").iterdir())
    assert folders == sorted(f"rule.name={r},run.seed={s}" for r in RULES for s in SEEDS)
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [(row["rule.name"], row["run.seed"], row["status"]) for row in rows] == [
        (r, str(s), "done") for r in RULES for s in SEEDS]
    for rule in RULES:
        for seed in SEEDS:
            trial = out / "runs" / f"rule.name={rule},run.seed={seed}"
            alone = tmp_path / f"alone-{rule}-{seed}"
            done = CliRunner().invoke(main, ["train", str(tmp_path / "net.yaml"), "--rule", rule, "--seed", str(seed),
                                             "--steps", "5", "--out", str(alone)])
            assert done.exit_code == 0, done.output
            assert metric_rows(trial) == metric_rows(alone)
            assert (trial / "spec.yaml").read_text() == (alone / "spec.yaml").read_text()
            mine, theirs = read_checkpoint(trial / "checkpoint.npz"), read_checkpoint(alone / "checkpoint.npz")
            assert mine.params.keys() == theirs.params.keys()
            assert all(np.array_equal(mine.params[k], theirs.params[k]) for k in mine.params)
            row = next(r for r in rows if r["trial"] == trial.name)
            assert float(row["eval_loss"]) == metric_rows(alone)[-1]["eval_loss"]
    assert "| tpc | 0 | done |" in (out / "results.md").read_text()
    assert {p.name for p in out.glob("*.png")} == {"rule.name.png", "run.seed.png"}

    runs_before = snapshot(out / "runs")
    again = sweep_cli(path, out, scheduler)
    assert again.exit_code == 0, again.output
    assert "4 finished before, skipped" in again.output and "dashboard" not in again.output
    assert snapshot(out / "runs") == runs_before  # nothing a finished trial wrote is touched
    assert list(csv.DictReader((out / "results.csv").open()))[0]["status"] == "done"


def test_a_failing_trial_is_reported_and_the_others_finish(scheduler: str, tmp_path: Path) -> None:
    path = write_sweep(tmp_path, {"command": "train", "grid": {"rule.optimizer.lr": [0.003, 10.0]},
                                  "overrides": {"rule.optimizer.name": "sgd", "run.steps": 30}})
    out = tmp_path / "out"
    result = sweep_cli(path, out, scheduler)
    assert result.exit_code == 1, result.output
    assert "trial rule.optimizer.lr=10.0 failed: training diverged" in result.output
    assert "1 of 2 trials failed" in result.output and "Traceback" not in result.output
    rows = {row["trial"]: row for row in csv.DictReader((out / "results.csv").open())}
    assert rows["rule.optimizer.lr=0.003"]["status"] == "done"
    assert rows["rule.optimizer.lr=10.0"]["status"] == "failed"
    assert "diverged" in rows["rule.optimizer.lr=10.0"]["error"]
    assert metric_rows(out / "runs" / "rule.optimizer.lr=0.003")[-1]["step"] == 30
    assert "Failed trials:" in (out / "results.md").read_text()
    # running again retries the failed trial only (it fails again: the spec diverges)
    again = sweep_cli(path, out, scheduler)
    assert again.exit_code == 1 and "1 finished before, skipped" in again.output, again.output


def test_a_finished_trial_whose_spec_changed_is_refused(scheduler: str, tmp_path: Path) -> None:
    sweep = {"command": "train", "grid": {"run.seed": [0]}, "overrides": {"run.steps": 2}}
    path = write_sweep(tmp_path, sweep)
    out = tmp_path / "out"
    assert sweep_cli(path, out, scheduler).exit_code == 0
    before = snapshot(out)
    path = write_sweep(tmp_path, {**sweep, "overrides": {"run.steps": 3}})
    result = sweep_cli(path, out, scheduler)
    assert result.exit_code == 2 and "finished with another spec" in result.output, result.output
    assert snapshot(out) == before


def _worker_running_a_trial(client) -> int | None:
    """The process id of the worker that is running a trial now (None before one starts)."""
    pids = client.run(os.getpid)
    for address, keys in client.processing().items():
        if any(str(key).startswith("trial-") for key in keys):
            return pids.get(address)
    return None


def test_a_killed_workers_trial_is_retried(scheduler: str, tmp_path: Path) -> None:
    """SIGKILL the worker process mid-trial: Dask reschedules the trial, which starts its run
    folder afresh and finishes with the metrics of an uninterrupted run."""
    from distributed import Client

    from neuropc.spec import load_spec
    from neuropc.training import train

    path = write_sweep(tmp_path, {"command": "train", "trials": [{"run.seed": 5}]}, base=tiny_spec_data(steps=300))
    sweep = load_sweep(path)
    out = tmp_path / "out"
    results: list = []
    runner = threading.Thread(target=lambda: results.append(
        run_sweep(sweep, out, scheduler=scheduler, echo=lambda text: None, progress=False)), daemon=True)
    runner.start()
    trial_folder = out / "runs" / "run.seed=5"
    killed = None
    with Client(scheduler) as client:
        deadline = time.monotonic() + 180  # generous: a loaded machine starts slowly
        while killed is None and time.monotonic() < deadline:
            pid = _worker_running_a_trial(client)
            if pid is not None and (trial_folder / "metrics.jsonl").is_file() and metric_rows(trial_folder):
                os.kill(pid, signal.SIGKILL)  # mid-trial: its first evaluation is on disk, 300 steps to go
                killed = pid
                assert not (trial_folder / "summary.json").exists(), "the trial ended before the kill"
            time.sleep(0.02)
    runner.join(timeout=600)
    assert killed is not None, "the trial never started"
    assert results, "the sweep did not finish in 10 minutes"
    (row,) = results[0].rows
    assert row["status"] == "done", row
    assert row["worker"] and not row["worker"].endswith(f":{killed}")  # finished by another process
    uninterrupted = train(load_spec(out / "specs" / "run.seed=5.yaml"))
    expected = [{k: v for k, v in r.items() if k != "elapsed_s"} for r in uninterrupted.metrics]
    assert metric_rows(trial_folder) == expected


def test_the_python_api_runs_a_list_of_trials(scheduler: str, tmp_path: Path) -> None:
    """What bench/reproduce.py calls: a spec and a list of settings."""
    from neuropc.spec import load_spec

    write_sweep(tmp_path, {})
    base = load_spec(tmp_path / "net.yaml")
    sweep = build_sweep(base, command="train", trials=[{"rule.name": "tpc"}, {"rule.name": "bptt", "run.seed": 2}],
                        overrides={"run.steps": 2})
    results = run_sweep(sweep, tmp_path / "api", scheduler=scheduler, echo=lambda text: None, progress=False)
    assert [(row["trial"], row["status"]) for row in results.rows] == [
        ("rule.name=tpc", "done"), ("rule.name=bptt,run.seed=2", "done")]
    assert metric_rows(tmp_path / "api" / "runs" / "rule.name=bptt,run.seed=2")[-1]["step"] == 2


def test_a_simulate_trial_writes_what_neuropc_simulate_writes(scheduler: str, tmp_path: Path) -> None:
    """command: simulate with energy_report: the run folder of `neuropc simulate SPEC
    --energy-report` with the trial's spec (counts, metrics, energy report alike)."""
    import json

    path = write_sweep(tmp_path, {"command": "simulate", "energy_report": True,
                                  "grid": {"hardware.event_threshold.activity": [0.05]},
                                  "overrides": {"hardware.event_threshold.error": 0.002, "run.steps": 4}})
    out = tmp_path / "out"
    result = sweep_cli(path, out, scheduler)
    assert result.exit_code == 0, result.output
    name = "hardware.event_threshold.activity=0.05"
    trial, alone = out / "runs" / name, tmp_path / "alone"
    done = CliRunner().invoke(main, ["simulate", str(out / "specs" / f"{name}.yaml"), "--energy-report",
                                     "--out", str(alone)])
    assert done.exit_code == 0, done.output
    assert metric_rows(trial) == metric_rows(alone)
    for document in ("counters.json", "energy.json"):
        assert json.loads((trial / document).read_text()) == json.loads((alone / document).read_text())
    (row,) = csv.DictReader((out / "results.csv").open())
    counts = json.loads((alone / "summary.json").read_text())["training_per_sequence"]
    assert float(row["train_synaptic_ops"]) == counts["synaptic_ops_effective"]
    assert float(row["energy_ratio"]) > 0


def test_a_lost_scheduler_ends_the_sweep_with_an_error(tmp_path: Path) -> None:
    """A scheduler that goes away mid-sweep is an error once the client stops reconnecting
    (Dask's connect timeout, here 2 s), not a sweep that waits forever."""
    import dask
    from distributed import LocalCluster

    from neuropc.errors import NeuropcError
    from neuropc.sweep.cluster import WORKER_ENV

    path = write_sweep(tmp_path, {"command": "train", "trials": [{"run.seed": 1}]}, base=tiny_spec_data(steps=100_000))
    sweep = load_sweep(path)
    errors: list[BaseException] = []

    def sweep_until_it_stops(address: str) -> None:
        try:
            run_sweep(sweep, tmp_path / "out", scheduler=address, echo=lambda text: None, progress=False)
        except NeuropcError as exc:
            errors.append(exc)

    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, env=WORKER_ENV,
                               dashboard_address=":0")
        runner = threading.Thread(target=sweep_until_it_stops, args=(cluster.scheduler_address,), daemon=True)
        runner.start()
        deadline = time.monotonic() + 180
        started = tmp_path / "out" / "runs" / "run.seed=1" / "metrics.jsonl"
        while not started.is_file() and time.monotonic() < deadline:
            time.sleep(0.05)
        cluster.close()
        runner.join(timeout=120)
    assert errors and "lost the Dask scheduler with 1 trials unfinished" in str(errors[0])
