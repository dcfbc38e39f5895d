"""``neuropc simulate``: train and evaluate a compiled network on the hwsim engine.

Registered on the ``neuropc`` group by ``neuropc/cli/__init__.py``. The command body only parses
options and calls ``run_simulation``, which returns the ``SimulationResult`` (WorkCounts per
training sequence and per held-out sequence and time step, metrics), so reports such as an
energy breakdown can be added on top of it. Every user error is a NeuropcError: one
``error: ...`` line and exit status 2.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from neuropc.cli.errors import user_errors
from neuropc.errors import NeuropcError
from neuropc.spec.schema import MAX_SEQUENCES, MAX_STEPS

#: the most worker threads ``--threads`` accepts
MAX_THREADS = 256

if TYPE_CHECKING:
    from compiler.artifact import Artifact
    from hwsim.costs import CostProfile
    from hwsim.runner import SimulationResult
    from neuropc.run_files import Checkpoint, RunDirectory


def parse_threshold(text: str | None) -> float | dict[str, float] | None:
    """``--threshold``: a number (activities and errors alike) or ``activity=A,error=E``
    (either may be left out and keeps the spec's value). Only the syntax: the values are
    checked where every threshold is, by ``EventThresholds`` (``simulate.event_thresholds``)."""
    if text is None:
        return None
    usage = "expected a number, or activity=A,error=E (either part may be left out)"

    def number(value: str) -> float:
        try:
            return float(value)
        except ValueError:
            raise NeuropcError(f"--threshold {text}: {value.strip()!r} is not a number; {usage}") from None

    if "=" not in text:
        return number(text)
    parts: dict[str, float] = {}
    for item in text.split(","):
        key, _, value = (piece.strip() for piece in item.partition("="))
        if key not in ("activity", "error"):
            raise NeuropcError(f"--threshold {text}: {key!r} is not a population; {usage}")
        if key in parts:
            raise NeuropcError(f"--threshold {text}: {key} given twice")
        parts[key] = number(value)
    return parts


def file_digest(path: Path) -> str:
    """SHA-256 of a file: a resumed run checks that its source is the one it started from."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def run_simulation(source: Path, *, backend: str = "native", steps: int | None = None,
                   threshold: float | dict[str, float] | None = None,
                   number_format: str = "float64", batch: int | None = None,
                   sequential: bool = False, dense: bool = False,
                   calibration_sequences: int | None = None, out_dir: Path | None = None,
                   force: bool = False, echo: Callable[[str], None] = click.echo,
                   progress: bool = True, artifact: Artifact | None = None,
                   resume: Checkpoint | None = None, run_dir: RunDirectory | None = None,
                   options_record: dict[str, Any] | None = None, threads: int | None = None):
    """What ``neuropc simulate`` does; returns (SimulationResult, run folder path).

    Everything is checked (formats, backend, thresholds, lanes, memory, the run folder)
    before the run folder is created. ``resume`` and ``run_dir``: continue the checkpoint of
    that run folder; ``options_record``: the options as given, kept in checkpoints for it;
    ``threads``: the native engine's worker threads (None: its default)."""
    from hwsim.backends import backend_factory, backend_names
    from hwsim.number_format import NUMBER_FORMATS
    from hwsim.runner import event_thresholds, lanes_for, recorded_spec, simulate
    from hwsim.team import THREADS_VARIABLE, threads_setting
    from neuropc.api import load_source
    from neuropc.cli import warn_about
    from neuropc.cli.errors import stop_on_signals
    from neuropc.errors import FieldProblem
    from neuropc.progress import TrainingProgress
    from neuropc.resources import check_memory
    from neuropc.run_files import RunDirectory, check_run_folder
    from neuropc.tasks import task_from_spec

    if number_format not in NUMBER_FORMATS:
        raise NeuropcError(f"--format {number_format}: choose one of {', '.join(NUMBER_FORMATS)}")
    if backend not in backend_names():
        raise NeuropcError(f"--backend {backend}: choose one of {', '.join(backend_names())}")
    run_config = getattr(backend_factory(backend), "run_config", None)  # BackendUnavailable: exit 2
    try:
        threads_setting(os.environ.get(THREADS_VARIABLE))
    except ValueError as problem:
        raise NeuropcError(str(problem)) from None
    artifact = artifact if artifact is not None else load_source(source)
    spec = resume.spec if resume is not None else recorded_spec(artifact, steps=steps, batch=batch)
    thresholds = event_thresholds(artifact.program, threshold)
    lanes_for(artifact.program, spec.run.batch, 1 if sequential else None,  # refuse before writing
              task_from_spec(spec.task).carries_state)
    try:
        check_memory(spec, "simulate", batch=batch)
    except FieldProblem as problem:
        raise NeuropcError(f"{source}: {problem}") from None
    out = out_dir or Path("runs") / f"{spec.name}-{spec.rule.name}-hwsim-{time.strftime('%Y%m%d-%H%M%S')}"
    if run_dir is None:
        check_run_folder(out, force)
    warn_about(spec)
    total = spec.run.steps
    if run_dir is None:
        run_dir = RunDirectory(out, force=force)
    mode = "one sequence after another" if sequential else "lockstep"
    echo(f"{'resuming' if resume else 'simulating'} '{spec.name}' ({spec.rule.name}, "
         f"{len(artifact.program.cores)} cores) on the {backend} backend "
         f"{f'at step {resume.step} ' if resume else ''}for "
         f"{total} steps, {number_format}, threshold {thresholds}"
         f"{', dense' if dense else ''}, batch {spec.run.batch} ({mode}) -> {run_dir.path}")
    info = {"run": {**(options_record or {}), "source": str(source.resolve()),
                    "sha256": file_digest(source)}}
    if run_config:
        echo(f"{backend} run configuration: {run_config}")
    options = {"backend": backend, "steps": steps, "threshold": thresholds, "spec": spec,
               "number_format": number_format,
               "batch": batch, "lanes": 1 if sequential else None, "dense": dense,
               "calibration_sequences": calibration_sequences, "run_dir": run_dir,
               "resume": resume, "checkpoint_info": info, "threads": threads}
    with stop_on_signals() as stop:
        if progress:
            metrics = task_from_spec(spec.task).metrics
            with TrainingProgress(total, description="simulating", metrics=metrics,
                                  start=resume.step if resume else 0) as bar:
                result = simulate(artifact, on_step=bar.update, stop=stop, **options)
        else:
            result = simulate(artifact, stop=stop, **options)
    return result, run_dir.path


