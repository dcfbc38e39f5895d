"""Read a sweep file into validated trials, every one of them checked before any runs.

A trial is the base spec with its settings applied, validated as ``neuropc train`` or
``neuropc simulate`` validates a spec (the schema, the hardware table, the memory the run
needs), so a sweep of 300 trials cannot fail on the 250th for a typo. An error names the
sweep file and the line of the setting that made the trial invalid, and the trial.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from neuropc.errors import FieldProblem, NeuropcError
from neuropc.spec.advice import spec_warnings
from neuropc.spec.loading import load_spec, validation_message
from neuropc.spec.schema import NetworkSpec
from neuropc.sweep.checks import RunChecks
from neuropc.sweep.expand import Setting, TrialSettings, expand
from neuropc.sweep.naming import trial_name, value_text
from neuropc.sweep.schema import OPTION_PREFIX, SimulateOptions, SweepFile, TrialOptions
from neuropc.yaml_documents import LineIndex, Location, locate, parse_mapping, read_text, refuse_other_kind

#: what ``neuropc.resources`` checks a trial's memory for, by command (as the commands do)
PURPOSES = {"train": ("train",), "simulate": ("compile", "simulate")}


@dataclass(frozen=True)
class PlannedTrial:
    """One validated trial: its folder name, the settings that name it, the spec it runs and
    (``command: simulate``) the simulate options."""

    name: str
    settings: tuple[tuple[str, Any], ...]
    spec: NetworkSpec
    options: SimulateOptions


@dataclass(frozen=True)
class Sweep:
    """A validated sweep: what every trial runs and the trials in the order they were written."""

    source: str
    command: str
    energy_report: bool
    trials: tuple[PlannedTrial, ...]
    warnings: tuple[str, ...] = ()  # what spec advice says, once per distinct sentence

    @property
    def varying(self) -> tuple[str, ...]:
        """Every path some trial sets, in the order they first appear (the results' columns)."""
        return tuple(dict.fromkeys(path for trial in self.trials for path, _ in trial.settings))


def load_sweep(path: str | Path) -> Sweep:
    """A sweep file (``base:`` relative to its folder), validated with ``file:line`` errors."""
    path = Path(path)
    data, lines = parse_mapping(read_text(path, "sweep"), str(path), "sweep file")
    return sweep_from_mapping(data, str(path), lines, path.parent)


def build_sweep(base: NetworkSpec | Mapping[str, Any] | str | Path, *, command: str = "train",
                trials: Sequence[Mapping[str, Any]] = (), grid: Mapping[str, Sequence[Any]] | None = None,
                overrides: Mapping[str, Any] | None = None, energy_report: bool = False) -> Sweep:
    """The same sweep from Python (``bench/reproduce.py``): a spec, a spec mapping or a spec
    file, and the settings of each trial as mappings of dotted paths; validated as a file is."""
    if isinstance(base, NetworkSpec):
        base = base.model_dump(mode="json", exclude_none=True)
    data = {"base": str(base) if isinstance(base, Path) else base, "command": command,
            "energy_report": energy_report, "grid": {k: list(v) for k, v in (grid or {}).items()},
            "trials": [dict(entry) for entry in trials], "overrides": dict(overrides or {})}
    return sweep_from_mapping(data, "<sweep>", {}, Path.cwd())


def sweep_from_mapping(data: dict, source: str, lines: LineIndex, folder: Path) -> Sweep:
    """Validate a sweep's mapping; ``lines`` places its keys in ``source``, ``folder`` is where
    relative paths (the base spec, profile files) start."""
    try:
        sweep = SweepFile.model_validate(data)
    except ValidationError as exc:
        refuse_other_kind(data, source, "sweep")
        raise NeuropcError(validation_message(exc, source, lines, data, "sweep file")) from None

    def problem(loc: Location, message: str) -> NeuropcError:
        field = ".".join(str(part) for part in loc)
        return NeuropcError(f"{locate(source, lines, loc)}: {f'{field}: ' if field else ''}{message}")

    if sweep.energy_report and sweep.command != "simulate":
        raise problem(("energy_report",), "prices the counts of a hwsim run: use it with command: simulate")
    base = _base_data(sweep.base, source, lines, folder)
    checks = RunChecks(folder)
    names: dict[str, Location] = {}
    planned: list[PlannedTrial] = []
    advice: dict[str, None] = {}
    for settings in expand(sweep, problem):
        name = trial_name((s.path, s.value) for s in settings.varying)
        if name in names:
            where = ".".join(str(part) for part in names[name])
            raise problem(settings.origin, f"trial {name} is written twice (first at {where}); "
                                           "each trial runs once")
        names[name] = settings.origin
        trial = _trial(sweep, settings, name, base, source, lines, checks)
        planned.append(trial)
        advice.update(dict.fromkeys(spec_warnings(trial.spec)))
    return Sweep(source, sweep.command, sweep.energy_report, tuple(planned), tuple(advice))


def _base_data(base: str | dict[str, Any], source: str, lines: LineIndex, folder: Path) -> dict[str, Any]:
    """The base spec, validated on its own (a file's errors name that file; an inline spec's
    name the sweep file's lines), as the mapping the trials' settings are applied to."""
    if isinstance(base, str):
        path = Path(base).expanduser()
        spec = load_spec(path if path.is_absolute() else folder / path)
    else:
        inline = {loc[1:]: line for loc, line in lines.items() if loc[:1] == ("base",) and len(loc) > 1}
        try:
            spec = NetworkSpec.model_validate(base)
        except ValidationError as exc:
            raise NeuropcError(validation_message(exc, source, inline, base)) from None
    return spec.model_dump(mode="json", exclude_none=True)


def _in_trial(message: str, name: str) -> NeuropcError:
    first, _, rest = message.partition("\n")
    return NeuropcError(f"{first} (trial {name})" + (f"\n{rest}" if rest else ""))


def _set(data: dict[str, Any], setting: Setting, source: str, lines: LineIndex) -> None:
    """``data`` with the dotted path set, creating sections the base leaves out (a spec
    without ``hardware:`` may still sweep ``hardware.event_threshold.activity``)."""
    keys = setting.path.split(".")
    node = data
    for depth, key in enumerate(keys[:-1]):
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            section = ".".join(keys[:depth + 1])
            raise NeuropcError(f"{locate(source, lines, setting.origin)}: {setting.path}: {section} is "
                               f"{value_text(child)}, not a section with fields")
        node = child
    node[keys[-1]] = copy.deepcopy(setting.value)


def _trial(sweep: SweepFile, settings: TrialSettings, name: str, base: dict[str, Any], source: str,
           lines: LineIndex, checks: RunChecks) -> PlannedTrial:
    data = copy.deepcopy(base)
    options: dict[str, Any] = {}
    trial_lines: LineIndex = {}
    option_lines: LineIndex = {}
    for setting in settings.all:
        line = lines.get(setting.origin)
        if setting.path.startswith(OPTION_PREFIX):
            key = setting.path[len(OPTION_PREFIX):]
            options[key] = setting.value
            if line is not None:
                option_lines[("simulate", key)] = line
            continue
        _set(data, setting, source, lines)
        if line is not None:
            trial_lines[tuple(setting.path.split("."))] = line
    fallback = lines.get(settings.origin)
    if fallback is not None:  # a problem of the combination (sizes that disagree): the trial's line
        for section in data:
            trial_lines.setdefault((section,), fallback)
    try:
        spec = NetworkSpec.model_validate(data)
    except ValidationError as exc:
        raise _in_trial(validation_message(exc, source, trial_lines, data), name) from None
    except RecursionError:
        raise _in_trial(f"{locate(source, lines, settings.origin)}: a setting is nested too deeply to read",
                        name) from None
    try:
        chosen = TrialOptions.model_validate({"simulate": options}).simulate
    except ValidationError as exc:
        raise _in_trial(validation_message(exc, source, option_lines, {"simulate": options},
                                           "simulate options"), name) from None

    def where(problem: FieldProblem) -> NeuropcError:
        loc = tuple(int(part) if part.isdigit() else part for part in problem.field.split("."))
        return _in_trial(f"{locate(source, trial_lines, loc)}: {problem}", name)

    checks.runnable(spec, PURPOSES[sweep.command], where)
    if sweep.energy_report and spec.run.steps == 0:
        raise where(FieldProblem("run.steps", "is 0, and energy_report prices the counts of training; "
                                              "give 1 or more, or leave energy_report out"))
    if sweep.command == "simulate":
        chosen = checks.options(chosen, spec, sweep.energy_report,
                                lambda key, message: _in_trial(
                                    f"{locate(source, option_lines, ('simulate', key))}: "
                                    f"simulate.{key}: {message}", name))
    return PlannedTrial(name, tuple((s.path, s.value) for s in settings.varying), spec, chosen)
