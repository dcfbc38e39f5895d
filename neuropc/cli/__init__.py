"""The ``neuropc`` command line. Every user error is printed as one message, exit code 2.

This package is the top layer: it is the only one allowed to import the reference
(``neuropc``), the compiler and hwsim alike. ``check`` and ``train`` are defined here;
``compile``/``inspect`` (``neuropc.cli.compile``), ``simulate`` (``neuropc.cli.simulate``)
``report`` (``neuropc.cli.report``) and ``deploy``
(``neuropc.cli.deploy``) live in their own modules.
"""

from __future__ import annotations

from pathlib import Path

import click

from neuropc.cli.errors import user_errors
from neuropc.errors import NeuropcError
from neuropc.spec.schema import NetworkSpec


@click.group()
@click.version_option(package_name="neuropc")
def main() -> None:
    """Train, compile and simulate tPC-RTRL networks for neuromorphic hardware."""


@main.command()
@click.argument("spec_path", metavar="NET.YAML", type=click.Path(path_type=Path))
@user_errors
def check(spec_path: Path) -> None:
    """Validate a spec and print its layers, parameter counts, rule and task."""
    from neuropc.spec import load_spec
    from neuropc.training import describe

    spec = load_spec(spec_path)
    click.echo(describe(spec))
    warn_about(spec)


@main.command()
@click.argument("spec_path", metavar="NET.YAML", type=click.Path(path_type=Path))
@click.option("--rule", type=click.Choice(["bptt", "tpc", "tpc-rtrl", "spatial-bp"]),
              help="Learning rule (overrides rule.name).")
@click.option("--steps", type=click.IntRange(min=0), help="Training batches (overrides run.steps).")
@click.option("--seed", type=click.IntRange(min=0), help="Random seed (overrides run.seed).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              help="Run folder (default runs/NAME-RULE-TIME).")
@click.option("--force", is_flag=True, help="Write into a non-empty --out folder.")
@user_errors
def train(spec_path: Path, rule: str | None, steps: int | None, seed: int | None,
          out_dir: Path | None, force: bool) -> None:
    """Train a spec with the numpy reference and write metrics, curve and checkpoint."""
    from neuropc.progress import TrainingProgress
    from neuropc.run_files import RunDirectory, default_run_path
    from neuropc.spec import load_spec
    from neuropc.tasks import task_from_spec
    from neuropc.tasks.base import metric_text
    from neuropc.training import train as run_training

    spec = load_spec(spec_path)
    overrides = {"rule.name": rule, "run.steps": steps, "run.seed": seed}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if overrides:
        spec = _apply_overrides(spec, overrides)
    warn_about(spec)
    run_dir = RunDirectory(out_dir or default_run_path(spec), force=force)
    click.echo(f"training '{spec.name}' with {spec.rule.name} for {spec.run.steps} steps "
               f"-> {run_dir.path}")
    metrics = task_from_spec(spec.task).metrics
    with TrainingProgress(spec.run.steps, metrics=metrics) as progress:
        result = run_training(spec, run_dir, on_step=progress.update)
    final = result.final
    click.echo(f"done in {result.wall_time:.1f} s: held-out loss {final['eval_loss']:.4f}"
               + metric_text(metrics, final))
    click.echo(f"wrote {run_dir.path}/metrics.jsonl, curve.png, checkpoint.npz, spec.yaml")


def warn_about(spec: NetworkSpec) -> None:
    """Print what a valid spec will not do as its author expects (``neuropc.spec.advice``)."""
    from neuropc.spec.advice import spec_warnings

    for warning in spec_warnings(spec):
        click.echo(f"warning: {warning}", err=True)


def _apply_overrides(spec: NetworkSpec, overrides: dict[str, object]) -> NetworkSpec:
    """Command-line overrides go through the same validation as the file."""
    from pydantic import ValidationError

    try:
        return spec.with_overrides(overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e.get('ctx', {}).get('error') or e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise NeuropcError(f"the command-line overrides make the spec invalid: {problems}") from None


def _register_commands() -> None:
    from neuropc.cli.compile import compile_command, inspect_command
    from neuropc.cli.deploy import deploy_command
    from neuropc.cli.report import report
    from neuropc.cli.simulate import simulate_command

    main.add_command(compile_command, "compile")
    main.add_command(inspect_command, "inspect")
    main.add_command(simulate_command, "simulate")
    main.add_command(report, "report")
    main.add_command(deploy_command, "deploy")


_register_commands()
