"""One rule on one piece of hardware, priced inside one boundary: static power x time + dynamic.

The pieces of the energy report (``hwsim.energy_report``): ``RunCounts`` (what a hwsim run
measured), ``Side`` (one rule on one profile, per training sequence or inference step), the
functions that price each side (tPC-RTRL on the chip with its time model; BPTT in a variant and
tPC-RTRL on a conventional profile in a scenario), and ``Ratio`` (two sides with the ratio's
range over every constant, stated as a sentence with what drives it). Every pricing function
is a pure function of the counts and a profile, so ``hwsim.ranges`` can re-run it at each end
of each constant's range.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hwsim.bptt_variants import bptt_variant
from hwsim.bptt_work import inference_work_closed_form
from hwsim.chip_time import ChipLayout, ChipTime, chip_time
from hwsim.conventional_time import ConventionalTime, conventional_time, scenario_profile, weakest
from hwsim.costs import CostProfile
from hwsim.counters import ConventionalWork, WorkCounts
from hwsim.energy import EnergyBreakdown, conventional_energy, neuromorphic_energy
from hwsim.learning_engine import engine_counts, scale_like
from hwsim.ranges import Profiles, Span, span
from hwsim.routes import RouteSplit
from hwsim.rtrl_gpu_work import rtrl_kernels, rtrl_work_closed_form
from neuropc.reference.network import Architecture

# ---------------------------------------------------------------------------------------------
# What the report needs of a run (no runner import: the cost model stays backend-free).

@dataclass(frozen=True)
class RunCounts:
    """Counts and shapes of one hwsim run."""

    arch: Architecture
    seq_len: int
    batch: int
    iterations: int  # PC inference iterations per step (K)
    optimizer: str
    train: WorkCounts  # over train_sequences sequences
    train_sequences: int
    train_per_core: tuple[WorkCounts, ...]
    train_batches: tuple[WorkCounts, ...]  # per training batch, in order (for the spread over the run)
    inference: WorkCounts  # over inference_steps time steps
    inference_steps: int
    inference_per_core: tuple[WorkCounts, ...]  # over every evaluation of the run
    train_layout: ChipLayout
    inference_layout: ChipLayout
    core_layers: tuple[str, ...]
    by_op: dict[str, WorkCounts] = field(default_factory=dict)
    footprint_bytes: int = 0
    accuracy: float | None = None
    activation_sparsity: float | None = None
    inference_core_sequences: int = 0  # sequences inference_per_core covers (0: those of inference_steps)
    learning_epoch: int = 1  # steps per learning-engine epoch (1: the exact per-step products that ran)
    routes: RouteSplit | None = None  # which way the hops went (from the placement)


@dataclass(frozen=True)
class Side:
    """One rule on one piece of hardware, per unit (a training sequence or an inference step)."""

    rule: str
    hardware: str
    dynamic: EnergyBreakdown
    seconds: float | None  # time of one unit (None: the profile has no time model)
    static_joules: float  # per unit; 0 where static power is inside the per-op energies
    static_provenance: str
    time: dict[str, Any] = field(default_factory=dict)

    @property
    def joules(self) -> float:
        return self.dynamic.joules_per_sequence + self.static_joules

    @property
    def edp(self) -> float | None:
        return None if self.seconds is None else self.joules * self.seconds

    def by_kind(self) -> dict[str, float]:
        kinds = self.dynamic.by_kind(per_sequence=True)
        if self.static_joules:
            kinds["static"] = self.static_joules
        return kinds

    def by_provenance(self) -> dict[str, float]:
        split = {k: v / self.dynamic.sequences for k, v in self.dynamic.by_provenance().items()}
        split[self.static_provenance] = split.get(self.static_provenance, 0.0) + self.static_joules
        return split

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "hardware": self.hardware, "joules": self.joules,
                "dynamic_joules": self.dynamic.joules_per_sequence, "static_joules": self.static_joules,
                "seconds": self.seconds, "edp_joule_seconds": self.edp, "by_kind": self.by_kind(),
                "by_provenance": self.by_provenance(), "time": self.time,
                "residency": None if self.dynamic.residency is None else self.dynamic.residency.as_dict(),
                "lines": self.dynamic.rows(per_sequence=True)}


# ---------------------------------------------------------------------------------------------
# Pricing each side (pure functions of the counts and the profiles, so ranges can re-run them).

def _chip_static(profile: CostProfile, timing: ChipTime | None) -> tuple[float, str, dict[str, Any]]:
    if timing is None:
        return 0.0, "assumed", {}
    keys = ("static_power_chip", "t_synaptic_op", "t_neuron_update", "t_learning_update", "t_barrier")
    return (timing.static_joules(whole_chips=True), weakest(*(profile.constant(k) for k in keys)),
            timing.as_dict())


def chip_training(run: RunCounts, chip: CostProfile) -> Side:
    """tPC-RTRL on the chip, per training sequence (sequences run one after another), with its
    learning priced as the learning engine does it (``hwsim.learning_engine``)."""
    train = engine_counts(run.train, run.by_op, run.learning_epoch)
    per_core = scale_like(run.train_per_core, run.train, train)
    timing = chip_time(per_core, run.train_sequences, run.seq_len, run.train_layout, chip)
    static, provenance, detail = _chip_static(chip, timing)
    east_west = None if run.routes is None else run.routes.east_west
    return Side("tPC-RTRL", chip.label, neuromorphic_energy(train, chip, run.train_sequences, east_west),
                None if timing is None else timing.seconds, static, provenance, detail)


def chip_inference(run: RunCounts, chip: CostProfile) -> Side:
    """The trained network on the chip, per inference time step (its latency is the step time)."""
    sequences = run.inference_core_sequences or max(1, run.inference_steps // run.seq_len)
    timing = chip_time(run.inference_per_core, sequences, run.seq_len, run.inference_layout, chip)
    _, provenance, detail = _chip_static(chip, timing)
    per_step = None if timing is None else timing.step_seconds
    static = 0.0 if timing is None else timing.static_watts_whole_chips * timing.step_seconds
    east_west = None if run.routes is None else run.routes.east_west
    return Side("tPC-RTRL (inference)", chip.label,
                neuromorphic_energy(run.inference, chip, run.inference_steps, east_west),
                per_step, static, provenance, detail)


def _conventional(rule: str, work: ConventionalWork, live: int | None, kernels: int, profile: CostProfile,
                  scenario: str, label: str) -> Side:
    priced_on = scenario_profile(profile, scenario)
    dynamic = conventional_energy(work, priced_on, live)
    timing: ConventionalTime | None = conventional_time(work, dynamic.offchip_bytes, kernels, profile, scenario)
    per_unit = work.sequences
    seconds = None if timing is None else timing.seconds / per_unit
    static = 0.0 if timing is None else timing.static_joules / per_unit
    provenance = profile.constant("idle_power").provenance if profile.has("idle_power") else "assumed"
    detail = {} if timing is None else {**timing.as_dict(), "kernels_per_batch": kernels, "batch": per_unit}
    return Side(rule, f"{profile.label} [{scenario}]{label}", dynamic, seconds, static, provenance, detail)


def gpu_bptt(run: RunCounts, profile: CostProfile, scenario: str, variant: str, batch: int | None = None,
             window: int | None = None) -> Side:
    """BPTT in ``variant`` on a conventional profile in ``scenario``, per training sequence."""
    b = batch or run.batch
    v = bptt_variant(run.arch, variant, run.seq_len, b, window)
    return _conventional("BPTT", v.work, v.live_history_bytes, v.kernels, profile, scenario,
                         f", {v.label}, batch {b}")


def gpu_rtrl(run: RunCounts, profile: CostProfile, scenario: str, batch: int | None = None) -> Side:
    """tPC-RTRL's reference operations on a conventional profile, per training sequence."""
    b = batch or run.batch
    work = rtrl_work_closed_form(run.arch, run.seq_len, b, run.iterations)
    return _conventional("tPC-RTRL", work, None, run.seq_len * rtrl_kernels(run.arch, run.iterations) + 1,
                         profile, scenario, f", batch {b}")


