"""The conventional side priced three ways, inside the same boundary as the chip.

- ``peak fp32``: the profile as shipped, energy per operation = board power / peak fp32 rate.
  That includes static power but assumes every unit busy: the best case per operation.
- ``peak bf16 tensor``: the same with the MACs on the tensor cores at their peak bf16 rate.
- ``time model``: a roofline with a launch ceiling. Time per batch is the largest of the
  compute time (FLOPs / peak fp32), the off-chip memory time (bytes / bandwidth) and the
  kernel-launch time (kernels x launch latency); the idle power is charged over that time,
  and the dynamic energy per FLOP is (board power - idle power) / peak fp32, the off-chip
  energy the device-level figure. Utilisation is computed (compute time / time), not assumed.
  Taking the largest of the three overlapped terms makes the time, and so the idle energy, a
  lower bound.

So every total is static x time + dynamic on this side too; for the two peak scenarios the
static part is already inside the per-operation figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hwsim.costs import PROVENANCES, Constant, CostProfile
from hwsim.counters import ConventionalWork

SCENARIOS = ("peak fp32", "peak bf16 tensor", "time model")
TIME_MODEL_KEYS = ("board_power", "idle_power", "peak_fp32", "memory_bandwidth", "offchip_access_dynamic",
                   "kernel_launch")


def weakest(*constants: Constant) -> str:
    """The weakest provenance among the inputs of a derived number."""
    return max((c.provenance for c in constants), key=PROVENANCES.index)


def scenarios_of(profile: CostProfile) -> tuple[str, ...]:
    """The scenarios a profile has the constants for (a CPU profile has only its own figures)."""
    found = ["peak fp32"]
    if profile.has("bf16_tensor_flop"):
        found.append("peak bf16 tensor")
    if all(profile.has(key) for key in TIME_MODEL_KEYS):
        found.append("time model")
    return tuple(found)


def _picojoules(value_joules: float, source: str, *inputs: Constant) -> Constant:
    return Constant(value=value_joules * 1e12, unit="pJ", source=source, provenance=weakest(*inputs))


def scenario_profile(profile: CostProfile, scenario: str) -> CostProfile:
    """The profile whose constants price the work in ``scenario`` (its name says which)."""
    if scenario not in scenarios_of(profile):
        raise ValueError(f"profile {profile.name!r} has no constants for the scenario {scenario!r}")
    name = f"{profile.name} [{scenario}]"
    mac, optimizer = profile.constant("mac"), profile.constant("optimizer_update")
    if scenario == "peak fp32":
        return profile.with_constants({}, name)
    if scenario == "peak bf16 tensor":
        flop = profile.constant("bf16_tensor_flop")
        return profile.with_constants({"mac": _picojoules(
            2 * flop.si, f"2 FLOPs x {flop.value:g} pJ per bf16 tensor FLOP at peak ({flop.source})", flop, mac)},
            name)
    board, idle, peak = (profile.constant(k) for k in ("board_power", "idle_power", "peak_fp32"))
    per_flop = (board.si - idle.si) / peak.si
    text = f"(board {board.value:g} W - idle {idle.value:g} W) / {peak.value:g} TFLOPS fp32"
    new_mac = _picojoules(2 * per_flop, f"2 FLOPs x {text}: dynamic energy only", board, idle, peak)
    scale = new_mac.si / mac.si if mac.si else 0.0
    return profile.with_constants({
        "mac": new_mac,
        "elementwise_op": _picojoules(2 * per_flop, f"one multiply-add at {text}", board, idle, peak),
        "optimizer_update": _picojoules(optimizer.si * scale, f"the profile's optimizer update rescaled to {text}",
                                        optimizer, board, idle, peak),
        "offchip_access": profile.constant("offchip_access_dynamic"),
    }, name)


def flops(work: ConventionalWork, profile: CostProfile) -> float:
    """Floating-point operations of the work: 2 per MAC, 1 per elementwise op, and an optimizer
    update as many as the profile prices it at (its energy over a MAC's, times 2)."""
    per_update = 2 * profile.joules("optimizer_update") / profile.joules("mac") if profile.joules("mac") else 0.0
    return 2 * work.macs + work.elementwise_ops + work.optimizer_updates * per_update


@dataclass(frozen=True)
class ConventionalTime:
    """Time of one batch in one scenario, and the idle power charged over it."""

    scenario: str
    seconds: float  # per batch
    compute_seconds: float
    memory_seconds: float
    launch_seconds: float
    idle_watts: float  # 0 for the peak scenarios (static power is inside their per-op energy)

    @property
    def utilisation(self) -> float:
        return self.compute_seconds / self.seconds if self.seconds else 0.0

    @property
    def bound(self) -> str:
        return max((("compute", self.compute_seconds), ("memory", self.memory_seconds),
                    ("kernel launches", self.launch_seconds)), key=lambda item: item[1])[0]

    @property
    def static_joules(self) -> float:
        return self.idle_watts * self.seconds

    def as_dict(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "seconds_per_batch": self.seconds, "compute_s": self.compute_seconds,
                "memory_s": self.memory_seconds, "launch_s": self.launch_seconds, "utilisation": self.utilisation,
                "bound": self.bound, "idle_w": self.idle_watts, "static_j_per_batch": self.static_joules}


def conventional_time(work: ConventionalWork, offchip_bytes: float, kernels: int, profile: CostProfile,
                      scenario: str) -> ConventionalTime | None:
    """Time per batch of ``work`` (``offchip_bytes`` after placement); None without the constants."""
    if not all(profile.has(key) for key in ("peak_fp32", "memory_bandwidth")):
        return None
    fp32 = profile.per_second("peak_fp32")
    total = flops(work, profile)
    if scenario == "peak bf16 tensor" and profile.has("peak_bf16_tensor"):
        compute = 2 * work.macs / profile.per_second("peak_bf16_tensor") + (total - 2 * work.macs) / fp32
    else:
        compute = total / fp32
    memory = offchip_bytes / profile.per_second("memory_bandwidth")
    if scenario != "time model":  # the peak scenarios assume full use: compute time only, static inside
        return ConventionalTime(scenario, compute, compute, memory, 0.0, 0.0)
    launches = kernels * profile.seconds("kernel_launch")
    return ConventionalTime(scenario, max(compute, memory, launches), compute, memory, launches,
                            profile.watts("idle_power"))
