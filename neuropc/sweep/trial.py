"""One trial on a Dask worker: exactly what ``neuropc train`` or ``neuropc simulate`` runs.

A trial calls the functions behind the two commands (``neuropc.training.train`` with a
``RunDirectory``; ``neuropc.cli.simulate.run_simulation`` and ``write_energy_report``), so its
run folder is the one the command would write (with the options record a resumed ``neuropc
simulate`` reads). A NeuropcError (a run that diverged, a network the
compiler cannot place) is the trial's result, not a crash: it comes back as a failed
outcome and is not retried, since it would fail again. Anything else propagates, so Dask
retries the trial (``retries=``); a worker that dies is replaced and its trial rescheduled
by the Dask scheduler itself.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neuropc.errors import NeuropcError

#: ``neuropc simulate``'s options record (kept in checkpoints for ``--resume``) for a trial
DEFAULT_RECORD = {"steps": None, "threshold": None, "batch": None, "energy_report": False}


@dataclass(frozen=True)
class TrialJob:
    """What a worker needs to run one trial; plain data, pickled to the worker. Paths are
    absolute and must be visible to the worker (a cluster's shared file system)."""

    name: str
    command: str  # train | simulate
    spec_file: Path  # the trial's spec as YAML: the source `neuropc simulate` reads
    folder: Path  # the run folder
    options: dict[str, Any] = field(default_factory=dict)  # SimulateOptions fields
    energy_report: bool = False


@dataclass(frozen=True)
class TrialOutcome:
    """How a trial ended: ``done`` or ``failed`` (with the error), where and how long."""

    name: str
    status: str
    error: str | None = None
    seconds: float = 0.0
    worker: str = ""


def run_trial(job: TrialJob) -> TrialOutcome:
    """Run ``job`` into its folder (replacing the run files of an attempt that did not finish;
    a finished trial is never submitted). Output the commands would print is dropped: the
    sweep shows progress and results itself."""
    started = time.perf_counter()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    quiet = io.StringIO()
    try:
        with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
            if job.command == "train":
                _train(job)
            else:
                _simulate(job)
    except NeuropcError as exc:
        return TrialOutcome(job.name, "failed", str(exc), time.perf_counter() - started, worker)
    return TrialOutcome(job.name, "done", None, time.perf_counter() - started, worker)


def _train(job: TrialJob) -> None:
    """``neuropc train SPEC --out FOLDER --force``."""
    from neuropc.run_files import RunDirectory
    from neuropc.spec import load_spec
    from neuropc.training import train

    spec = load_spec(job.spec_file)
    train(spec, RunDirectory(job.folder, force=True))


def _simulate(job: TrialJob) -> None:
    """``neuropc simulate SPEC --out FOLDER --force`` with the trial's options (and
    ``--energy-report``)."""
    from neuropc.api import load_source
    from neuropc.cli.simulate import cost_profiles, run_simulation, write_energy_report

    options = job.options
    artifact = load_source(job.spec_file)
    profiles = (cost_profiles(artifact.target.get("name", "loihi2"), options["profile"], options["vs"])
                if job.energy_report else None)
    record = {**DEFAULT_RECORD, "backend": options["backend"], "number_format": options["format"],
              "sequential": options["sequential"], "dense": options["dense"],
              "calibration_sequences": options["calibration_sequences"], "energy_report": job.energy_report,
              "chip_profile": options["profile"], "conventional_profile": options["vs"]}

    def silent(text: str) -> None:
        return None

    result, path = run_simulation(job.spec_file, backend=options["backend"], number_format=options["format"],
                                  sequential=options["sequential"], dense=options["dense"],
                                  calibration_sequences=options["calibration_sequences"], out_dir=job.folder,
                                  force=True, echo=silent, progress=False, artifact=artifact,
                                  options_record=record)
    if profiles is not None:
        write_energy_report(result, artifact, *profiles, path, echo=silent)
