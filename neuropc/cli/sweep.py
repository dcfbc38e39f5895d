"""``neuropc sweep``: run a grid of ``neuropc train`` or ``neuropc simulate`` trials on Dask.

Registered on the ``neuropc`` group by ``neuropc/cli/__init__.py``. The sweep file and every
trial it expands to are validated, and the output folder checked, before a cluster starts;
running the same command again skips the trials that finished (docs/sweeps.md).
"""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from neuropc.cli.errors import user_errors


@click.command("sweep")
@click.argument("sweep_path", metavar="SWEEP.yaml", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              help="Sweep folder (default runs/SWEEP, the sweep file's name); the same folder again "
                   "resumes the sweep, skipping finished trials.")
@click.option("--scheduler", default="local", show_default=True, metavar="local|ADDRESS",
              help="local: start a Dask LocalCluster here; or the address of a running Dask scheduler "
                   "(tcp://host:8786) whose workers see the sweep folder.")
@click.option("--workers", type=click.IntRange(min=1, max=4096),
              help="Worker processes of the local cluster, one thread each (default: one per core).")
@click.option("--retries", type=click.IntRange(min=0, max=100), default=2, show_default=True,
              help="Run a trial again this many times when it crashes with an unexpected error "
                   "(a trial whose worker dies is rescheduled by Dask in any case).")
@user_errors
def sweep_command(sweep_path: Path, out_dir: Path | None, scheduler: str, workers: int | None,
                  retries: int) -> None:
    """Run every trial of a sweep file (grid, trials, overrides of a base spec) as a Dask task,
    each into its own run folder; write results.csv, results.md and plots."""
    from neuropc.sweep import load_sweep, run_sweep
    from neuropc.sweep.cluster import check_scheduler

    check_scheduler(scheduler, workers)
    sweep = load_sweep(sweep_path)
    out = out_dir if out_dir is not None else Path("runs") / sweep_path.stem
    given = ["neuropc", "sweep", str(sweep_path), *(["--out", str(out_dir)] if out_dir is not None else []),
             *(["--scheduler", scheduler] if scheduler != "local" else []),
             *(["--workers", str(workers)] if workers is not None else [])]
    command = " ".join(shlex.quote(arg) for arg in given)
    results = run_sweep(sweep, out, scheduler=scheduler, workers=workers, retries=retries, echo=click.echo,
                        command=command)
    click.echo(f"all {len(results.rows)} trials done")