#: the options of ``neuropc simulate`` a resumed run takes from its checkpoint
RESUMED_OPTIONS = ("steps", "backend", "threshold", "number_format", "batch", "sequential", "dense",
                   "calibration_sequences", "energy_report", "chip_profile", "conventional_profile")


@click.command("simulate")
@click.argument("source", metavar="NET.npc|NET.yaml", type=click.Path(path_type=Path), required=False)
@click.option("--steps", type=click.IntRange(min=0, max=MAX_STEPS), help="Training batches (overrides run.steps).")
@click.option("--backend", default="native", show_default=True, metavar="NAME",
              help="Executor of the compiled program: native (Numba, fast) or interpreter "
                   "(each op's documented semantics in numpy; slow, the oracle).")
@click.option("--threshold", metavar="T|activity=A,error=E",
              help="Delta-coding threshold: a value is sent when it moved more than this since "
                   "its last send; one number for activities and errors, or each its own "
                   "(overrides hardware.event_threshold; 0 sends every change).")
@click.option("--format", "number_format", default="float64", show_default=True,
              help="Number format: float64, float32 or fixed (the target's bit widths).")
@click.option("--batch", type=click.IntRange(min=1, max=MAX_SEQUENCES),
              help="Sequences per batch (overrides run.batch).")
@click.option("--sequential", is_flag=True,
              help="Run the sequences of a batch one after another, as a chip does "
                   "(update mode 'sequence' only), instead of in lockstep lanes.")
