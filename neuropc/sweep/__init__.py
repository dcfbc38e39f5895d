"""Sweeps: grids of trials of ``neuropc train`` or ``neuropc simulate``, run on Dask.

    from neuropc.sweep import build_sweep, load_sweep, run_sweep

    sweep = load_sweep("examples/sweep_thresholds.yaml")        # or build_sweep(spec, trials=[...])
    results = run_sweep(sweep, "runs/thresholds", workers=2)     # or scheduler="tcp://host:8786"
    print(results.rows)

This package sits on top, beside the command line: it calls the functions behind ``neuropc
train`` and ``neuropc simulate`` and nothing below imports it (a contract in pyproject.toml).
Modules: ``schema`` (the sweep file), ``expand`` (grid, trials and overrides to settings),
``naming`` (trial folder names), ``loading`` (validation of every trial), ``folder`` (the
sweep folder and resume), ``trial`` (one trial on a worker), ``cluster`` (LocalCluster or a
scheduler), ``run`` (submission, progress, failures) and ``results`` (csv, markdown, plots).
"""

from neuropc.sweep.loading import PlannedTrial, Sweep, build_sweep, load_sweep
from neuropc.sweep.results import SweepResults
from neuropc.sweep.run import TrialsFailed, run_on_dask, run_sweep

__all__ = ["PlannedTrial", "Sweep", "SweepResults", "TrialsFailed", "build_sweep", "load_sweep", "run_on_dask",
           "run_sweep"]
