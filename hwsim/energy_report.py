"""The energy report: tPC-RTRL on a neuromorphic chip against BPTT on a conventional one.

Inputs are measured counts of a hwsim run (per training sequence, per inference step and per
core) and the network's shape. Both sides are priced inside one boundary, static power x time
plus dynamic energy (``hwsim.energy_sides``, ``hwsim.chip_time``, ``hwsim.conventional_time``);
BPTT in the variants practitioners run (``hwsim.bptt_variants``), tPC-RTRL on the conventional
chip too (``hwsim.rtrl_gpu_work``); every total and ratio as a range over the constants'
low/high (``hwsim.ranges``). ``EnergyReport.as_dict`` is energy.json; ``hwsim.energy_render``
turns a report into text and charts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hwsim.bptt_variants import BPTT_VARIANT_DEFAULT, VARIANTS
from hwsim.bptt_work import FP32_BYTES, _Sizes, bptt_history_bytes, parameter_bytes, rtrl_state_bytes
from hwsim.chip_time import ChipLayout
from hwsim.conventional_time import scenarios_of
from hwsim.costs import CostProfile
from hwsim.counters import WorkCounts
from hwsim.energy import neuromorphic_energy
from hwsim.energy_sides import (
    Ratio,
    RunCounts,
    Side,
    chip_inference,
    chip_training,
    compare,
    gpu_bptt,
    gpu_inference,
    gpu_rtrl,
    joules_span,
)
from hwsim.feasibility import check_target, feasibility_flags, target_name
from hwsim.ranges import Span
from hwsim.routes import artifact_route_split
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
        inference_core_sequences=sum(len(e.sequences) for e in result.evaluations),
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
