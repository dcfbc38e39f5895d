"""Energy = counts x profile constants, line by line, each line carrying its constant's source.

    profile = load_profile("loihi")
    breakdown = neuromorphic_energy(counts, profile, sequences=64)
    conventional_energy(bptt_work(arch, seq_len, 64, load_profile("cpu-45nm")), load_profile("cpu-45nm"))

A report prints ``breakdown.rows()``: what was counted, how many, the constant with its unit,
provenance and source, and the joules. Nothing here estimates: it multiplies exact counts by
the numbers in the profile file, so every figure traces back to a line of a YAML file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hwsim.costs import PROVENANCES, Constant, CostProfile
from hwsim.counters import ConventionalWork, WorkCounts
from hwsim.residency import Residency, history_traffic, residency
from neuropc.errors import NeuropcError

#: (kind, label, WorkCounts field, count unit, profile constant), in report order.
NEUROMORPHIC_LINES: tuple[tuple[str, str, str, str, str], ...] = (
    ("synaptic ops", "synaptic ops (effective)", "synaptic_ops_effective", "ops", "synaptic_op"),
    ("neuron updates", "neuron updates", "neuron_updates", "updates", "neuron_update"),
    ("learning: weights", "weight updates", "learning_weight_updates", "updates", "learning_weight_update"),
    ("learning: traces", "trace updates", "learning_trace_updates", "updates", "learning_trace_update"),
    ("messages", "messages", "messages", "messages", "message"),
    ("hops", "network-on-chip hops", "hops", "hops", "hop"),
    ("memory", "memory reads", "memory_reads", "accesses", "memory_read"),
    ("memory", "memory writes", "memory_writes", "accesses", "memory_write"),
)


@dataclass(frozen=True)
class EnergyLine:
    """One priced count: ``count`` x the profile's constant ``constant_key``."""

    kind: str
    label: str
    count: int
    count_unit: str
    constant_key: str
    constant: Constant
    joules: float

    def row(self, sequences: int = 1) -> dict[str, Any]:
        """A flat record for a table: per sequence when ``sequences`` > 1."""
        return {
            "kind": self.kind,
            "what": self.label,
            "count": self.count / sequences if sequences > 1 else self.count,
            "count_unit": self.count_unit,
            "constant": self.constant_key,
            "value": self.constant.value,
            "unit": self.constant.unit,
            "provenance": self.constant.provenance,
            "source": self.constant.source,
            "note": self.constant.note,
            "joules": self.joules / sequences,
        }


@dataclass(frozen=True)
class EnergyBreakdown:
    """Priced lines for the work of ``sequences`` sequences on one profile."""

    profile: str
    hardware: str  # the profile's kind: neuromorphic or conventional
    sequences: int
    lines: tuple[EnergyLine, ...]
    residency: Residency | None = None  # conventional: where the memory traffic was served

    @property
    def total_joules(self) -> float:
        return sum(line.joules for line in self.lines)

    @property
    def joules_per_sequence(self) -> float:
        return self.total_joules / self.sequences

    def by_kind(self, per_sequence: bool = False) -> dict[str, float]:
        """Joules per kind of work, in report order."""
        scale = self.sequences if per_sequence else 1
        totals: dict[str, float] = {}
        for line in self.lines:
            totals[line.kind] = totals.get(line.kind, 0.0) + line.joules / scale
        return totals

    def by_provenance(self) -> dict[str, float]:
        """How much of the total rests on measured, simulated, derived and assumed numbers."""
        totals = dict.fromkeys(PROVENANCES, 0.0)
        for line in self.lines:
            totals[line.constant.provenance] += line.joules
        return totals

    @property
    def offchip_bytes(self) -> int:
        """Bytes of DRAM/HBM traffic among the lines (what the memory roofline needs)."""
        return sum(line.count for line in self.lines if line.constant_key == "offchip_access")

    def rows(self, per_sequence: bool = True) -> list[dict[str, Any]]:
        return [line.row(self.sequences if per_sequence else 1) for line in self.lines]


def _line(profile: CostProfile, kind: str, label: str, count: int, count_unit: str, key: str) -> EnergyLine:
    constant = profile.constant(key)
    per = profile.joules_per_byte(key) if count_unit == "bytes" else profile.joules(key)
    return EnergyLine(kind, label, count, count_unit, key, constant, count * per)