def gpu_inference(run: RunCounts, profile: CostProfile, scenario: str) -> Side:
    """The trained network's forward pass for one time step at batch 1 (streaming inference)."""
    work = inference_work_closed_form(run.arch, steps=1, batch=1)
    return _conventional("forward pass", work, None, 2 * run.arch.readout_layers + 2, profile, scenario, ", batch 1")


# ---------------------------------------------------------------------------------------------
# Ratios with ranges, and the sentences that state them.

@dataclass(frozen=True)
class Ratio:
    """``numerator`` (conventional) over ``denominator`` (the chip) per ``unit``, with its range."""

    unit: str
    numerator: Side
    denominator: Side
    span: Span

    def sentence(self) -> str:
        value = self.span.value
        if value >= 1:
            verdict = (f"the chip is {(1 - 1 / value) * 100:.0f}% cheaper" if value < 2
                       else f"the chip is {value:.3g}x cheaper")
        else:
            verdict = (f"the chip is {(1 / value - 1) * 100:.0f}% more expensive" if value > 0.5
                       else f"the chip is {1 / value:.3g}x more expensive")
        return (f"{self.numerator.rule} on {self.numerator.hardware} costs {value:.3g}x "
                f"(range {self.span.low:.3g}x-{self.span.high:.3g}x) what {self.denominator.rule} on "
                f"{self.denominator.hardware} costs per {self.unit}: {verdict}.")

    def drivers(self) -> list[str]:
        """What sets the ratio: the constant that moves it most, and each side's largest term."""
        out = []
        driver = self.span.driver
        if driver is not None:
            out.append(f"the range is set mostly by {driver.profile}.{driver.key} ({driver.constant.range_text()}, "
                       f"{driver.constant.provenance}): {min(driver.at_low, driver.at_high):.3g}x to "
                       f"{max(driver.at_low, driver.at_high):.3g}x alone")
        for side in (self.numerator, self.denominator):
            kinds = grouped_kinds(side.by_kind())
            if side.joules > 0 and kinds:
                kind, joules = max(kinds.items(), key=lambda item: item[1])
                out.append(f"{joules / side.joules * 100:.0f}% of {side.rule}'s energy on {side.hardware} is {kind}")
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"unit": self.unit, "sentence": self.sentence(), "drivers": self.drivers(),
                "ratio": self.span.as_dict(), "conventional": self.numerator.as_dict(),
                "chip": self.denominator.as_dict()}


def grouped_kinds(kinds: dict[str, float]) -> dict[str, float]:
    """Kinds with the three MAC lines (forward, backward, weight gradient) as one."""
    grouped: dict[str, float] = {}
    for kind, joules in kinds.items():
        name = "MACs (forward, backward, weight gradient)" if kind.startswith("MACs") else kind
        grouped[name] = grouped.get(name, 0.0) + joules
    return grouped


def compare(unit: str, chip_side: Callable[[CostProfile], Side], other_side: Callable[[CostProfile], Side],
            chip: CostProfile, other: CostProfile) -> Ratio:
    """``other_side(profile)`` / ``chip_side(profile)`` with the range over both profiles' constants."""
    def result(profiles: Profiles) -> float:
        denominator = chip_side(profiles["chip"]).joules
        return other_side(profiles["conventional"]).joules / denominator if denominator else math.inf

    return Ratio(unit, other_side(other), chip_side(chip), span(result, {"chip": chip, "conventional": other}))


def joules_span(side: Callable[[CostProfile], Side], profile: CostProfile) -> Span:
    """One side's energy per unit over its profile's ranges."""
    return span(lambda profiles: side(profiles["p"]).joules, {"p": profile})
