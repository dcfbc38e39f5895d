"""The energy report: tPC-RTRL on a neuromorphic profile against BPTT on a conventional one.

Inputs are measured counts (hwsim's WorkCounts per training sequence and per inference step)
and the network's shape; the BPTT side is counted with the same rules from the reference
(``hwsim.bptt_work``). Output: rows for a table, a JSON document and a stacked bar chart.
Nothing is estimated here beyond multiplying counts by profile constants.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hwsim.bptt_work import bptt_work, inference_work_closed_form, parameter_bytes
from hwsim.costs import CostProfile
from hwsim.counters import ConventionalWork, WorkCounts
from hwsim.energy import EnergyBreakdown, conventional_energy, neuromorphic_energy
from neuropc.errors import NeuropcError
from neuropc.reference.network import Architecture
from neuropc.tasks import task_from_spec

if TYPE_CHECKING:
    from compiler.artifact import Artifact
    from compiler.program import Program
    from hwsim.runner import SimulationResult

#: What every report says it leaves out (docs/energy_model.md explains each).
LEFT_OUT = (
    "static and leakage power, clocks and idle cores (only events are priced)",
    "host I/O: moving inputs, targets and results between host and chip",
    "the host or CPU work that drives the chip (task generation, evaluation)",
    "GPU/CPU utilisation below peak, kernel launches and framework overhead on the BPTT side",
    "instruction fetch and control on both sides",
)


@dataclass(frozen=True)
class Comparison:
    """One workload (a training sequence, or an inference step) priced on both sides."""

    label: str
    neuromorphic: EnergyBreakdown
    conventional: EnergyBreakdown
    counts: WorkCounts  # summed over neuromorphic.sequences units (sequences or steps)
    conventional_work: ConventionalWork

    @property
    def ratio(self) -> float:
        """Conventional joules per neuromorphic joule (> 1: the chip is cheaper)."""
        chip = self.neuromorphic.joules_per_sequence
        return self.conventional.joules_per_sequence / chip if chip else float("inf")


@dataclass(frozen=True)
class EnergyReport:
    train: Comparison
    inference: Comparison
    neurobench: dict[str, float | int]
    settings: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        def side(breakdown: EnergyBreakdown) -> dict[str, Any]:
            return {
                "profile": breakdown.profile,
                "joules": breakdown.joules_per_sequence,
                "by_kind": breakdown.by_kind(per_sequence=True),
                "by_provenance": {k: v / breakdown.sequences for k, v in breakdown.by_provenance().items()},
                "lines": breakdown.rows(per_sequence=True),
            }

        def comparison(c: Comparison) -> dict[str, Any]:
            return {
                "unit": c.label,
                "neuromorphic": side(c.neuromorphic),
                "conventional": side(c.conventional),
                "counts_per_unit": c.counts.per_sequence(c.neuromorphic.sequences),
                "conventional_work": c.conventional_work.per_sequence(),
                "conventional_over_neuromorphic": c.ratio,
            }

        return {"settings": self.settings, "training": comparison(self.train),
                "inference": comparison(self.inference), "neurobench": self.neurobench,
                "left_out": list(LEFT_OUT)}


def build_report(arch: Architecture, seq_len: int, batch: int, train_counts: WorkCounts, train_sequences: int,
                 inference_counts: WorkCounts, inference_steps: int, chip: CostProfile,
                 conventional: CostProfile, footprint_bytes: int, settings: dict[str, Any]) -> EnergyReport:
    """Price measured training counts (over ``train_sequences`` sequences) and inference counts
    (over ``inference_steps`` time steps) on the chip, against BPTT and a forward pass.

    BPTT is counted for the same batch size the chip's counts came from, so shared costs
    (weight reads, optimizer steps) are divided over the same number of sequences.
    """
    bptt = bptt_work(arch, seq_len, batch, conventional)
    forward = inference_work_closed_form(arch, steps=1, batch=1).placed(conventional.onchip_capacity_bytes)
    train = Comparison("training sequence", neuromorphic_energy(train_counts, chip, train_sequences),
                       conventional_energy(bptt, conventional), train_counts, bptt)
    inference = Comparison("inference step", neuromorphic_energy(inference_counts, chip, inference_steps),
                           conventional_energy(forward, conventional), inference_counts, forward)
    per_sequence = train_counts.per_sequence(train_sequences)
    per_step = inference_counts.per_sequence(inference_steps)
    neurobench = {
        "parameter_count": sum(arch.parameter_count().values()),
        "footprint_bytes": footprint_bytes,
        "bptt_footprint_bytes": parameter_bytes(arch) + bptt.activation_bytes_written // batch,
        "synaptic_ops_dense_per_sequence": per_sequence["synaptic_ops_dense"],
        "synaptic_ops_effective_per_sequence": per_sequence["synaptic_ops_effective"],
        "synaptic_ops_dense_per_inference_step": per_step["synaptic_ops_dense"],
        "synaptic_ops_effective_per_inference_step": per_step["synaptic_ops_effective"],
        "activation_sparsity_training": 1.0 - train_counts.effective_fraction,
        "activation_sparsity_inference": 1.0 - inference_counts.effective_fraction,
    }
    return EnergyReport(train, inference, neurobench, settings)


def format_joules(joules: float) -> str:
    for unit, scale in (("J", 1.0), ("mJ", 1e-3), ("uJ", 1e-6), ("nJ", 1e-9), ("pJ", 1e-12)):
        if abs(joules) >= scale:
            return f"{joules / scale:.3g} {unit}"
    return f"{joules / 1e-15:.3g} fJ"


def render(report: EnergyReport) -> str:
    """Plain-text tables: per kind for both sides, totals, ratios, constants with provenance."""
    out: list[str] = []
    for comparison in (report.train, report.inference):
        out.append(f"== per {comparison.label} ==")
        for breakdown in (comparison.neuromorphic, comparison.conventional):
            rule = "tPC-RTRL (hwsim counts)" if breakdown.hardware == "neuromorphic" else "BPTT (reference counts)"
            out.append(f"-- {rule} on {breakdown.profile}")
            out.append(f"   {'what':<44}{'count':>16}  {'constant':<28}{'provenance':<11}{'energy':>12}")
            for row in breakdown.rows(per_sequence=True):
                constant = f"{row['value']:g} {row['unit']}"
                out.append(f"   {row['what']:<44}{row['count']:>16,.0f}  {constant:<28}"
                           f"{row['provenance']:<11}{format_joules(row['joules']):>12}")
            out.append(f"   {'total':<44}{'':>16}  {'':<28}{'':<11}"
                       f"{format_joules(breakdown.joules_per_sequence):>12}")
        out.append(f"BPTT / tPC-RTRL energy per {comparison.label}: {comparison.ratio:.3g}x")
        out.append("")
    out.append("NeuroBench metrics")
    for key, value in report.neurobench.items():
        text = f"{value:,}" if isinstance(value, int) else (f"{value:.4f}" if abs(value) < 1 else f"{value:,.1f}")
        out.append(f"   {key:<44}{text:>16}")
    out.append("")
    out.append("Sources of the constants used")
    seen: set[tuple[str, str]] = set()
    for comparison in (report.train, report.inference):
        for breakdown in (comparison.neuromorphic, comparison.conventional):
            for line in breakdown.lines:
                key = (breakdown.profile, line.constant_key)
                if key not in seen:
                    seen.add(key)
                    out.append(f"   {breakdown.profile}.{line.constant_key} = {line.constant.value:g} "
                               f"{line.constant.unit} [{line.constant.provenance}] {line.constant.source}")
    out.append("")
    out.append("Not included: " + "; ".join(LEFT_OUT) + ".")
    return "\n".join(out)


def plot(report: EnergyReport, path: Path) -> None:
    """Stacked bars by kind: tPC-RTRL vs BPTT, per training sequence and per inference step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2))
    kinds = list(dict.fromkeys(kind for c in (report.train, report.inference)
                               for b in (c.neuromorphic, c.conventional) for kind in b.by_kind()))
    colours = {kind: plt.get_cmap("tab20")(i % 20) for i, kind in enumerate(kinds)}
    for ax, comparison in zip(axes, (report.train, report.inference), strict=True):
        bars = [("tPC-RTRL\n" + comparison.neuromorphic.profile, comparison.neuromorphic),
                ("BPTT\n" + comparison.conventional.profile, comparison.conventional)]
        shown: set[str] = set()
        for x, (_, breakdown) in enumerate(bars):
            bottom = 0.0
            for kind, joules in breakdown.by_kind(per_sequence=True).items():
                if joules <= 0:
                    continue
                ax.bar(x, joules, bottom=bottom, width=0.6, color=colours[kind],
                       label=kind if kind not in shown else None)
                shown.add(kind)
                bottom += joules
            ax.text(x, bottom, format_joules(bottom), ha="center", va="bottom", fontsize=8)
        ax.set_xticks(range(len(bars)), [label for label, _ in bars])
        ax.set_ylabel("energy (J)")
        ax.set_title(f"per {comparison.label}")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": "neuropc"})
    plt.close(fig)


