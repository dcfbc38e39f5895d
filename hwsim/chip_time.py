"""How long the chip takes, and the static energy it burns meanwhile.

The per-event energies of a neuromorphic profile are dynamic: they leave out the leakage that
every powered core pays whether it works or not. Charging leakage needs a time, and the
profiles carry per-event latencies next to the energies (``t_synaptic_op``, ...). The model:

- a core's time in one time step is the sum over its events of count x latency (a core runs
  its events one after another), from the run's per-core counts averaged per step;
- the step's time is the busiest core's time plus one barrier per stage (``stages_per_step``
  of the program; a multi-chip barrier once the program spans several chips). Summing each
  core's events over the whole step before taking the maximum is a lower bound on the sum of
  per-stage maxima, so this time is a lower bound;
- sequences run one after another on the chip (hwsim's lanes are a simulator device), so a
  batch takes batch x the sequence time;
- static power is charged over that time twice: for the cores the program uses (the rest
  power-gated) and for the whole chips it occupies. Reports show both; the whole-chip figure
  is the one added to the dynamic energy, because leakage of an occupied chip is paid.

A profile without the latency constants has no time model (``chip_time`` returns None).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hwsim.costs import CostProfile
from hwsim.counters import WorkCounts

#: which latency each counted event takes on its core (hops travel in the network, overlapped)
LATENCY_OF: tuple[tuple[str, str], ...] = (
    ("synaptic_ops_effective", "t_synaptic_op"),
    ("neuron_updates", "t_neuron_update"),
    ("learning_weight_updates", "t_learning_update"),
    ("learning_trace_updates", "t_learning_update"),
    ("messages", "t_message"),
    ("memory_reads", "t_memory_access"),
    ("memory_writes", "t_memory_access"),
)
TIME_KEYS = (*dict.fromkeys(key for _, key in LATENCY_OF), "t_barrier", "t_barrier_chips",
             "static_power_core", "static_power_chip", "cores_on_chip")


@dataclass(frozen=True)
class ChipLayout:
    """What the time model needs of a compiled program: its size and its barriers."""

    cores: int
    chips: int
    stages_per_step: int  # barriers in one time step (every stage of every step phase)
    stages_per_sequence: int  # barriers once per sequence (reset, apply)

    def __post_init__(self) -> None:
        if min(self.cores, self.chips, self.stages_per_step) < 1 or self.stages_per_sequence < 0:
            raise ValueError(f"a chip layout needs at least one core, chip and stage per step, got {self}")


def has_time_model(profile: CostProfile) -> bool:
    return all(profile.has(key) for key in TIME_KEYS)


def core_step_seconds(counts: WorkCounts, profile: CostProfile) -> float:
    """Seconds one core spends on ``counts`` worth of events (its events run one at a time)."""
    return sum(getattr(counts, name) * profile.seconds(key) for name, key in LATENCY_OF)


@dataclass(frozen=True)
class ChipTime:
    """The time model's result for one unit of work (a training sequence, or an inference step)."""

    profile: str
    layout: ChipLayout
    steps: int  # time steps per unit
    busiest_core: int
    compute_seconds_per_step: float  # the busiest core's events in one step
    barrier_seconds_per_step: float
    barrier_seconds_per_unit: float  # barriers that run once per unit (sequence start and end)
    static_watts_used_cores: float
    static_watts_whole_chips: float

    @property
    def step_seconds(self) -> float:
        return self.compute_seconds_per_step + self.barrier_seconds_per_step

    @property
    def seconds(self) -> float:
        """Time of one unit: its steps plus its once-per-unit barriers."""
        return self.steps * self.step_seconds + self.barrier_seconds_per_unit

    def static_joules(self, whole_chips: bool = True) -> float:
        """Leakage over one unit's time, for the whole chips (default) or the used cores only."""
        watts = self.static_watts_whole_chips if whole_chips else self.static_watts_used_cores
        return watts * self.seconds

    def as_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile, "cores": self.layout.cores, "chips": self.layout.chips,
            "stages_per_step": self.layout.stages_per_step, "steps": self.steps,
            "busiest_core": self.busiest_core, "compute_s_per_step": self.compute_seconds_per_step,
            "barrier_s_per_step": self.barrier_seconds_per_step, "step_s": self.step_seconds,
            "seconds": self.seconds, "static_w_used_cores": self.static_watts_used_cores,
            "static_w_whole_chips": self.static_watts_whole_chips,
            "static_j_used_cores": self.static_joules(False), "static_j_whole_chips": self.static_joules(True),
        }


def chip_time(per_core: Sequence[WorkCounts], units: int, steps: int, layout: ChipLayout,
              profile: CostProfile) -> ChipTime | None:
    """Time per unit from per-core counts that cover ``units`` units of ``steps`` time steps.

    ``per_core`` holds one WorkCounts per core, summed over the run (every lane). None when the
    profile has no time model.
    """
    if not has_time_model(profile):
        return None
    if units < 1 or steps < 1:
        raise ValueError(f"units and steps must be at least 1, got {units} and {steps}")
    if not per_core:
        raise ValueError("the time model needs per-core counts (the backend recorded none)")
    per_step = [core_step_seconds(counts, profile) / (units * steps) for counts in per_core]
    busiest = max(range(len(per_step)), key=per_step.__getitem__)
    barrier = profile.seconds("t_barrier_chips" if layout.chips > 1 else "t_barrier")
    return ChipTime(
        profile=profile.name, layout=layout, steps=steps, busiest_core=busiest,
        compute_seconds_per_step=per_step[busiest],
        barrier_seconds_per_step=layout.stages_per_step * barrier,
        barrier_seconds_per_unit=layout.stages_per_sequence * barrier,
        static_watts_used_cores=layout.cores * profile.watts("static_power_core"),
        static_watts_whole_chips=layout.chips * profile.watts("static_power_chip"),
    )

