"""The network spec: what a user writes in ``net.yaml``.

Every model forbids unknown keys, so a typo is an error rather than a silently ignored
setting. Cross-field checks (sizes that must agree with the task, rule settings that only
some rules accept) live in validators here so that every consumer (reference, compiler,
simulator) can trust a ``NetworkSpec`` once it exists.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from neuropc.tasks.base import TaskSpecBase
from neuropc.tasks.registry import on_change, task_entries

#: Upper bounds on sizes. Far above anything that trains on one machine, low enough that a
#: typo (``1e12``) is refused here with the field named instead of reaching numpy; what a
#: given machine can hold is checked against its memory by ``neuropc.resources``.
MAX_WIDTH = 1_000_000
MAX_LAYERS = 64
MAX_STEPS = 100_000_000
MAX_SEQUENCES = 1_000_000

PositiveInt = Annotated[int, Field(gt=0)]
Width = Annotated[int, Field(gt=0, le=MAX_WIDTH)]
Finite = Annotated[float, Field(allow_inf_nan=False)]


class FieldError(ValueError):
    """A cross-field check that failed, with the path (relative to the model) it is about.

    pydantic keeps the raised exception in the error context, so the loader can point at
    the offending field and its YAML line instead of at the model as a whole.
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = tuple(path.split("."))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputSpec(_Strict):
    """What enters the recurrent block each step."""

    encoding: Literal["onehot", "real"] = "onehot"
    size: Width = Field(description="vocabulary size (onehot) or vector dimension (real)")


class RecurrentSpec(_Strict):
    """A Linear Recurrent Unit (diagonal recurrence), real or complex."""

    type: Literal["lru"] = "lru"
    complex: bool = True
    size: Width
    radius: tuple[Finite, Finite] = Field(
        (0.9, 0.999), description="range of |lambda| at initialisation (uniform on |lambda|^2)"
    )
    max_phase: float = Field(
        0.6283185307179586, gt=0.0, allow_inf_nan=False, le=6.283185307179586,
        description="phases of lambda start uniform in (0, max_phase]; complex LRU only",
    )
    gamma: Literal["fixed", "learned"] = Field(
        "fixed", description="input normalisation sqrt(1-|lambda|^2): held at its initial value or learned"
    )

    @model_validator(mode="after")
    def _radius_in_unit_interval(self) -> RecurrentSpec:
        low, high = self.radius
        if not 0.0 < low <= high < 1.0:
            raise FieldError(
                "radius",
                f"radius must satisfy 0 < min <= max < 1 for a stable LRU, got [{low}, {high}]"
            )
        return self


class ReadoutSpec(_Strict):
    """Dense layers from the LRU features ([Re h, Im h]) to the output."""

    hidden: list[Width] = Field(default_factory=list, max_length=MAX_LAYERS)
    activation: Literal["tanh", "relu", "gelu", "identity"] = "gelu"
    output: Width


class InferenceSpec(_Strict):
    """Predictive-coding inference inside one time step.

    ``output_precision`` weighs the output error in the step's energy (docs/algorithm.md,
    'PC inference'): below 1 inference nudges the value nodes towards the target instead of
    dragging them all the way, which matters when the inferred state is carried on. Updates
    are divided by it again, so it changes where inference goes, not the update's scale."""

    iterations: Annotated[int, Field(ge=0, le=10_000)] = 2
    step: Annotated[float, Field(gt=0.0, le=2.0, allow_inf_nan=False)] = 1.0
    fixed_prediction: bool = True
    output_precision: Annotated[float, Field(ge=1e-6, le=1.0, allow_inf_nan=False)] = 1.0


class OptimizerSpec(_Strict):
    name: Literal["sgd", "adam"] = "adam"
    lr: Annotated[float, Field(gt=0.0, le=10.0, allow_inf_nan=False)] = 3e-3


RuleName = Literal["bptt", "tpc", "tpc-rtrl", "spatial-bp"]


class RuleSpec(_Strict):
    """The learning rule and its settings (docs/algorithm.md, 'The rules at a glance' to 'When tPC-RTRL
    equals BPTT')."""

    name: RuleName = "tpc-rtrl"
    inference: InferenceSpec = Field(default_factory=InferenceSpec)
    carry: Literal["prediction", "inferred"] = "prediction"
    update: Literal["online", "sequence"] = "sequence"
    optimizer: OptimizerSpec = Field(default_factory=OptimizerSpec)

    @model_validator(mode="after")
    def _settings_fit_rule(self) -> RuleSpec:
        if self.name in ("bptt", "spatial-bp"):
            if self.carry != "prediction":
                raise FieldError("carry", f"carry 'inferred' needs PC inference; rule '{self.name}' has none")
        if self.name == "bptt" and self.update != "sequence":
            raise FieldError("update", "rule 'bptt' needs the whole sequence: update must be 'sequence'")
        return self

    @property
    def uses_inference(self) -> bool:
        return self.name in ("tpc", "tpc-rtrl")


def task_spec_union() -> Any:
    """The type of the spec's ``task:`` section: the registered task specs, told apart by
    ``name`` (a pydantic discriminated union, so an unknown name lists the known ones)."""
    specs = tuple(entry.spec_type for entry in task_entries())
    if not specs:
        raise RuntimeError("no task is registered")
    return Annotated[Union[specs], Field(discriminator="name")]  # noqa: UP007 (a runtime tuple of members)


