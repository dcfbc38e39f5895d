"""The sweep folder: one run folder per trial, the trials' specs, and the record that makes a
second run of the same command a resume.

    sweep.json          what each trial is (settings, options, SHA-256 of its spec): how a
                        later run knows a folder holds this trial and not an older version of it
    specs/NAME.yaml     each trial's resolved spec (what `neuropc train|simulate` would be given)
    runs/NAME/          each trial's run folder, exactly as the command writes it
    results.csv, results.md, *.png   gathered after every run (replaced each time)

A trial is finished when its run folder has every file its command writes last (summary.json,
and counters.json / energy.json for simulate); a finished trial is skipped and nothing in its
folder is written again. A folder that holds anything else, or a finished trial whose spec or
options changed since, is refused before anything runs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from neuropc.atomic_files import atomic_write
from neuropc.errors import NeuropcError
from neuropc.run_files import check_run_folder
from neuropc.spec.loading import dump_spec
from neuropc.sweep.loading import PlannedTrial, Sweep
from neuropc.sweep.trial import TrialJob

RECORD = "sweep.json"
#: everything neuropc writes at the top of a sweep folder besides the record
RESULT_FILES = ("results.csv", "results.md")
FOLDERS = ("specs", "runs")


def trial_record(sweep: Sweep, trial: PlannedTrial) -> dict[str, Any]:
    """What must be equal for a finished trial to count as this trial (as JSON reads it back,
    so a record from sweep.json compares equal)."""
    return json.loads(json.dumps({"command": sweep.command, "energy_report": sweep.energy_report,
            "settings": {path: value for path, value in trial.settings},
            "options": trial.options.model_dump() if sweep.command == "simulate" else {},
            "spec_sha256": hashlib.sha256(dump_spec(trial.spec).encode("utf-8")).hexdigest()}, default=str))


def finished_files(job: TrialJob) -> tuple[str, ...]:
    """The files a trial's command writes after everything else."""
    files = ("summary.json",) if job.command == "train" else ("summary.json", "counters.json")
    return files + (("energy.json",) if job.energy_report else ())


def is_finished(job: TrialJob) -> bool:
    try:
        json.loads((job.folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return all((job.folder / name).is_file() for name in finished_files(job))


def _ours(name: str) -> bool:
    return name in (RECORD, *RESULT_FILES, *FOLDERS) or name.endswith((".png", ".tmp"))


class SweepFolder:
    """The folder of one sweep (``--out``), checked when opened, written by ``prepare``."""

    def __init__(self, path: Path, sweep: Sweep) -> None:
        self.path = path.expanduser().resolve()
        self.shown = path  # as the user gave it, for messages
        self.sweep = sweep
        if not str(path).strip():
            raise NeuropcError("--out is empty; give a folder name")
        if self.path.exists() and not self.path.is_dir():
            raise NeuropcError(f"{path}: exists and is not a folder; choose another --out")
        entries = sorted(p.name for p in self.path.iterdir()) if self.path.is_dir() else []
        if entries and not (self.path / RECORD).is_file():
            raise NeuropcError(f"{path}: folder holds {entries[0]!r} and is not a sweep folder neuropc wrote; "
                               "refusing to write a sweep into it (choose another --out)")
        foreign = [name for name in entries if not _ours(name)]
        if foreign:
            raise NeuropcError(f"{path}: folder holds {foreign[0]!r}, which neuropc did not write; "
                               "refusing to write a sweep into it (choose another --out)")
        self.previous = self._read_record() if entries else {}
        self.jobs = [self.job(trial) for trial in sweep.trials]
        self.finished = {job.name for job in self.jobs if is_finished(job)}
        for trial, job in zip(sweep.trials, self.jobs, strict=True):
            self._check(trial, job)

    def _read_record(self) -> dict[str, Any]:
        try:
            record = json.loads((self.path / RECORD).read_text(encoding="utf-8"))
            return dict(record["trials"])
        except (OSError, ValueError, KeyError, TypeError):
            raise NeuropcError(f"{self.shown}/{RECORD}: not a readable sweep record; choose another --out") from None

    def job(self, trial: PlannedTrial) -> TrialJob:
        options = trial.options.model_dump() if self.sweep.command == "simulate" else {}
        return TrialJob(trial.name, self.sweep.command, self.path / "specs" / f"{trial.name}.yaml",
                        self.path / "runs" / trial.name, options, self.sweep.energy_report)

    def _check(self, trial: PlannedTrial, job: TrialJob) -> None:
        """A finished trial must be this trial; an unfinished one may hold only run files."""
        if job.name in self.finished:
            if self.previous.get(job.name) != trial_record(self.sweep, trial):
                raise NeuropcError(f"{self.shown}: trial {job.name} finished with another spec, command or "
                                   "options than the sweep now gives it; its results are kept: choose another "
                                   "--out for the changed sweep")
            return
        check_run_folder(job.folder, force=True)

    @property
    def pending(self) -> list[TrialJob]:
        return [job for job in self.jobs if job.name not in self.finished]

    def prepare(self) -> None:
        """Write the record and the specs of the trials still to run; make their folders'
        parents. The record keeps entries of earlier runs' trials that this sweep no longer has
        (their folders stay, and a later run that has them again must recognise them)."""
        (self.path / "specs").mkdir(parents=True, exist_ok=True)
        (self.path / "runs").mkdir(exist_ok=True)
        trials = {**self.previous, **{trial.name: trial_record(self.sweep, trial) for trial in self.sweep.trials}}
        atomic_write(self.path / RECORD, json.dumps({"source": self.sweep.source, "trials": trials},
                                                    indent=2, default=str) + "\n")
        for trial, job in zip(self.sweep.trials, self.jobs, strict=True):
            if job.name not in self.finished:
                atomic_write(job.spec_file, dump_spec(trial.spec))