def _require(profile: CostProfile, kind: str, what: str) -> None:
    if profile.kind != kind:
        raise NeuropcError(f"cost profile {profile.name!r} is {profile.kind}, but {what} needs a {kind} "
                           f"profile")


def neuromorphic_energy(counts: WorkCounts, profile: CostProfile, sequences: int = 1,
                        east_west: float | None = None) -> EnergyBreakdown:
    """Price a neuromorphic run. Synaptic ops are priced effective (only executed ops cost).

    ``east_west``: the fraction of hops that ran east-west (``hwsim.routes``); with it, and a
    profile that prices both directions, the hops are two lines at ``hop_east_west`` and
    ``hop_north_south`` instead of one at the mean ``hop``."""
    _require(profile, "neuromorphic", "pricing hwsim counters")
    if sequences < 1:
        raise ValueError(f"sequences must be at least 1, got {sequences}")
    lines = []
    for kind, label, name, unit, key in NEUROMORPHIC_LINES:
        if (name == "hops" and east_west is not None and profile.has("hop_east_west")
                and profile.has("hop_north_south")):
            ew = round(counts.hops * east_west)
            lines += [_line(profile, kind, "hops east-west", ew, unit, "hop_east_west"),
                      _line(profile, kind, "hops north-south", counts.hops - ew, unit, "hop_north_south")]
        else:
            lines.append(_line(profile, kind, label, getattr(counts, name), unit, key))
    return EnergyBreakdown(profile.name, profile.kind, sequences, tuple(lines))


def conventional_energy(work: ConventionalWork, profile: CostProfile,
                        live_history_bytes: int | None = None) -> EnergyBreakdown:
    """Price BPTT's work; memory traffic is split on the profile's on-chip capacity by the reuse
    model of ``hwsim.residency`` (``live_history_bytes``: history alive at once, default all)."""
    _require(profile, "conventional", "pricing BPTT work")
    placed = residency(work, profile.onchip_capacity_bytes, live_history_bytes)
    p, h = placed.parameter_offchip_fraction, placed.history_offchip_fraction
    history_off = round(history_traffic(work) * h)
    history_on = work.activation_bytes_written + work.activation_bytes_read - history_off
    weights_off, gradients_off = round(work.weight_reads * p), round(work.gradient_bytes * p)
    traces_off = round(work.trace_bytes * p)
    lines = (
        _line(profile, "MACs forward", "forward MACs", work.forward_macs, "MACs", "mac"),
        _line(profile, "MACs backward", "backward MACs", work.backward_macs, "MACs", "mac"),
        _line(profile, "MACs weight-gradient", "weight-gradient MACs", work.weight_gradient_macs, "MACs", "mac"),
        _line(profile, "elementwise", "elementwise ops", work.elementwise_ops, "ops", "elementwise_op"),
        _line(profile, "optimizer", "optimizer updates", work.optimizer_updates, "updates", "optimizer_update"),
        _line(profile, "weight reads on-chip", "weight reads (on-chip)", work.weight_reads - weights_off, "bytes",
              "onchip_access"),
        _line(profile, "weight reads off-chip", "weight reads (off-chip)", weights_off, "bytes", "offchip_access"),
        _line(profile, "gradient traffic on-chip", "gradient accumulator traffic (on-chip)",
              work.gradient_bytes - gradients_off, "bytes", "onchip_access"),
        _line(profile, "gradient traffic off-chip", "gradient accumulator traffic (off-chip)", gradients_off,
              "bytes", "offchip_access"),
        _line(profile, "trace traffic on-chip", "eligibility-trace traffic (on-chip)", work.trace_bytes - traces_off,
              "bytes", "onchip_access"),
        _line(profile, "trace traffic off-chip", "eligibility-trace traffic (off-chip)", traces_off, "bytes",
              "offchip_access"),
        _line(profile, "activation history on-chip", "history written and read, on-chip", max(history_on, 0),
              "bytes", "onchip_access"),
        _line(profile, "activation history off-chip", "history spilled to DRAM/HBM and read back", history_off,
              "bytes", "offchip_access"),
    )
    return EnergyBreakdown(profile.name, profile.kind, work.sequences, lines, placed)
