"""A sweep file's ``grid``, ``trials`` and ``overrides`` as one list of settings per trial.

The grid is a cartesian product in the order the file lists its paths and values (the first
path varies slowest), then come the explicit trials in their order. ``overrides:`` apply to
every trial; a trials entry may replace one of them (its own value wins), a grid path may not
(one of the two would be a mistake). Every setting keeps the
place in the sweep file it came from, so a trial whose spec turns out invalid is reported at
the line that made it so.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from neuropc.errors import NeuropcError
from neuropc.sweep.schema import MAX_TRIALS, OPTION_PREFIX, SweepFile
from neuropc.yaml_documents import Location


@dataclass(frozen=True)
class Setting:
    """One dotted path set to one value, and where in the sweep file that is written."""

    path: str
    value: Any
    origin: Location


@dataclass(frozen=True)
class TrialSettings:
    """What one trial changes: ``varying`` (grid and trials entries: these name the trial and
    label its results) and ``common`` (``overrides:``, the same for every trial)."""

    varying: tuple[Setting, ...]
    common: tuple[Setting, ...]
    origin: Location  # the trials entry or the first grid path: where a combination is reported

    @property
    def all(self) -> tuple[Setting, ...]:
        """The settings in the order they apply: ``overrides:`` first, without those a
        trials entry replaces (the same path or a section holding it), then the trial's own."""
        kept = tuple(c for c in self.common if not any(_within(c.path, v.path) for v in self.varying))
        return kept + self.varying


#: reports a problem at a place in the sweep file: (where, field shown, message) -> error
Problem = Callable[[Location, str], NeuropcError]


def _check_path(path: str, origin: Location, command: str, problem: Problem) -> None:
    if not path.strip() or any(not part.strip() for part in path.split(".")):
        raise problem(origin, f"{path!r} is not a dotted path to a spec field (like rule.name or run.seed)")
    if path.startswith(OPTION_PREFIX) and command != "simulate":
        raise problem(origin, f"simulate options apply to command: simulate, and this sweep runs {command}")


def _within(path: str, section: str) -> bool:
    """Whether ``path`` is ``section`` or a field inside it."""
    return path == section or path.startswith(section + ".")


def _check_disjoint(settings: tuple[Setting, ...], problem: Problem) -> None:
    """No path set twice, and none inside another (``hardware.event_threshold`` with
    ``hardware.event_threshold.activity``): which would win is not obvious."""
    seen: dict[str, Setting] = {}
    for setting in settings:
        for path, earlier in seen.items():
            if _within(setting.path, path) or _within(path, setting.path):
                where = ".".join(str(part) for part in earlier.origin)
                raise problem(setting.origin, f"{setting.path} is also set by {where}; set each field in one place")
        seen[setting.path] = setting


def expand(sweep: SweepFile, problem: Problem) -> list[TrialSettings]:
    """Every trial's settings; ``problem`` builds the error for a place in the file."""
    for path in sweep.overrides:
        _check_path(path, ("overrides", path), sweep.command, problem)
    for path in sweep.grid:
        _check_path(path, ("grid", path), sweep.command, problem)
    for index, entry in enumerate(sweep.trials):
        for path in entry:
            _check_path(path, ("trials", index, path), sweep.command, problem)
    if not sweep.grid and not sweep.trials:
        raise problem((), "nothing to sweep: give a grid (dotted paths to lists of values) or trials "
                          "(a list of settings)")
    size = 1
    for values in sweep.grid.values():
        size *= len(values)
        if size + len(sweep.trials) > MAX_TRIALS:
            raise problem(("grid",), f"expands to more than {MAX_TRIALS:,} trials; split the sweep")
    common = tuple(Setting(path, value, ("overrides", path)) for path, value in sweep.overrides.items())
    trials: list[TrialSettings] = []
    if sweep.grid:
        axes = [[Setting(path, value, ("grid", path, index)) for index, value in enumerate(values)]
                for path, values in sweep.grid.items()]
        first = ("grid", next(iter(sweep.grid)))
        trials += [TrialSettings(tuple(combination), common, first) for combination in itertools.product(*axes)]
    for index, entry in enumerate(sweep.trials):
        varying = tuple(Setting(path, value, ("trials", index, path)) for path, value in entry.items())
        trials.append(TrialSettings(varying, common, ("trials", index)))
    grid_paths = tuple(Setting(path, None, ("grid", path)) for path in sweep.grid)
    _check_disjoint(common + grid_paths, problem)  # a grid path in overrides: one of them is a mistake
    for trial in trials:
        _check_disjoint(trial.varying, problem)
    return trials