@click.option("--dense", is_flag=True,
              help="Send every value on every send and count every synapse (clock-driven chip).")
@click.option("--calibration-sequences", type=click.IntRange(min=1, max=MAX_SEQUENCES),
              help="Fixed point: choose the ranges from this many float64 training sequences "
                   "(default: a float64 run of the whole training first).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              help="Run folder (default runs/NAME-RULE-hwsim-TIME).")
@click.option("--force", is_flag=True, help="Replace the run files in an existing --out run folder.")
@click.option("--energy-report", is_flag=True,
              help="Price the run's counts on a neuromorphic profile against BPTT on a conventional "
                   "one (static x time + dynamic on both sides, ranges over every constant); print the "
                   "report and write energy.json and energy.png.")
@click.option("--profile", "chip_profile", metavar="NAME|FILE",
              help="Neuromorphic cost profile (default: the target's, e.g. loihi2-estimate).")
@click.option("--vs", "conventional_profile", metavar="NAME|FILE", default="gpu-h100", show_default=True,
              help="Conventional cost profile that BPTT is priced on.")
@click.option("--resume", "resume_dir", type=click.Path(path_type=Path), metavar="DIR",
              help="Continue the run in this folder from its last checkpoint (with its options).")
@click.option("--threads", type=click.IntRange(min=1, max=MAX_THREADS),
              help="Worker threads of the native backend, which split the lanes (with fewer than two "
                   "lanes each, the cores of each stage); no result depends on it (default: "
                   "NEUROPC_THREADS, else two on two or more CPUs once the batch's work is large "
                   "enough, e.g. the copy example from batch 8). "
                   "May change on --resume.")
@user_errors
def simulate_command(source: Path | None, steps: int | None, backend: str, threshold: str | None,
                     number_format: str, batch: int | None, sequential: bool, dense: bool,
                     calibration_sequences: int | None, out_dir: Path | None,
                     force: bool, energy_report: bool, chip_profile: str | None,
                     conventional_profile: str, resume_dir: Path | None, threads: int | None) -> None:
    """Train and evaluate a compiled network (or a spec, compiled on the fly) on the
    event-driven simulator; write metrics, counters.json, curve and checkpoint."""
    from neuropc.api import load_source
    from neuropc.cli.inputs import named_value

    given = {"steps": steps, "backend": backend, "threshold": threshold, "number_format": number_format,
             "batch": batch, "sequential": sequential, "dense": dense,
             "calibration_sequences": calibration_sequences, "energy_report": energy_report,
             "chip_profile": chip_profile, "conventional_profile": conventional_profile}
    checkpoint = run_dir = None
    if resume_dir is not None:
        context = click.get_current_context()
        changed = [name for name in RESUMED_OPTIONS
                   if context.get_parameter_source(name) != click.core.ParameterSource.DEFAULT]
        if source is not None or changed or out_dir is not None or force:
            raise NeuropcError("--resume DIR continues a run with the options it was started with: "
                               "give no NET.npc and no other option with it")
        from neuropc.cli import open_resumed_run

        checkpoint, run_dir = open_resumed_run(resume_dir, "simulate")
        record = checkpoint.info.get("run", {})
        given = {name: record.get(name, given[name]) for name in RESUMED_OPTIONS}
        source = Path(record.get("source", ""))
        if not source.is_file() or file_digest(source) != record.get("sha256"):
            raise NeuropcError(f"--resume {resume_dir}: the run's source {source} is gone or has changed "
                               "since the run started; a resumed run must execute the same program")
    elif source is None:
        raise NeuropcError("give a compiled network or a spec (neuropc simulate NET.npc) or a run "
                           "folder to resume (neuropc simulate --resume DIR)")
    named_value("--profile", given["chip_profile"])
    named_value("--vs", given["conventional_profile"])
    if given["energy_report"] and given["steps"] == 0:
        raise NeuropcError("--energy-report prices the counts of training, and --steps 0 trains "
                           "nothing; give --steps 1 or more, or leave --energy-report out")
    artifact = load_source(source)
    if given["energy_report"] and given["steps"] is None and artifact.program.settings.run.steps == 0:
        raise NeuropcError(f"--energy-report prices the counts of training, and {source} has "
                           "run.steps 0; give --steps 1 or more, or leave --energy-report out")
    profiles = (cost_profiles(artifact.target.get("name", "loihi2"), given["chip_profile"],
                              given["conventional_profile"])
                if given["energy_report"] else None)
    result, path = run_simulation(source, backend=given["backend"], steps=given["steps"],
                                  threshold=parse_threshold(given["threshold"]),
                                  number_format=given["number_format"], batch=given["batch"],
                                  sequential=given["sequential"], dense=given["dense"],
                                  calibration_sequences=given["calibration_sequences"], out_dir=out_dir,
                                  force=force, artifact=artifact, resume=checkpoint, run_dir=run_dir,
                                  options_record=given, threads=threads)
    from neuropc.tasks import task_from_spec
    from neuropc.tasks.base import metric_text, test_text

    final = result.final
    metrics = task_from_spec(result.spec.task).metrics
    click.echo(f"done in {result.wall_time:.1f} s: held-out loss {final['eval_loss']:.4f}"
               + metric_text(metrics, final))
    if result.test is not None:
        click.echo(test_text(metrics, result.test))
    sequences = max(int(result.training.shape[0]), 1)
    per = result.training_total.per_sequence(sequences)
    click.echo(f"per training sequence: {per['synaptic_ops_effective']:,.0f} synaptic ops "
               f"(dense {per['synaptic_ops_dense']:,.0f}), {per['messages']:,.0f} messages, "
               f"{per['learning_weight_updates']:,.0f} weight and "
               f"{per['learning_trace_updates']:,.0f} trace updates")
    click.echo(f"wrote {path}/metrics.jsonl, counters.json, summary.json, curve.png, "
               f"checkpoint.npz, spec.yaml")
    if profiles is not None:
        write_energy_report(result, artifact, *profiles, path)


def cost_profiles(target: str, chip_name: str | None, conventional_name: str) -> tuple[CostProfile, CostProfile]:
    """Load both cost profiles before simulating, so a bad profile fails fast (a sweep loads
    them for every trial before any trial runs)."""
    from hwsim.costs import load_profile
    from hwsim.energy_report import TARGET_PROFILES
    from hwsim.feasibility import check_target

    chip = load_profile(chip_name if chip_name is not None else TARGET_PROFILES.get(target, "loihi2-estimate"))
    conventional = load_profile(conventional_name)
    if chip.kind != "neuromorphic":
        raise NeuropcError(f"--profile {chip.name}: a {chip.kind} profile; tPC-RTRL's counts are priced on a "
                           "neuromorphic one (loihi, loihi-sanafe, loihi2-estimate, spinnaker2-estimate or a file "
                           "based on one)")
    if conventional.kind != "conventional":
        raise NeuropcError(f"--vs {conventional.name}: a {conventional.kind} profile; BPTT is priced on a "
                           "conventional one (cpu-45nm, gpu-h100, jetson-orin-nano or a file based on one)")
    check_target(chip, target)
    return chip, conventional


def write_energy_report(result: SimulationResult, artifact: Artifact, chip: CostProfile,
                        conventional: CostProfile, folder: Path,
                        echo: Callable[[str], None] = click.echo) -> None:
    """``--energy-report``: print the table, write energy.json and energy.png (a sweep's
    trials write the same files, with ``echo`` silenced)."""
    import json

    from hwsim.energy_render import plot, render
    from hwsim.energy_report import report_from_simulation
    from neuropc.atomic_files import atomic_write

    report = report_from_simulation(result, artifact, chip, conventional)
    echo("")
    echo(render(report))
    atomic_write(folder / "energy.json", json.dumps(report.as_dict(), indent=2) + "\n")
    plot(report, folder / "energy.png")
    echo(f"wrote {folder}/energy.json and energy.png")
