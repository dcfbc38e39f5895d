"""What a user writes in ``sweep.yaml``, as pydantic models that forbid unknown keys.

The models check shapes and types only (a list per grid path, a mapping per trial); what the
paths mean is checked by building every trial's spec (``neuropc.sweep.loading``), so a sweep
accepts exactly the fields a spec accepts and reports the same errors for them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from neuropc.spec.schema import MAX_SEQUENCES

#: the dotted paths a trial may set that are ``neuropc simulate`` options, not spec fields
OPTION_PREFIX = "simulate."

#: most trials one sweep may expand to: a typo in a grid (a list of 10,000 values) is refused
#: before 10,000 specs are validated and 10,000 folders made
MAX_TRIALS = 100_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SimulateOptions(_Strict):
    """The options of ``neuropc simulate`` a trial may set under ``simulate.`` (grid, trials or
    overrides), with the command line's defaults; the delta-coding threshold is a spec field
    (``hardware.event_threshold``) and the run length ``run.steps``."""

    backend: str = Field("native", min_length=1)
    format: str = Field("float64", min_length=1)
    sequential: bool = False
    dense: bool = False
    calibration_sequences: Annotated[int, Field(ge=1, le=MAX_SEQUENCES)] | None = None
    profile: str | None = Field(None, min_length=1)
    vs: str = Field("gpu-h100", min_length=1)


Settings = dict[str, Any]


class SweepFile(_Strict):
    """The top level of a sweep file.

    ``base``: a spec file (relative to the sweep file) or a spec written inline; ``command``:
    what every trial runs; ``grid``: dotted paths to lists of values, expanded as a cartesian
    product; ``trials``: explicit settings, one mapping per trial, run besides the grid;
    ``overrides``: settings every trial gets."""

    base: str | dict[str, Any]
    command: Literal["train", "simulate"]
    energy_report: bool = False
    grid: dict[str, Annotated[list[Any], Field(min_length=1)]] = Field(default_factory=dict)
    trials: list[Settings] = Field(default_factory=list)
    overrides: Settings = Field(default_factory=dict)

    @field_validator("base")
    @classmethod
    def _base_not_empty(cls, value: str | dict[str, Any]) -> str | dict[str, Any]:
        if isinstance(value, str) and not value.strip():
            raise ValueError("is empty; give a spec file or write the spec inline")
        return value


class TrialOptions(_Strict):
    """The ``simulate.*`` settings of one trial, nested as the sweep file names them, so their
    errors read ``simulate.format: ...``."""

    simulate: SimulateOptions = Field(default_factory=SimulateOptions)