#: The cost profile that prices a compiler target when the user names none.
TARGET_PROFILES = {"loihi": "loihi", "loihi2": "loihi2-estimate", "spinnaker2": "spinnaker2-estimate"}


def footprint_bytes(program: Program) -> int:
    """Bytes of every buffer on every core at its bit width (NeuroBench footprint)."""
    total_bits = 0
    for core in program.cores:
        for buf in core.buffers.values():
            total_bits += buf.size * buf.bits * (program.lanes if buf.per_lane else 1)
    return math.ceil(total_bits / 8)


def report_from_simulation(result: SimulationResult, artifact: Artifact, chip: CostProfile,
                           conventional: CostProfile) -> EnergyReport:
    """The energy report of a hwsim run: all its training sequences, its last evaluation."""
    spec = result.spec
    arch = Architecture.from_spec(spec)
    task = task_from_spec(spec.task)
    if not result.evaluations or len(result.training) == 0:
        raise NeuropcError("the energy report needs at least one training step and one evaluation")
    evaluation = result.evaluations[-1]
    inference_steps = evaluation.time_steps.shape[0] * len(evaluation.sequences)
    settings = {
        "spec": spec.name, "rule": spec.rule.name, "target": artifact.target.get("name", "?")
        if isinstance(artifact.target, dict) else str(artifact.target),
        "sequence_length": task.sequence_length, "batch": spec.run.batch,
        "training_sequences": len(result.training), "inference_steps": inference_steps,
        "number_format": result.settings.number_format, "event_threshold": result.settings.threshold.model_dump(),
        "dense": result.settings.dense, "backend": result.settings.backend, "chip_profile": chip.name,
        "conventional_profile": conventional.name,
    }
    return build_report(arch, task.sequence_length, spec.run.batch,
                        WorkCounts.total(result.training_counts()), len(result.training),
                        evaluation.total, inference_steps, chip, conventional,
                        footprint_bytes(artifact.program), settings)
