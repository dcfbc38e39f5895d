"""The benchmark grids are lists of trial mappings; every trial must name a valid spec.

A typo in a dotted path or a value out of range would otherwise surface only minutes into
a long run, in a worker process."""

from __future__ import annotations

import sys

import pytest

from neuropc.spec import load_spec
from neuropc.tasks.charlm import default_corpus_path
from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import approximation  # noqa: E402  (bench/approximation.py)
import reproduce  # noqa: E402  (bench/reproduce.py)
from trials import trial_key  # noqa: E402  (bench/trials.py)


def all_trials() -> list[dict]:
    return [*reproduce.grid(False, default_corpus_path()), *reproduce.grid(True, None),
            *approximation.trials(approximation.STEPS, 100)]


@pytest.mark.parametrize("trial", all_trials(), ids=lambda trial: trial["label"])
def test_every_trial_is_a_valid_spec(trial: dict) -> None:
    spec = load_spec(ROOT / trial["spec"]).with_overrides(trial["overrides"])
    assert spec.run.seed == trial["overrides"].get("run.seed", 0)
    for overrides in trial.get("probe_rules", {}).values():
        spec.with_overrides(overrides)


def test_the_grid_covers_every_task_mode_and_seed_once() -> None:
    grid = reproduce.grid(False, default_corpus_path())
    assert len(grid) == len(reproduce.TASKS) * len(reproduce.MODES) * len(reproduce.SEEDS)
    assert len({trial_key(trial) for trial in grid}) == len(grid)
    assert not [t for t in reproduce.grid(False, None) if t["spec"] == reproduce.TASKS["charlm"].spec]


def test_a_grid_runs_on_the_sweeps_dask_machinery_and_resumes_from_its_cache(tmp_path) -> None:
    """Two trials (one of them twice in the grid) on a 2-worker LocalCluster: the results come
    back in grid order and are cached; a second call runs nothing and returns the same."""
    from trials import run_trials

    overrides = {"recurrent.size": 6, "readout.hidden": [5], "task.length": 3, "task.delay": 2,
                 "run.steps": 3, "run.batch": 2, "run.eval_every": 3, "run.eval_sequences": 4}
    grid = [{"label": f"copy | {rule} | 0", "spec": "examples/copy.yaml",
             "overrides": {**overrides, "rule.name": rule}} for rule in ("bptt", "tpc-rtrl", "bptt")]
    first = run_trials(grid, tmp_path, jobs=2)
    assert [r["label"] for r in first] == [t["label"] for t in grid]
    assert first[0] == first[2] and first[0]["rows"] and not first[0].get("cached")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({f"{trial_key(t)}.json" for t in grid})
    again = run_trials(grid, tmp_path, jobs=2, on_done=lambda result: pytest.fail("ran a cached trial"))
    assert [r["rows"] for r in again] == [r["rows"] for r in first] and all(r["cached"] for r in again)


def test_the_sysid_verdict_compares_filtering_with_the_open_loop_and_with_reading_the_observations() -> None:
    def result(mode: str, seed: int, opened: float, observed: float, filtered: float) -> dict:
        row = {"step": 10, "eval_prediction_rmse": 0.1, "eval_final_error_open_loop": opened,
               "eval_final_error_observed": observed, "eval_final_error_filtered": filtered}
        return {"label": f"sysid | {mode} | {seed}", "rows": [row]}

    filtered = {"bptt": 0.2, "spatial-bp": 1e120}
    cells = reproduce.by_cell([result(mode, seed, 0.5, 0.25, filtered.get(mode, 0.3))
                               for mode in reproduce.MODES for seed in reproduce.SEEDS])
    lines = [line for line in reproduce.verdict(cells) if line.startswith("- sysid filtering")]
    assert len(lines) == len(reproduce.MODES)
    bptt = next(line for line in lines if ", bptt:" in line)
    assert "filtering ahead" in bptt and "the inference takes another 20.0% off" in bptt
    exact = next(line for line in lines if "tpc-rtrl exact" in line)
    assert "the inference adds 20.0% to the error" in exact
    diverged = next(line for line in lines if "spatial-bp" in line)
    assert "filtering NOT ahead" in diverged and "4e+120 times worse (it diverges)" in diverged
    table = "\n".join(reproduce.results_table(cells))
    assert "| **sysid, final position error observed, no inference (m)** | 0.250 ± 0.000" in table
