"""The ``neuropc`` command line. Every user error is printed as one message, exit code 2.

This package is the top layer: it is the only one allowed to import the reference
(``neuropc``), the compiler and hwsim alike. ``check`` and ``train`` are defined here;
``compile``/``inspect`` (``neuropc.cli.compile``), ``simulate`` (``neuropc.cli.simulate``)
``report`` (``neuropc.cli.report``), ``deploy`` (``neuropc.cli.deploy``) and ``sweep``
(``neuropc.cli.sweep``) live in their own modules.
"""

from __future__ import annotations

from pathlib import Path

import click

from neuropc.cli.errors import user_errors
from neuropc.errors import NeuropcError
from neuropc.spec.schema import MAX_STEPS, NetworkSpec


@click.group()
@click.version_option(package_name="neuropc")
def main() -> None:
    """Train, compile and simulate tPC-RTRL networks for neuromorphic hardware."""


@main.command()
@click.argument("spec_path", metavar="NET.YAML", type=click.Path(path_type=Path))
@user_errors
def check(spec_path: Path) -> None:
    """Validate a spec and print its layers, parameter counts, rule and task."""
    from neuropc.cli.inputs import load_checked_spec
    from neuropc.training import describe

    spec = load_checked_spec(spec_path, ("train", "simulate", "compile"))
    click.echo(describe(spec))
    warn_about(spec)


@main.command()
@click.argument("spec_path", metavar="NET.YAML", type=click.Path(path_type=Path), required=False)
@click.option("--rule", type=click.Choice(["bptt", "tpc", "tpc-rtrl", "spatial-bp"]),
              help="Learning rule (overrides rule.name).")
@click.option("--steps", type=click.IntRange(min=0, max=MAX_STEPS), help="Training batches (overrides run.steps).")
@click.option("--seed", type=click.IntRange(min=0, max=2**63 - 1), help="Random seed (overrides run.seed).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              help="Run folder (default runs/NAME-RULE-TIME).")
@click.option("--force", is_flag=True, help="Replace the run files in an existing --out run folder.")
@click.option("--resume", "resume_dir", type=click.Path(path_type=Path), metavar="DIR",
              help="Continue the run in this folder from its last checkpoint.")
@user_errors
def train(spec_path: Path | None, rule: str | None, steps: int | None, seed: int | None,
          out_dir: Path | None, force: bool, resume_dir: Path | None) -> None:
    """Train a spec with the numpy reference and write metrics, curve and checkpoint."""
    from neuropc.cli.errors import stop_on_signals
    from neuropc.cli.inputs import check_spec, load_checked_spec
    from neuropc.progress import TrainingProgress
    from neuropc.run_files import RunDirectory, check_run_folder, default_run_path
    from neuropc.tasks import task_from_spec
    from neuropc.tasks.base import metric_text, test_text
    from neuropc.training import train as run_training

    checkpoint = None
    if resume_dir is not None:
        if spec_path is not None or rule or steps is not None or seed is not None or out_dir or force:
            raise NeuropcError("--resume DIR continues a run as it was started: give no NET.YAML, "
                               "--rule, --steps, --seed, --out or --force with it")
        checkpoint, run_dir = open_resumed_run(resume_dir, "train")
        spec = checkpoint.spec
    else:
        if spec_path is None:
            raise NeuropcError("give a spec (neuropc train NET.YAML) or a run folder to resume "
                               "(neuropc train --resume DIR)")
        spec = load_checked_spec(spec_path, ("train",))
        overrides = {"rule.name": rule, "run.steps": steps, "run.seed": seed}
        overrides = {k: v for k, v in overrides.items() if v is not None}
        if overrides:
            spec = _apply_overrides(spec, overrides)
            check_spec(spec, None, ("train",))
        out = out_dir if out_dir is not None else default_run_path(spec)
        check_run_folder(out, force)
        warn_about(spec)
        run_dir = RunDirectory(out, force=force)
    start = checkpoint.step if checkpoint is not None else 0
    click.echo(f"{'resuming' if checkpoint else 'training'} '{spec.name}' with {spec.rule.name} "
               f"{f'at step {start} ' if checkpoint else ''}for {spec.run.steps} steps -> {run_dir.path}")
    task = task_from_spec(spec.task)
    click.echo(f"task: {task.describe()}")  # e.g. which corpus file charlm reads
    metrics = task.metrics
    with stop_on_signals() as stop, TrainingProgress(spec.run.steps, metrics=metrics, start=start) as progress:
        result = run_training(spec, run_dir, on_step=progress.update, resume=checkpoint, stop=stop)
    final = result.final
    click.echo(f"done in {result.wall_time:.1f} s: held-out loss {final['eval_loss']:.4f}"
               + metric_text(metrics, final))
    if result.test is not None:
        click.echo(test_text(metrics, result.test))
    click.echo(f"wrote {run_dir.path}/metrics.jsonl, curve.png, checkpoint.npz, spec.yaml")


def open_resumed_run(folder: Path, command: str):
    """(Checkpoint with its rows, RunDirectory) of a run folder to continue with ``command``
    (``train`` or ``simulate``); refused when the run is finished or was made by the other."""
    from neuropc.run_files import RunDirectory, load_metrics, read_checkpoint

    if not folder.is_dir():
        raise NeuropcError(f"--resume {folder}: no such run folder")
    run_dir = RunDirectory(folder, resume=True)
    checkpoint = read_checkpoint(folder / "checkpoint.npz")
    made_by = "simulate" if "settings" in checkpoint.info else "train"
    if made_by != command:
        raise NeuropcError(f"--resume {folder}: this run was made by `neuropc {made_by}`; continue it "
                           f"with `neuropc {made_by} --resume {folder}`")
    if checkpoint.step >= checkpoint.spec.run.steps:
        raise NeuropcError(f"--resume {folder}: the run is finished (step {checkpoint.step} of "
                           f"{checkpoint.spec.run.steps}); nothing to resume")
    rows = [row for row in load_metrics(folder / "metrics.jsonl") if row.get("step", 0) <= checkpoint.step]
    run_dir.write_metrics(rows)
    checkpoint.loop.metrics = rows
    return checkpoint, run_dir


def warn_about(spec: NetworkSpec) -> None:
    """Print what a valid spec will not do as its author expects (``neuropc.spec.advice``)."""
    from neuropc.spec.advice import spec_warnings

    for warning in spec_warnings(spec):
        click.echo(f"warning: {warning}", err=True)


def _apply_overrides(spec: NetworkSpec, overrides: dict[str, object]) -> NetworkSpec:
    """Command-line overrides go through the same validation as the file."""
    from pydantic import ValidationError

    from neuropc.spec.loading import plain_message

    try:
        return spec.with_overrides(overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e.get('ctx', {}).get('error') or plain_message(e['msg'])}"
            for e in exc.errors(include_url=False)
        )
        raise NeuropcError(f"the command-line overrides make the spec invalid: {problems}") from None


def _register_commands() -> None:
    from neuropc.cli.compile import compile_command, inspect_command
    from neuropc.cli.deploy import deploy_command
    from neuropc.cli.report import report
    from neuropc.cli.simulate import simulate_command
    from neuropc.cli.sweep import sweep_command

    main.add_command(compile_command, "compile")
    main.add_command(inspect_command, "inspect")
    main.add_command(simulate_command, "simulate")
    main.add_command(report, "report")
    main.add_command(deploy_command, "deploy")
    main.add_command(sweep_command, "sweep")


_register_commands()
