"""Where a conventional chip's memory traffic is served: a reuse model, not a cliff.

BPTT sweeps the same weights (and, in the per-step reference, the gradient accumulators)
once per time step. With an optimal replacement policy a cache of C bytes keeps C bytes of a
cyclic sweep over R bytes resident, so a fraction min(1, C / R) of that traffic hits on chip
and the rest goes to DRAM/HBM; a least-recently-used cache would miss on all of it once
R > C (the all-or-nothing cliff), which is the pessimistic end. The activation history gets
the capacity the parameters leave, and spills in proportion to what does not fit. Every
report prints the two numbers this rests on: resident bytes against on-chip bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hwsim.counters import ConventionalWork


@dataclass(frozen=True)
class Residency:
    """Fractions of each kind of traffic that go off chip, and the sizes they come from."""

    capacity_bytes: int
    resident_bytes: int  # swept every step: weights (and accumulators in the per-step reference)
    live_history_bytes: int  # history alive at once (all of it, or one segment when checkpointed)
    parameter_offchip_fraction: float
    history_offchip_fraction: float

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def text(self) -> str:
        return (f"resident {self.resident_bytes / 1e6:.3g} MB (+ live history "
                f"{self.live_history_bytes / 1e6:.3g} MB) vs on-chip {self.capacity_bytes / 1e6:.3g} MB")


def spill(need: int, room: int) -> float:
    """Fraction of a reused working set of ``need`` bytes that misses a store of ``room`` bytes."""
    return 0.0 if need <= max(room, 0) else 1.0 - max(room, 0) / need


def residency(work: ConventionalWork, capacity_bytes: int, live_history_bytes: int | None = None) -> Residency:
    """The reuse model for ``work`` on a chip with ``capacity_bytes`` of on-chip memory.

    ``live_history_bytes``: history alive at one time (default: all of it, as full BPTT keeps).
    """
    live = work.activation_bytes_written if live_history_bytes is None else live_history_bytes
    parameter = spill(work.resident_bytes, capacity_bytes)
    history = spill(live, capacity_bytes - work.resident_bytes)
    return Residency(capacity_bytes, work.resident_bytes, live, parameter, history)


def history_traffic(work: ConventionalWork) -> int:
    """Bytes a spilled history costs off chip: each slot written out once and its distinct bytes
    read back once (repeated reads of a fetched slot hit on chip)."""
    return sum(run.count * (run.written + run.fetched) for run in work.history_slots)
