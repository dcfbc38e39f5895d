"""``neuropc deploy``: run a compiled network as a process graph and write the state read back.

Where ``simulate`` trains and evaluates through the runner, ``deploy`` is the hardware-style
bring-up of one artifact: build the backend's process graph (for ``lava``, one Lava process
per core plus the sequencer), run N time steps of the artifact's own task (one sequence after
another, learning as the program says), read every bound buffer back and write it to an npz
file, so the deployment can be inspected or compared with another backend offline.

Errors: a missing backend dependency is one ``error:`` line with the install command (exit
2, via ``BackendUnavailable``); a failure inside a Lava ProcessModel is one line naming the
failing core (exit 1), after the backend tore its runtime down.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
import numpy as np

from neuropc.cli.errors import user_errors
from neuropc.errors import NeuropcError


def bound_state(backend: object, artifact: object) -> dict[str, np.ndarray]:
    """Every array a buffer is bound to, read through the protocol, keyed
    ``space.name[.part][.layerN][.copy]``."""
    from compiler.program import bound_extents

    extents = bound_extents(artifact.program)  # type: ignore[attr-defined]
    out: dict[str, np.ndarray] = {}
    for (space, name, part, layer, copy), shape in sorted(extents.items(), key=str):
        label = ".".join([space, name] + ([part] if part else []) + ([f"layer{layer}"] if layer is not None else [])
                         + (["copy"] if copy else []))
        out[label] = backend.read(space, name, tuple(shape), part=part, layer=layer, copy=copy)  # type: ignore[attr-defined]
    return out


def deploy(source: Path, *, backend: str = "lava", run_steps: int | None = None,
           out_dir: Path | None = None, echo=click.echo) -> Path:
    """What ``neuropc deploy`` does; returns the npz path."""
    from hwsim.backends import backend_names, open_backend
    from hwsim.runner import updates_online
    from neuropc.api import load_source
    from neuropc.tasks import task_from_params

    if backend not in backend_names():
        raise NeuropcError(f"--backend {backend}: choose one of {', '.join(backend_names())}")
    artifact = load_source(source)
    settings = artifact.program.settings
    task = task_from_params(settings.task.params)
    length = task.sequence_length
    steps = length if run_steps is None else run_steps
    started = time.perf_counter()
    executor = open_backend(backend, artifact, 1)
    build = time.perf_counter() - started
    config = getattr(executor, "run_config", "in-process (no run configuration)")
    processes = getattr(executor, "processes", None)
    echo(f"backend {backend}: {config}"
         + (f", {processes} processes" if processes else "") + f", built in {build:.2f} s")
    try:
        rng = np.random.default_rng(settings.run.seed)
        online = updates_online(artifact.program)
        done, loss, sequences = 0, 0.0, 0
        started = time.perf_counter()
        while done < steps:
            batch = task.sample(rng, 1)
            take = min(length, steps - done)
            end = take == length
            out = executor.run(batch.inputs[:take], batch.targets[:take], batch.mask[:take], train=True,
                               reset=True, apply_end=end and not online,
                               scale=1.0 / max(batch.loss_steps(), 1))
            loss += float(out.loss.sum())
            executor.take_counts()  # core_totals sums the counts taken
            done += take
            sequences += 1
        wall = time.perf_counter() - started
        state = bound_state(executor, artifact)
        counts = executor.core_totals()
    finally:
        close = getattr(executor, "close", None)
        if close is not None:
            close()
    folder = out_dir or Path("deploy") / f"{Path(source).stem}-{backend}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "state.npz"
    extra = {"counts.per_core": counts} if counts is not None else {}
    np.savez(path, **state, **extra)
    echo(f"ran {steps} time steps ({sequences} sequences) in {wall:.2f} s "
         f"({1e3 * wall / max(steps, 1):.1f} ms per step), summed masked loss {loss:.4f}")
    echo(f"wrote {path} ({len(state)} arrays read back)")
    return path


@click.command("deploy")
@click.argument("source", metavar="NET.npc|NET.yaml", type=click.Path(path_type=Path))
@click.option("--backend", default="lava", show_default=True, metavar="NAME",
              help="Backend that builds and runs the process graph.")
@click.option("--run-steps", type=click.IntRange(min=0),
              help="Time steps to run (default: one sequence of the artifact's task).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              help="Folder for state.npz (default deploy/NAME-BACKEND).")
@user_errors
def deploy_command(source: Path, backend: str, run_steps: int | None, out_dir: Path | None) -> None:
    """Deploy a compiled network on a backend (Lava processes by default), run it on its
    task and write the state read back."""
    try:
        deploy(source, backend=backend, run_steps=run_steps, out_dir=out_dir)
    except NeuropcError:
        raise
    except RuntimeError as exc:
        from hwsim.backends.lava import LavaProcessError  # importable: the lava backend ran

        if not isinstance(exc, LavaProcessError):
            raise
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