class RunSpec(_Strict):
    """How long to train, on how much data, and how often to evaluate and save.

    ``checkpoint_every``: write checkpoint.npz every this many steps (0: only at the end and
    when the run is interrupted), so ``--resume`` can continue a run that was killed."""

    steps: Annotated[int, Field(ge=0, le=MAX_STEPS)] = 2000
    batch: Annotated[int, Field(gt=0, le=MAX_SEQUENCES)] = 64
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] = 0
    eval_every: Annotated[int, Field(gt=0, le=MAX_STEPS)] = 100
    eval_sequences: Annotated[int, Field(gt=0, le=MAX_SEQUENCES)] = 512
    checkpoint_every: Annotated[int, Field(ge=0, le=MAX_STEPS)] = 0


class EventThresholds(_Strict):
    """Delta-coding thresholds of the two populations a PC network sends between cores.

    Activities (LRU features, hidden activities) are O(0.1) and tolerate coarse updates;
    prediction errors are orders of magnitude smaller and carry the learning signal, so one
    threshold for both either wastes events on activities or silences learning. Like a
    Loihi sigma-delta process, each population has its own. A single number sets both.
    """

    activity: Annotated[float, Field(ge=0.0, allow_inf_nan=False)] = 0.0
    error: Annotated[float, Field(ge=0.0, allow_inf_nan=False)] = 0.0

    @model_validator(mode="before")
    @classmethod
    def _one_number_sets_both(cls, data: object) -> object:
        if isinstance(data, Mapping | EventThresholds):
            return data
        if isinstance(data, int | float) and not isinstance(data, bool):
            if not 0 <= data < float("inf"):
                raise ValueError(f"a threshold must be >= 0 and finite (got {data:g})")
            return {"activity": data, "error": data}
        raise ValueError("expected a number (both populations) or a mapping "
                         "{activity: A, error: E}")

    def __str__(self) -> str:
        if self.activity == self.error:
            return f"{self.activity:g}"
        return f"activity {self.activity:g}, error {self.error:g}"


class HardwareSpec(_Strict):
    """Which chip the compiler targets and how the simulator sends values.

    ``target`` names a resource table in ``compiler/targets`` (loihi, loihi2, spinnaker2);
    ``overrides`` replaces any of its constants by name (``compartments_per_core``,
    ``synaptic_memory_bits``, ``weight_bits``, ``trace_bits``, ...), integers only; the
    compiler rejects unknown names. ``event_threshold`` is the simulator's delta-coding
    threshold (0 sends every change): one number, or ``{activity: A, error: E}``.
    """

    target: str = Field("loihi2", min_length=1)
    event_threshold: EventThresholds = Field(default_factory=EventThresholds)
    overrides: dict[str, int] = Field(default_factory=dict)

    @field_validator("overrides", mode="before")
    @classmethod
    def _whole_numbers(cls, data: object) -> object:
        """Every override is a whole, finite number; checked here (not by ``int()`` in the
        compiler) so NaN, infinity, 2.5 or a string is refused with the file and line."""
        if not isinstance(data, Mapping):
            return data  # pydantic reports "must be a mapping"
        checked: dict[object, int] = {}
        for key, value in data.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise FieldError(str(key), f"must be a whole number, got {value!r}")
            if not math.isfinite(value):
                raise FieldError(str(key), f"must be a finite number, got {value!r}")
            if value != int(value):
                raise FieldError(str(key), f"must be a whole number, got {value!r}")
            if abs(value) > 2**62:
                raise FieldError(str(key), f"must be at most {2**62} in size, got {value!r}")
            checked[key] = int(value)
        return checked


class NetworkSpec(_Strict):
    name: str = "net"
    input: InputSpec
    recurrent: RecurrentSpec
    readout: ReadoutSpec
    loss: Literal["cross_entropy", "squared_error"] = "cross_entropy"
    rule: RuleSpec = Field(default_factory=RuleSpec)
    task: TaskSpecBase  # one registered task's spec: the union from task_spec_union() (see below)
    run: RunSpec = Field(default_factory=RunSpec)
    hardware: HardwareSpec | None = None

    @model_validator(mode="after")
    def _sizes_fit_task(self) -> NetworkSpec:
        if self.input.size != self.task.input_size:
            raise FieldError(
                "input.size",
                f"input.size is {self.input.size} but the {self.task.name} task feeds "
                f"{self.task.input_size} symbols"
            )
        if self.readout.output != self.task.output_size:
            raise FieldError(
                "readout.output",
                f"readout.output is {self.readout.output} but the {self.task.name} task has "
                f"{self.task.output_size} outputs"
            )
        task = self.task
        if self.input.encoding != task.input_encoding or self.loss != task.loss:
            raise FieldError("task.name", f"the {task.name} task needs input.encoding '{task.input_encoding}' "
                                          f"and loss '{task.loss}'")
        return self

    @property
    def features(self) -> int:
        """Width of the LRU output seen by the readout ([Re h, Im h] for a complex LRU)."""
        return 2 * self.recurrent.size if self.recurrent.complex else self.recurrent.size

    def with_overrides(self, overrides: Mapping[str, object]) -> NetworkSpec:
        """A copy with dotted-path fields replaced (``{"rule.name": "bptt"}``), re-validated."""
        data = self.model_dump(mode="python")
        for path, value in overrides.items():
            node = data
            keys = path.split(".")
            for key in keys[:-1]:
                node = node[key]
            node[keys[-1]] = value
        return NetworkSpec.model_validate(data)


def _rebuild_task_field() -> None:
    """Registering or removing a task changes the union ``NetworkSpec.task`` validates against."""
    NetworkSpec.model_fields["task"].annotation = task_spec_union()
    NetworkSpec.model_rebuild(force=True)


_rebuild_task_field()
on_change(_rebuild_task_field)
