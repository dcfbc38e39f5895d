"""The energy report: tPC-RTRL on a neuromorphic chip against BPTT on a conventional one.

Inputs are measured counts of a hwsim run (per training sequence, per inference step and per
core) and the network's shape. Both sides are priced inside one boundary, static power x time
plus dynamic energy (``hwsim.chip_time``, ``hwsim.conventional_time``); BPTT in the variants
practitioners run (``hwsim.bptt_variants``), tPC-RTRL on the conventional chip too
(``hwsim.rtrl_gpu_work``); every total and ratio as a range over the constants' low/high
(``hwsim.ranges``). Output: ``render`` (text), ``EnergyReport.as_dict`` (energy.json),
``plot`` (bars with error bars) and ``plot_tornado``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hwsim.bptt_variants import BPTT_VARIANT_DEFAULT, VARIANTS, bptt_variant
from hwsim.bptt_work import (
    FP32_BYTES,
    _Sizes,
    bptt_history_bytes,
    inference_work_closed_form,
    parameter_bytes,
    rtrl_state_bytes,
)
from hwsim.chip_time import ChipLayout, ChipTime, chip_time
from hwsim.conventional_time import ConventionalTime, conventional_time, scenario_profile, scenarios_of, weakest
from hwsim.costs import PROVENANCES, CostProfile
from hwsim.counters import ConventionalWork, WorkCounts
from hwsim.energy import EnergyBreakdown, conventional_energy, neuromorphic_energy
from hwsim.feasibility import check_target, feasibility_flags, target_name
from hwsim.learning_engine import engine_counts, scale_like
from hwsim.ranges import Profiles, Span, span
from hwsim.routes import RouteSplit, artifact_route_split
from hwsim.rtrl_gpu_work import rtrl_kernels, rtrl_work_closed_form
from neuropc.errors import NeuropcError
from neuropc.reference.network import Architecture
from neuropc.tasks import task_from_spec

if TYPE_CHECKING:
    from compiler.artifact import Artifact
    from compiler.program import Program
    from hwsim.runner import SimulationResult

#: What every report says it leaves out (docs/energy_model.md explains each).
LEFT_OUT = (
    "host I/O: moving inputs, targets and results between host and chip",
    "the host or CPU work that drives the chip (task generation, evaluation)",
    "instruction fetch and control on both sides (the CPU profile is datapath only)",
    "both times are lower bounds: the chip's busiest core summed over a step plus barriers, the GPU's "
    "largest of compute, memory and launch time",
    "BPTT on the chip: no compiled BPTT program exists, so that cell of the 2 x 2 table is empty",
)


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
    inference_per_core: tuple[WorkCounts, ...]
    train_layout: ChipLayout
    inference_layout: ChipLayout
    core_layers: tuple[str, ...]
    by_op: dict[str, WorkCounts] = field(default_factory=dict)
    footprint_bytes: int = 0
    accuracy: float | None = None
    activation_sparsity: float | None = None
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
    sequences = max(1, run.inference_steps // run.seq_len)
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


# ---------------------------------------------------------------------------------------------
# The report.

@dataclass(frozen=True)
class EnergyReport:
    settings: dict[str, Any]
    flags: list[str]
    headline: Ratio  # training, the default scenario and variant
    inference: Ratio
    grid: list[Ratio]  # training: every scenario x BPTT variant at the run's batch
    two_by_two: dict[str, Any]
    streaming: list[dict[str, Any]]
    neurobench: dict[str, float | int | None]
    footprints: dict[str, Any]
    per_layer: dict[str, float]
    per_op: dict[str, float]
    spread: dict[str, float]
    sides: dict[str, Span] = field(default_factory=dict)  # energy ranges for the chart

    def as_dict(self) -> dict[str, Any]:
        return {"settings": self.settings, "flags": self.flags, "training": self.headline.as_dict(),
                "inference": self.inference.as_dict(),
                "scenarios": [{"sentence": r.sentence(), "ratio": r.span.as_dict(),
                               "conventional": r.numerator.as_dict()} for r in self.grid],
                "two_by_two": self.two_by_two, "streaming": self.streaming, "neurobench": self.neurobench,
                "footprints": self.footprints, "per_layer_joules_per_sequence": self.per_layer,
                "per_op_joules_per_sequence": self.per_op, "counts_over_the_run": self.spread,
                "energy_ranges": {k: v.as_dict() for k, v in self.sides.items()}, "left_out": list(LEFT_OUT)}


def _footprints(run: RunCounts) -> dict[str, Any]:
    """The same sets on both sides: parameters, accumulators, optimizer state, and per sequence
    either BPTT's history or tPC-RTRL's state and traces (fp32 on the conventional side)."""
    s = _Sizes.of(run.arch)
    params = parameter_bytes(run.arch)
    accumulators = s.gradient_accumulators * FP32_BYTES
    moments = 2 * params if run.optimizer == "adam" else 0
    rtrl = rtrl_state_bytes(run.arch).total
    history = bptt_history_bytes(run.arch, run.seq_len).total
    per_step = bptt_history_bytes(run.arch, 2).total - bptt_history_bytes(run.arch, 1).total
    base = bptt_history_bytes(run.arch, 1).total - per_step
    break_even = max(1, math.ceil((rtrl - base) / per_step)) if per_step else None
    shared = params + accumulators + moments
    return {"chip_program_bytes": run.footprint_bytes, "bptt_bytes": shared + history,
            "tpc_rtrl_conventional_bytes": shared + rtrl, "parameters_bytes": params,
            "accumulators_bytes": accumulators, "optimizer_state_bytes": moments,
            "bptt_history_bytes_per_sequence": history, "tpc_rtrl_state_bytes_per_sequence": rtrl,
            "break_even_sequence_length": break_even}


def _priced_parts(parts: dict[str, WorkCounts], chip: CostProfile, sequences: int) -> dict[str, float]:
    return {name: neuromorphic_energy(counts, chip, sequences).joules_per_sequence for name, counts in parts.items()}


def build_report(run: RunCounts, chip: CostProfile, conventional: CostProfile, settings: dict[str, Any],
                 flags: Sequence[str] = (), scenario: str = "peak fp32",
                 variant: str = BPTT_VARIANT_DEFAULT) -> EnergyReport:
    """Price the run on ``chip`` against ``conventional`` (see the module docstring)."""
    scenarios = scenarios_of(conventional)
    if scenario not in scenarios:
        scenario = scenarios[0]

    def chip_train(p: CostProfile) -> Side:
        return chip_training(run, p)

    headline = compare("training sequence", chip_train,
                       lambda p: gpu_bptt(run, p, scenario, variant), chip, conventional)
    inference = compare("inference step", lambda p: chip_inference(run, p),
                        lambda p: gpu_inference(run, p, scenarios[-1]), chip, conventional)
    grid = [compare("training sequence", chip_train,
                    lambda p, sc=sc, v=v: gpu_bptt(run, p, sc, v, window=max(1, run.seq_len // 3)), chip, conventional)
            for sc in scenarios for v in VARIANTS]
    sides = {f"tPC-RTRL on {chip.name}": joules_span(chip_train, chip)}
    two_by_two: dict[str, Any] = {f"tPC-RTRL on {chip.name}": headline.denominator.as_dict(),
                                  f"BPTT on {chip.name}": None}
    for sc in scenarios:
        for rule, side in (("tPC-RTRL", lambda p, sc=sc: gpu_rtrl(run, p, sc)),
                           ("BPTT", lambda p, sc=sc: gpu_bptt(run, p, sc, variant))):
            name = f"{rule} on {conventional.name} [{sc}]"
            sides[name] = joules_span(side, conventional)
            two_by_two[name] = side(conventional).as_dict()
    for name, cell in two_by_two.items():
        if cell is not None:
            cell["range"] = sides[name].as_dict()
    streaming = _streaming(run, chip, conventional, scenarios[-1])
    per_sequence = run.train.per_sequence(run.train_sequences)
    per_step = run.inference.per_sequence(run.inference_steps)
    neurobench: dict[str, float | int | None] = {
        "parameter_count": sum(run.arch.parameter_count().values()),
        "footprint_bytes": run.footprint_bytes,
        "synaptic_ops_dense_per_sequence": per_sequence["synaptic_ops_dense"],
        "synaptic_ops_effective_per_sequence": per_sequence["synaptic_ops_effective"],
        "synaptic_ops_dense_per_inference_step": per_step["synaptic_ops_dense"],
        "synaptic_ops_effective_per_inference_step": per_step["synaptic_ops_effective"],
        "synop_sparsity_training": 1.0 - run.train.effective_fraction,
        "synop_sparsity_inference": 1.0 - run.inference.effective_fraction,
        "activation_sparsity": run.activation_sparsity,
    }
    layers: dict[str, WorkCounts] = {}
    for layer, counts in zip(run.core_layers, run.train_per_core, strict=False):
        layers[layer] = layers.get(layer, WorkCounts()) + counts
    batch_joules = [neuromorphic_energy(c, chip, max(1, run.train_sequences // max(1, len(run.train_batches))))
                    .joules_per_sequence for c in run.train_batches]
    spread = ({"batches": len(batch_joules), "dynamic_joules_per_sequence_mean": sum(batch_joules) / len(batch_joules),
               "min": min(batch_joules), "max": max(batch_joules), "first": batch_joules[0],
               "last": batch_joules[-1]} if batch_joules else {})
    return EnergyReport(settings, list(flags), headline, inference, grid, two_by_two, streaming, neurobench,
                        _footprints(run), _priced_parts(layers, chip, run.train_sequences),
                        _priced_parts(run.by_op, chip, run.train_sequences), spread, sides)


def _streaming(run: RunCounts, chip: CostProfile, conventional: CostProfile, scenario: str) -> list[dict[str, Any]]:
    """Online batch-1 learning, per time step: energy and the latency of one step."""
    rows = []
    chip_side = chip_training(run, chip)
    candidates = [chip_side, gpu_rtrl(run, conventional, scenario, batch=1),
                  gpu_bptt(run, conventional, scenario, "truncated", batch=1, window=1),
                  gpu_bptt(run, conventional, scenario, "time-batched", batch=1)]
    for side in candidates:
        per_step_seconds = None if side.seconds is None else side.seconds / run.seq_len
        rows.append({"rule": side.rule, "hardware": side.hardware, "joules_per_step": side.joules / run.seq_len,
                     "seconds_per_step": per_step_seconds,
                     "note": "a step's update waits for the whole sequence" if "time-batched" in side.hardware
                     else ""})
    return rows


# ---------------------------------------------------------------------------------------------
# Text.

def format_joules(joules: float) -> str:
    for unit, scale in (("J", 1.0), ("mJ", 1e-3), ("uJ", 1e-6), ("nJ", 1e-9), ("pJ", 1e-12)):
        if abs(joules) >= scale:
            return f"{joules / scale:.3g} {unit}"
    return f"{joules / 1e-15:.3g} fJ"


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if abs(seconds) >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-12:.3g} ps"


def format_bytes(value: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value:.0f} B"


def provenance_text(side: Side) -> str:
    split = side.by_provenance()
    total = sum(split.values()) or 1.0
    return ", ".join(f"{split.get(k, 0.0) / total * 100:.0f}% {k}" for k in PROVENANCES if split.get(k))


def _side_table(side: Side) -> list[str]:
    """One line per priced count (rows counting nothing are left to energy.json)."""
    out = [f"-- {side.rule} on {side.hardware}",
           f"   {'what':<42}{'count':>23}  {'constant':<16}{'provenance':<11}{'energy':>11}"]
    for row in side.dynamic.rows(per_sequence=True):
        if not row["count"]:
            continue
        constant = f"{row['value']:g} {row['unit']}"
        out.append(f"   {row['what']:<42}{row['count']:>15,.0f} {row['count_unit']:<8} {constant:<16}"
                   f"{row['provenance']:<11}{format_joules(row['joules']):>11}")
        if row["value"] == 0:
            out.append(f"      (priced at 0: {row['note'] or row['source']})")
    out.append(f"   {'dynamic total':<92}{format_joules(side.dynamic.joules_per_sequence):>11}")
    if side.static_joules:
        out.append(f"   {'static (power x the time below)':<92}{format_joules(side.static_joules):>11}")
    elif side.time:
        out.append(f"   {'static: inside the per-operation figures (whole board at peak)':<92}{'':>11}")
    out.append(f"   {'total':<92}{format_joules(side.joules):>11}")
    out.append(f"   provenance of these joules: {provenance_text(side)}")
    if side.dynamic.residency is not None:
        out.append(f"   memory: {side.dynamic.residency.text()}")
    return out


def _chip_time_lines(side: Side, sequences_in_run: int, batch: int) -> list[str]:
    t = side.time
    if not t:
        return ["   time: this profile has no latencies, so no static energy, EDP or time-to-solution"]
    per_sequence = t["seconds"]
    return [
        f"   time per step {format_seconds(t['step_s'])} (busiest core {t['busiest_core']}: "
        f"{format_seconds(t['compute_s_per_step'])} of events; {t['stages_per_step']} barriers "
        f"{format_seconds(t['barrier_s_per_step'])}), per sequence {format_seconds(per_sequence)}, "
        f"per batch of {batch} {format_seconds(per_sequence * batch)} (sequences one after another)",
        f"   static power: {t['static_w_used_cores'] * 1e3:.3g} mW for the {t['cores']} cores used "
        f"({format_joules(t['static_j_used_cores'])} per sequence), {t['static_w_whole_chips'] * 1e3:.3g} mW for "
        f"{t['chips']} whole chip(s) ({format_joules(t['static_j_whole_chips'])} per sequence, the one charged)",
        f"   EDP {side.edp:.3g} J s per sequence; time-to-solution for this run's {sequences_in_run:,} sequences "
        f"{format_seconds(per_sequence * sequences_in_run)}",
    ]


def _gpu_time_lines(side: Side, sequences_in_run: int) -> list[str]:
    t = side.time
    if not t:
        return []
    if t["scenario"] != "time model":
        head = (f"   time per batch {format_seconds(t['seconds_per_batch'])} at the peak rate (full use assumed), "
                f"per sequence {format_seconds(side.seconds)}")
    else:
        head = (f"   time per batch {format_seconds(t['seconds_per_batch'])} ({t['bound']}-bound; compute "
                f"{format_seconds(t['compute_s'])}, memory {format_seconds(t['memory_s'])}, "
                f"{t['kernels_per_batch']:,} kernel launches {format_seconds(t['launch_s'])}; utilisation "
                f"{t['utilisation'] * 100:.2g}%), per sequence {format_seconds(side.seconds)}")
    return [head, f"   EDP {side.edp:.3g} J s per sequence; time-to-solution for {sequences_in_run:,} sequences "
                  f"{format_seconds((side.seconds or 0) * sequences_in_run)}"]


def render(report: EnergyReport) -> str:
    """Plain text: settings, flags, the ratio sentences, both sides line by line, time, ranges."""
    s = report.settings
    accuracy = s.get("accuracy")
    out = ["== settings ==",
           f"   chip profile {s['chip_profile']} (target {s['target']}); conventional {s['conventional_profile']}",
           f"   rule {s['rule']}, number format {s['number_format']}, event threshold {s['event_threshold']}, "
           f"dense {s['dense']}, batch {s['batch']} ({s['lanes']})",
           f"   counts over {s['training_sequences']:,} training sequences (all of the run), "
           f"{s['inference_steps']:,} inference steps; held-out accuracy "
           f"{'n/a' if accuracy is None else f'{accuracy:.3f}'} at {s['number_format']}",
           f"   BPTT: {s['bptt_variant']} (headline), scenario {s['scenario']}; learning epoch "
           f"{s.get('learning_epoch', 1)} (per-neuron traces priced as compartment work)", ""]
    if report.flags:
        out.append("== feasibility and precision flags ==")
        out += [f"   ! {flag}" for flag in report.flags] + [""]
    h = report.headline
    out += ["== per training sequence ==", h.sentence()] + [f"   {d}" for d in h.drivers()]
    out += _side_table(h.denominator) + _chip_time_lines(h.denominator, s["training_sequences"], s["batch"])
    out += _side_table(h.numerator) + _gpu_time_lines(h.numerator, s["training_sequences"])
    out += ["", "BPTT scenario x variant (per training sequence, ranges over every constant):"]
    for r in report.grid:
        out.append(f"   {r.numerator.hardware:<70} {format_joules(r.numerator.joules):>10}  "
                   f"{r.span.value:.3g}x ({r.span.low:.3g}x-{r.span.high:.3g}x)")
    out += ["", "2 x 2 (rule x hardware), per training sequence:"]
    for name, cell in report.two_by_two.items():
        text = "not compiled (no BPTT program for the chip)" if cell is None else (
            f"{format_joules(cell['joules'])} ({format_joules(cell['range']['low'])}-"
            f"{format_joules(cell['range']['high'])}), {format_seconds(cell['seconds'])} per sequence")
        out.append(f"   {name:<58} {text}")
    out += ["", "online batch-1 learning, per time step (energy, latency):"]
    for row in report.streaming:
        out.append(f"   {row['rule'] + ' on ' + row['hardware']:<80} {format_joules(row['joules_per_step']):>10} "
                   f"{format_seconds(row['seconds_per_step']):>10} {row['note']}")
    i = report.inference
    out += ["", "== per inference step (batch 1, streaming) ==", i.sentence()] + [f"   {d}" for d in i.drivers()]
    out.append(f"   chip latency per step {format_seconds(i.denominator.seconds)}, conventional "
               f"{format_seconds(i.numerator.seconds)}")
    routes = report.settings.get("routes")
    if routes:
        hops = report.headline.denominator.dynamic
        count = sum(line.count for line in hops.lines if line.kind == "hops") / hops.sequences
        out += ["", f"hops: {routes['east_west'] * 100:.0f}% east-west, {routes['north_south'] * 100:.0f}% "
                    f"north-south (split in the placement's per-channel proportions); "
                    f"{count * routes['crossings']:,.0f} chip crossings per training sequence, priced as tile hops "
                    f"(no public per-crossing energy)"]
    f = report.footprints
    out += ["", "== memory (same sets on both sides: parameters, accumulators, optimizer state, per-sequence state) ==",
            f"   chip program {format_bytes(f['chip_program_bytes'])} (every buffer at its bit width, one lane); "
            f"BPTT {format_bytes(f['bptt_bytes'])} (history {format_bytes(f['bptt_history_bytes_per_sequence'])}); "
            f"tPC-RTRL fp32 {format_bytes(f['tpc_rtrl_conventional_bytes'])} "
            f"(state and traces {format_bytes(f['tpc_rtrl_state_bytes_per_sequence'])})",
            f"   tPC-RTRL's state is smaller than BPTT's history from sequence length "
            f"{f['break_even_sequence_length']} on"]
    out += ["", "NeuroBench metrics"]
    for key, value in report.neurobench.items():
        text = "n/a" if value is None else (f"{value:,}" if isinstance(value, int) else
                                            (f"{value:.4f}" if abs(value) < 1 else f"{value:,.1f}"))
        out.append(f"   {key:<44}{text:>16}")
    if report.per_layer:
        out += ["", "chip dynamic energy per training sequence, by layer: " + ", ".join(
            f"{k} {format_joules(v)}" for k, v in report.per_layer.items())]
    if report.per_op:
        top = sorted(report.per_op.items(), key=lambda item: -item[1])[:6]
        out.append("by op (largest): " + ", ".join(f"{k} {format_joules(v)}" for k, v in top))
    if report.spread:
        sp = report.spread
        out.append(f"chip dynamic energy per sequence over the run's {sp['batches']} batches: mean "
                   f"{format_joules(sp['dynamic_joules_per_sequence_mean'])}, min {format_joules(sp['min'])}, "
                   f"max {format_joules(sp['max'])} (first {format_joules(sp['first'])}, last "
                   f"{format_joules(sp['last'])})")
    out += ["", "Not included: " + "; ".join(LEFT_OUT) + "."]
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# Charts.

def _scale(values: Sequence[float]) -> tuple[str, float]:
    top = max(values) if values else 1.0
    for unit, scale in (("J", 1.0), ("mJ", 1e-3), ("uJ", 1e-6), ("nJ", 1e-9)):
        if top >= scale:
            return unit, scale
    return "pJ", 1e-12


def plot(report: EnergyReport, path: Path) -> None:
    """Energy per training sequence of each rule and hardware, with the ranges as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report.sides)
    spans = [report.sides[n] for n in names]
    unit, scale = _scale([sp.high for sp in spans])
    fig, (bars, tornado) = plt.subplots(1, 2, figsize=(14, 4.6), gridspec_kw={"width_ratios": [3, 2]})
    values = [sp.value / scale for sp in spans]
    errors = [[(sp.value - sp.low) / scale for sp in spans], [(sp.high - sp.value) / scale for sp in spans]]
    colours = ["tab:green" if n.startswith("tPC-RTRL on " + report.settings["chip_profile"]) else
               ("tab:blue" if n.startswith("BPTT") else "tab:orange") for n in names]
    bars.bar(range(len(names)), values, yerr=errors, color=colours, capsize=4)
    bars.set_xticks(range(len(names)), [n.replace(" [", "\n[") for n in names], fontsize=7, rotation=20)
    bars.set_ylabel(f"energy per training sequence ({unit})")
    bars.set_yscale("log")
    bars.set_title(f"static x time + dynamic; BPTT {report.settings['bptt_variant']}; ratio "
                   f"{report.headline.span.value:.3g}x", fontsize=9)
    _tornado(tornado, report.headline.span)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": "neuropc"})
    plt.close(fig)


