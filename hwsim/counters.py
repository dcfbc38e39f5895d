"""Work counts: what a run did, in exact integers, before any energy constant touches it.

Two contracts live here:

- ``WorkCounts``: a neuromorphic run (the hwsim engine fills it, per core and op kind, and
  sums the cores). Counting follows NeuroBench (docs/energy_model.md, 'Counting rules'): per sample means per sequence.
- ``ConventionalWork``: BPTT on a CPU or GPU (``hwsim.bptt_work`` fills it, from the
  instrumented reference or in closed form).

``hwsim.energy`` turns either into joules with a ``CostProfile``. The counting rules are
written out in ``docs/energy_model.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from numbers import Integral
from typing import Any, NamedTuple

from compiler.ops import BY_CODE
from neuropc.errors import NeuropcError


def _exact(owner: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{owner}.{name} must be an exact integer count, got {value!r}")
    if value < 0:
        raise ValueError(f"{owner}.{name} must not be negative, got {value}")
    return int(value)


def _from_mapping(cls: type, data: Mapping[str, Any], source: str, names: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise NeuropcError(f"{source}: expected a mapping of counts, got {type(data).__name__}")
    unknown = sorted(set(data) - set(names))
    missing = [name for name in names if name not in data]
    if unknown:
        raise NeuropcError(f"{source}: unknown count(s) {', '.join(unknown)} for {cls.__name__} "
                           f"(expected {', '.join(names)})")
    if missing:
        raise NeuropcError(f"{source}: missing count(s) {', '.join(missing)} for {cls.__name__}")
    return dict(data)


# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WorkCounts:
    """Work of a neuromorphic run, summed over cores. Every field is an exact integer.

    - ``synaptic_ops_dense``: one per (connection, delivered step): every synapse a message
      could reach, zero weight or not (NeuroBench dense).
    - ``synaptic_ops_effective``: synaptic ops actually executed: an event arrived and the
      weight is nonzero (NeuroBench effective; a graded spike counts as a MAC, a binary spike
      as an accumulate). Never more than dense.
    - ``neuron_updates``: compartment updates performed (value, prediction or error nodes).
    - ``learning_weight_updates``: weights changed by the learning engine.
    - ``learning_trace_updates``: per-synapse (and per-neuron) eligibility traces advanced.
    - ``messages``: messages (graded spikes) leaving a core.
    - ``hops``: network-on-chip links crossed by those messages, summed over messages.
    - ``memory_reads`` / ``memory_writes``: core-local memory word accesses that are not part
      of the operations above (e.g. reading a stored error or a delta-coding reference).
    """

    synaptic_ops_dense: int = 0
    synaptic_ops_effective: int = 0
    neuron_updates: int = 0
    learning_weight_updates: int = 0
    learning_trace_updates: int = 0
    messages: int = 0
    hops: int = 0
    memory_reads: int = 0
    memory_writes: int = 0

    def __post_init__(self) -> None:
        for item in fields(self):
            object.__setattr__(self, item.name, _exact("WorkCounts", item.name, getattr(self, item.name)))
        if self.synaptic_ops_effective > self.synaptic_ops_dense:
            raise ValueError(f"WorkCounts: effective synaptic ops ({self.synaptic_ops_effective}) exceed "
                             f"dense ones ({self.synaptic_ops_dense})")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(item.name for item in fields(cls))

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.names()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "counts") -> WorkCounts:
        """Read counts back (e.g. from a run's JSON); every field must be present."""
        values = _from_mapping(cls, data, source, cls.names())
        try:
            return cls(**values)
        except (TypeError, ValueError) as exc:
            raise NeuropcError(f"{source}: {exc}") from None

    def add(self, other: WorkCounts) -> WorkCounts:
        return WorkCounts(**{name: getattr(self, name) + getattr(other, name) for name in self.names()})

    __add__ = add

    def scale(self, factor: int) -> WorkCounts:
        """Counts of ``factor`` identical runs (e.g. one sequence's counts times a batch)."""
        factor = _exact("WorkCounts.scale", "factor", factor)
        return WorkCounts(**{name: getattr(self, name) * factor for name in self.names()})

    @classmethod
    def total(cls, parts: Iterable[WorkCounts]) -> WorkCounts:
        """Sum of per-core (or per-kind) counts."""
        result = cls()
        for part in parts:
            result = result + part
        return result

    def per_sequence(self, sequences: int) -> dict[str, float]:
        """Counts per sequence (NeuroBench counts per sample) for counts covering ``sequences``."""
        sequences = _exact("WorkCounts.per_sequence", "sequences", sequences)
        if sequences == 0:
            raise ValueError("per_sequence needs at least one sequence")
        return {name: value / sequences for name, value in self.as_dict().items()}

    @property
    def effective_fraction(self) -> float:
        """Effective over dense synaptic ops (1 - this is the op sparsity the events bought)."""
        return self.synaptic_ops_effective / self.synaptic_ops_dense if self.synaptic_ops_dense else 0.0


# ---------------------------------------------------------------------------------------------

#: columns of every count array: the fields of ``WorkCounts`` in order
FIELDS: tuple[str, ...] = WorkCounts.names()
#: kinds of work counted separately: every program op kind (by code), then work a core does
#: outside any op (writing delivered values into inboxes, writing host inputs, the
#: sequence-start reset and the per-step restart of the error channels)
WORK_KINDS: tuple[str, ...] = (*(BY_CODE[code].name for code in sorted(BY_CODE)),
                               "deliver", "host_input", "sequence_reset", "step_reset")


def work_counts(rows: Any) -> WorkCounts:
    """A (fields,) or (..., fields) integer array, summed over leading axes, as WorkCounts."""
    import numpy as np

    totals = np.asarray(rows, dtype=np.int64).reshape(-1, len(FIELDS)).sum(axis=0)
    return WorkCounts(**{name: int(v) for name, v in zip(FIELDS, totals, strict=True)})


class SlotRun(NamedTuple):
    """``count`` consecutive history slots with the same traffic, oldest first (bytes)."""

    count: int
    written: int  # bytes the forward pass stores in one slot
    read: int  # bytes the backward pass reads from it, counting repeated reads
    fetched: int  # distinct bytes of it the backward pass reads (each fetched once from DRAM)


def compress_slots(slots: Iterable[tuple[int, int, int]]) -> tuple[SlotRun, ...]:
    """Run-length encode per-slot (written, read, fetched) bytes, oldest slot first."""
    runs: list[SlotRun] = []
    for written, read, fetched in slots:
        if runs and runs[-1][1:] == (written, read, fetched):
            runs[-1] = runs[-1]._replace(count=runs[-1].count + 1)
        else:
            runs.append(SlotRun(1, written, read, fetched))
    return tuple(runs)


_SCALARS = (
    "sequences", "seq_len", "forward_macs", "backward_macs", "weight_gradient_macs",
    "elementwise_ops", "optimizer_updates", "weight_reads", "gradient_bytes",
    "activation_bytes_written", "activation_bytes_read", "resident_bytes",
    "activation_bytes_offchip", "parameter_bytes_offchip", "trace_bytes",
)


@dataclass(frozen=True)
class ConventionalWork:
    """Work of BPTT on conventional hardware for ``sequences`` sequences of ``seq_len`` steps.

    MACs are real fp32 multiply-accumulates (a complex product is 4, complex times real 2; a
    bias add is one). Memory fields are bytes. The activation history is kept per slot
    (``history_slots``) so that it can be split between on-chip and off-chip memory for any
    capacity (``placed``): ``activation_bytes_offchip`` is the DRAM/HBM traffic (bytes written
    out plus bytes read back) of the slots that do not fit, ``parameter_bytes_offchip`` the
    weight and gradient traffic that goes off-chip when the parameters themselves do not fit.
    Both are 0 and ``onchip_capacity_bytes`` is None until the work has been placed.
    """

    sequences: int
    seq_len: int
    forward_macs: int
    backward_macs: int
    weight_gradient_macs: int
    elementwise_ops: int  # activations, derivatives, losses, masks, gradient accumulation adds
    optimizer_updates: int  # one per trainable scalar per optimizer step
    weight_reads: int  # bytes of weights read: each weight array once per step per use
    gradient_bytes: int  # bytes read and written accumulating gradients over the steps
    activation_bytes_written: int  # history stored by the forward pass (= its peak footprint)
    activation_bytes_read: int  # history read back by the backward pass
    resident_bytes: int  # weights and gradient accumulators, kept on chip first
    history_slots: tuple[SlotRun, ...] = field(repr=False)
    onchip_capacity_bytes: int | None = None
    activation_bytes_offchip: int = 0
    parameter_bytes_offchip: int = 0
    trace_bytes: int = 0  # eligibility traces read and written (tPC-RTRL run on this hardware; 0 for BPTT)

    def __post_init__(self) -> None:
        for name in _SCALARS:
            object.__setattr__(self, name, _exact("ConventionalWork", name, getattr(self, name)))
        runs = tuple(SlotRun(*(_exact("ConventionalWork", "history_slots", v) for v in run))
                     for run in self.history_slots)
        object.__setattr__(self, "history_slots", runs)
        if self.onchip_capacity_bytes is not None:
            object.__setattr__(self, "onchip_capacity_bytes",
                               _exact("ConventionalWork", "onchip_capacity_bytes", self.onchip_capacity_bytes))
        written = sum(run.count * run.written for run in runs)
        read = sum(run.count * run.read for run in runs)
        if (written, read) != (self.activation_bytes_written, self.activation_bytes_read):
            raise ValueError(
                f"ConventionalWork: history slots hold {written} bytes written and {read} read, but the "
                f"totals say {self.activation_bytes_written} and {self.activation_bytes_read}"
            )

    @property
    def macs(self) -> int:
        return self.forward_macs + self.backward_macs + self.weight_gradient_macs

    @property
    def activation_bytes_onchip(self) -> int:
        """History traffic that stays on chip (all of it before placement)."""
        return self.activation_bytes_written + self.activation_bytes_read - self.activation_bytes_offchip

    @property
    def parameter_bytes_onchip(self) -> int:
        return self.weight_reads + self.gradient_bytes - self.parameter_bytes_offchip

    def placed(self, capacity_bytes: int) -> ConventionalWork:
        """Split the memory traffic for an on-chip memory of ``capacity_bytes``.

        Weights and gradient accumulators are used every step, so they are kept on chip first.
        If they do not fit, all their traffic goes off chip (a cyclic sweep larger than a cache
        misses every time) and nothing of the history stays on chip. Otherwise the history gets
        the rest, newest slots first (the forward pass evicts the oldest, the backward pass
        reads the newest first), in whole slots. A spilled slot costs its bytes written to
        DRAM/HBM once and its distinct bytes read back once; repeated reads hit on chip.
        """
        capacity = _exact("ConventionalWork.placed", "capacity_bytes", capacity_bytes)
        free = capacity - self.resident_bytes
        parameter_offchip = 0
        if free < 0:
            parameter_offchip, free = self.weight_reads + self.gradient_bytes, 0
        offchip = 0
        for run in reversed(self.history_slots):
            fit = run.count if run.written == 0 else min(run.count, free // run.written)
            free -= fit * run.written
            spilled = run.count - fit
            offchip += spilled * (run.written + run.fetched)
            if spilled:
                free = 0  # older slots were evicted before these
        return replace(self, onchip_capacity_bytes=capacity, activation_bytes_offchip=offchip,
                       parameter_bytes_offchip=parameter_offchip)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {name: getattr(self, name) for name in _SCALARS}
        data["onchip_capacity_bytes"] = self.onchip_capacity_bytes
        data["history_slots"] = [list(run) for run in self.history_slots]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "work") -> ConventionalWork:
        names = (*_SCALARS, "onchip_capacity_bytes", "history_slots")
        data = {"trace_bytes": 0, **data} if isinstance(data, Mapping) else data  # absent before traces were counted
        values = _from_mapping(cls, data, source, names)
        try:
            values["history_slots"] = tuple(SlotRun(*run) for run in values["history_slots"])
            return cls(**values)
        except (TypeError, ValueError) as exc:
            raise NeuropcError(f"{source}: {exc}") from None

    def per_sequence(self) -> dict[str, float]:
        """Every scalar count divided by the number of sequences it covers."""
        if self.sequences == 0:
            raise ValueError("per_sequence needs at least one sequence")
        skip = ("sequences", "seq_len", "resident_bytes")
        return {name: getattr(self, name) / self.sequences for name in _SCALARS if name not in skip}
