"""The contract between a compiled artifact's executor (a backend) and the runner.

A backend executes one artifact's program for ``lanes`` sequences in lockstep and knows
nothing of specs, tasks, run folders or optimizers' bookkeeping: the runner
(``hwsim.runner``) hands it host rows (inputs, targets, loss mask) block by block, asks it to
apply the accumulated updates, and reads state back in the reference's layout. Everything a
backend needs about the program (phases and when they run, update mode, optimizer constants,
delta-coding thresholds per channel group, the task's stage counts) is typed data in
``artifact.program``; run-time choices (number format, thresholds, dense sending, fixed-point
formats) come in ``ExecutionOptions``.

Counts follow ``hwsim.counters``: per lane row (row ``lanes`` is work the lanes share, the
apply phase), per core, per field of ``WorkCounts``; and per kind of work (``WORK_KINDS``).
A backend that does not count returns None from the count methods (``counts`` False).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from compiler.artifact import Artifact
from compiler.program import Program
from hwsim.number_format import NUMBER_FORMATS, FixedFormat


@dataclass(frozen=True)
class ExecutionOptions:
    """How to execute, beyond what the program fixes.

    ``thresholds``: delta-coding threshold per population (``activity``, ``error``); a
    value moves to the receivers when it changed by more than its population's threshold
    (0: when it changed at all). None: the program's defaults. ``dense``: send every value
    on every send and count every synapse (a clock-driven chip). ``formats``: the fixed-point
    format of every format group (``hwsim.number_format.group_key``), fixed point only.
    ``threads``: worker threads of the native engine (``hwsim.team``; None: its default);
    the other backends run on one, and the results do not depend on it.
    """

    number_format: str = "float64"
    thresholds: Mapping[str, float] | None = None
    dense: bool = False
    formats: Mapping[tuple[str, str, str], FixedFormat] | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.number_format not in NUMBER_FORMATS:
            raise ValueError(f"unknown number format {self.number_format!r}; choose one of "
                             f"{', '.join(NUMBER_FORMATS)}")
        if self.number_format == "fixed" and self.formats is None:
            raise ValueError("fixed point needs a format per buffer group (hwsim.runner."
                             "calibrate computes them)")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be at least 1, got {self.threads}")
        for name, value in (self.thresholds or {}).items():
            if not (value >= 0.0 and np.isfinite(value)):
                raise ValueError(f"{name} threshold must be >= 0 and finite, got {value}")

    def resolved_thresholds(self, program: Program) -> dict[str, float]:
        """The program's default thresholds with these laid over them."""
        return {**program.settings.thresholds, **(self.thresholds or {})}


@dataclass
class BlockOutput:
    """What one ``Backend.run`` produced."""

    loss: np.ndarray  # (T, lanes) masked loss at the output after the outputs phase, per step
    outputs: np.ndarray  # (T, lanes, V) the output layer's prediction after the outputs phase
    step_counts: np.ndarray | None = None  # (T, lanes + 1, fields) counts per step, if counted
    extra: dict[str, np.ndarray] = field(default_factory=dict)


@runtime_checkable
class Backend(Protocol):
    """One artifact's program, executing ``lanes`` sequences in lockstep."""

    #: registry name (``native``, ``interpreter``, ...)
    name: str
    #: whether the count methods return arrays
    counts: bool
    lanes: int
    artifact: Artifact
    #: optimizer steps taken so far (Adam's t)
    optimizer_steps: int

    def run(self, inputs: np.ndarray, targets: np.ndarray, mask: np.ndarray, *, train: bool,
            reset: bool = False, apply_end: bool = False, scale: float = 1.0) -> BlockOutput:
        """Run T = inputs.shape[0] time steps: inputs (T, lanes, M), targets (T, lanes) class
        ids or (T, lanes, V), mask (T, lanes). ``reset`` starts a sequence first; ``train``
        runs the phases marked train_only too, and the program's ``step_with_loss`` phases
        (online updates) after steps where some lane carries loss, with host scalar
        ``scale``; ``apply_end`` runs the ``sequence_end`` phases after the last step."""
        ...

    def reset(self) -> None:
        """Start a sequence in every lane."""
        ...

    def apply(self, scale: float) -> None:
        """Run the ``sequence_end`` phases (the optimizer step) with host scalar ``scale``."""
        ...

    def read(self, space: str, name: str, shape: tuple[int, ...], part: str | None = None,
             layer: int | None = None, copy: bool = False) -> np.ndarray:
        """A global array in the reference's layout from the buffers bound to it (per-lane
        arrays with a leading lane axis); KeyError if nothing is bound to it."""
        ...

    def parameters(self) -> dict[str, np.ndarray]:
        """The current parameters in the reference's names and shapes."""
        ...

    def optimizer_state(self) -> dict[str, dict[str, np.ndarray]]:
        """Optimizer moments by space (``adam_m``, ``adam_v``) and parameter name."""
        ...

    def restore(self, params: Mapping[str, np.ndarray],
                optimizer_state: Mapping[str, Mapping[str, np.ndarray]], optimizer_steps: int,
                copies: Mapping[str, Mapping[str, np.ndarray]] | None = None) -> None:
        """Set the shared state a checkpoint holds: parameters (reference names), optimizer
        moments (as ``optimizer_state`` returns them), the optimizer step count and the
        feedback copies of weights and their moments by space (``read(space, name, shape,
        copy=True)``: a copy is updated on its own core and can differ from its primary in
        the last bit), so a run
        resumed from a checkpoint continues bit for bit as the uninterrupted run did."""
        ...

    def load_shared(self, other: Backend) -> None:
        """Take the shared state (weights, parameters, accumulators, optimizer moments and
        step count) of another backend of the same kind and program, any lane count."""
        ...

    def take_counts(self) -> np.ndarray | None:
        """Counts since the last call, (lanes + 1, cores, fields); restarts them at 0."""
        ...

    def take_work_counts(self) -> np.ndarray | None:
        """Counts by kind of work (rows ``hwsim.counters.WORK_KINDS``) since the last call."""
        ...

    def core_totals(self) -> np.ndarray | None:
        """Every count taken so far, per core: (cores, fields)."""
        ...


class BackendFactory(Protocol):
    def __call__(self, artifact: Artifact, lanes: int, options: ExecutionOptions) -> Backend:
        ...