def _tornado(ax: Any, item: Span, most: int = 8) -> None:
    swings = [s for s in item.swings if s.width > 0][:most][::-1]
    for y, swing in enumerate(swings):
        low, high = sorted((swing.at_low, swing.at_high))
        ax.barh(y, high - low, left=low, color="tab:gray")
    ax.axvline(item.value, color="black", linewidth=1)
    ax.set_yticks(range(len(swings)), [f"{s.profile}.{s.key}" for s in swings], fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("BPTT / tPC-RTRL energy ratio, one constant at a time")
    ax.set_title("what moves the ratio (tornado)", fontsize=9)


# ---------------------------------------------------------------------------------------------
# From a hwsim run.

#: The cost profile that prices a compiler target when the user names none.
TARGET_PROFILES = {"loihi": "loihi", "loihi2": "loihi2-estimate", "spinnaker2": "spinnaker2-estimate"}


def footprint_bytes(program: Program) -> int:
    """Bytes of every buffer on every core at its bit width (NeuroBench footprint)."""
    total_bits = 0
    for core in program.cores:
        for buf in core.buffers.values():
            total_bits += buf.size * buf.bits * (program.lanes if buf.per_lane else 1)
    return math.ceil(total_bits / 8)


def _layout(program: Program, chips: int, training: bool) -> ChipLayout:
    step = sum(p.stages * p.repeat for p in program.phases if p.when == "step" and (training or not p.train_only))
    once = sum(p.stages * p.repeat for p in program.phases if p.when != "step" and (training or not p.train_only))
    return ChipLayout(len(program.cores), chips, step, once)


def _rows(table: Any) -> tuple[WorkCounts, ...]:
    from hwsim.counters import work_counts

    return () if table is None else tuple(work_counts(row) for row in table)


def activation_sparsity(arch: Architecture, params: dict[str, Any], batch: Any) -> float:
    """NeuroBench's activation sparsity: the fraction of exactly-zero neuron activations (the
    LRU features and every hidden layer's activity) over a forward pass of ``batch``."""
    import numpy as np

    from neuropc.reference.forward import forward_sequence
    from neuropc.reference.network import layer_activity

    history = forward_sequence(arch, params, batch)
    zeros = total = 0
    for t in range(batch.length):
        for layer, value in enumerate([history.states[t + 1], *history.hidden_pre[t]]):
            activity = layer_activity(arch, layer, value)
            zeros += int(np.count_nonzero(activity == 0))
            total += int(activity.size)
    return zeros / total if total else 0.0


def run_counts(result: SimulationResult, artifact: Artifact) -> RunCounts:
    """The counts and shapes of a finished hwsim run (activation sparsity from the trained
    parameters on the held-out sequences, at most 64 of them)."""
    from hwsim.counters import WORK_KINDS, work_counts
    from neuropc.tasks.base import SequenceBatch
    from neuropc.training import held_out_batch

    spec = result.spec
    task = task_from_spec(spec.task)
    if not result.evaluations or len(result.training) == 0:
        raise NeuropcError("the energy report needs at least one training step and one evaluation")
    evaluation = result.evaluations[-1]
    program = artifact.program
    chips = int(artifact.placement.get("chips", 1))
    batch = spec.run.batch
    rows = result.training_counts()
    batches = tuple(WorkCounts.total(rows[i:i + batch]) for i in range(0, len(rows), batch))
    by_op = {} if result.training_by_op is None else {
        name: work_counts(row) for name, row in zip(WORK_KINDS, result.training_by_op, strict=True) if row.any()}
    arch = Architecture.from_spec(spec)
    held_out = held_out_batch(spec)
    few = min(held_out.size, 64)
    sample = SequenceBatch(held_out.inputs[:, :few], held_out.targets[:, :few], held_out.mask[:, :few])
    sparsity = activation_sparsity(arch, result.params, sample) if result.params else None
    return RunCounts(
        arch=arch, seq_len=task.sequence_length, batch=batch,
        iterations=program.settings.iterations, optimizer=program.settings.optimizer.name,
        train=WorkCounts.total(rows), train_sequences=len(rows), train_per_core=_rows(result.training_per_core),
        train_batches=batches, inference=evaluation.total,
        inference_steps=evaluation.time_steps.shape[0] * len(evaluation.sequences),
        inference_per_core=_rows(result.inference_per_core),
        train_layout=_layout(program, chips, True), inference_layout=_layout(program, chips, False),
        core_layers=tuple(core.layer for core in program.cores), by_op=by_op,
        footprint_bytes=footprint_bytes(program), accuracy=result.final.get("eval_accuracy"),
        activation_sparsity=sparsity, routes=artifact_route_split(artifact))


def report_from_simulation(result: SimulationResult, artifact: Artifact, chip: CostProfile,
                           conventional: CostProfile, scenario: str = "peak fp32",
                           variant: str = BPTT_VARIANT_DEFAULT) -> EnergyReport:
    """The energy report of a hwsim run: all its training sequences, its last evaluation.

    Refuses a chip profile made for another compiler target than the program's."""
    check_target(chip, artifact.target)
    run = run_counts(result, artifact)
    name = target_name(artifact.target)
    settings = {
        "spec": result.spec.name, "rule": result.spec.rule.name, "target": name,
        "sequence_length": run.seq_len, "batch": run.batch,
        "lanes": "lockstep lanes" if result.settings.lanes == run.batch else "one sequence after another",
        "training_sequences": run.train_sequences, "inference_steps": run.inference_steps,
        "number_format": result.settings.number_format, "event_threshold": result.settings.threshold.model_dump(),
        "dense": result.settings.dense, "backend": result.settings.backend, "chip_profile": chip.name,
        "conventional_profile": conventional.label, "accuracy": run.accuracy, "bptt_variant": variant,
        "scenario": scenario, "optimizer": run.optimizer, "learning_epoch": run.learning_epoch,
        "routes": None if run.routes is None else run.routes.as_dict(),
    }
    flags = feasibility_flags(chip, artifact.target, run.optimizer, result.settings.number_format,
                              artifact.report.get("warnings", []) if isinstance(artifact.report, dict) else [])
    return build_report(run, chip, conventional, settings, flags, scenario, variant)
