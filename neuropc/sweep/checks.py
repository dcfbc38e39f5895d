"""The checks ``neuropc train`` and ``neuropc simulate`` make before they run, for every trial
of a sweep, each input read once.

A hardware table or a cost profile is a YAML file that takes a noticeable fraction of a second
to parse; a sweep of 1,000 seeds shares one of each, so reading them per trial would make
validation take minutes. ``RunChecks`` remembers which hardware sections and which option sets
passed; what differs per trial (the memory a run needs) is checked for every trial.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

from neuropc.errors import FieldProblem, NeuropcError
from neuropc.resources import Purpose, check_memory
from neuropc.spec.schema import NetworkSpec
from neuropc.sweep.schema import SimulateOptions

#: an error at one of a trial's simulate options: (option, message) -> error
OptionProblem = Callable[[str, str], NeuropcError]


class RunChecks:
    """``folder``: where profile files named relative to the sweep file are."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._hardware: set[str] = set()
        self._options: dict[tuple, SimulateOptions] = {}

    def runnable(self, spec: NetworkSpec, purposes: Iterable[Purpose],
                 where: Callable[[FieldProblem], NeuropcError]) -> None:
        """The command's checks of a valid spec (``neuropc.cli.inputs.check_spec``: the hardware
        table with its overrides, the memory of each purpose); the table once per distinct
        ``hardware:`` section."""
        from neuropc.cli.inputs import check_spec

        key = json.dumps(spec.hardware.model_dump(mode="json") if spec.hardware else None, sort_keys=True)
        if key not in self._hardware:
            check_spec(spec, None, purposes, where=where)
            self._hardware.add(key)
            return
        try:
            for purpose in purposes:
                check_memory(spec, purpose)
        except FieldProblem as problem:
            raise where(problem) from None

    def options(self, options: SimulateOptions, spec: NetworkSpec, energy_report: bool,
                problem: OptionProblem) -> SimulateOptions:
        """What ``neuropc simulate`` refuses before it simulates: an unknown backend or number
        format, a backend that is not installed, cost profiles that do not load or are of the
        wrong kind. Profile files are made absolute (relative to the sweep file)."""
        target = spec.hardware.target if spec.hardware is not None else "loihi2"
        key = (options, target, energy_report)
        if key not in self._options:
            self._options[key] = self._checked(options, spec, energy_report, problem)
        return self._options[key]

    def _checked(self, options: SimulateOptions, spec: NetworkSpec, energy_report: bool,
                 problem: OptionProblem) -> SimulateOptions:
        from compiler.pipeline import resolve_target
        from hwsim.backends import backend_factory, backend_names
        from hwsim.number_format import NUMBER_FORMATS
        from neuropc.cli.simulate import cost_profiles

        if options.backend not in backend_names():
            raise problem("backend", f"unknown backend {options.backend!r}; choose one of "
                                     f"{', '.join(backend_names())}")
        try:
            backend_factory(options.backend)
        except NeuropcError as exc:
            raise problem("backend", str(exc)) from None
        if options.format not in NUMBER_FORMATS:
            raise problem("format", f"unknown number format {options.format!r}; choose one of "
                                    f"{', '.join(NUMBER_FORMATS)}")
        options = options.model_copy(update={key: self._as_file(getattr(options, key)) for key in ("profile", "vs")})
        if not energy_report:
            if options.profile is not None or options.vs != SimulateOptions().vs:
                raise problem("profile" if options.profile is not None else "vs",
                              "cost profiles price an energy report; add energy_report: true or leave it out")
            return options
        try:
            cost_profiles(resolve_target(spec).name, options.profile, options.vs)
        except NeuropcError as exc:
            raise problem("vs" if options.profile is None or "--vs" in str(exc) else "profile", str(exc)) from None
        return options

    def _as_file(self, name: str | None) -> str | None:
        """A profile given as a file (a path or a .yaml name) relative to the sweep file; a
        shipped profile's name as it is."""
        if name is None or not (name.endswith((".yaml", ".yml")) or "/" in name):
            return name
        path = Path(name).expanduser()
        return str(path if path.is_absolute() else (self.folder / path).resolve())
