"""How training cost and memory grow with sequence length, tPC-RTRL against BPTT.

tPC-RTRL's per-sequence work comes from a measured hwsim run at each length (a callable the
caller supplies, so this module stays independent of how the simulator is driven); BPTT's work
and history are counted by ``hwsim.bptt_work``. BPTT's memory grows with T; tPC-RTRL's does not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hwsim.bptt_work import bptt_history_bytes, bptt_work, rtrl_state_bytes
from hwsim.costs import CostProfile
from hwsim.counters import WorkCounts
from hwsim.energy import conventional_energy, neuromorphic_energy
from hwsim.energy_render import format_joules
from neuropc.reference.network import Architecture


@dataclass(frozen=True)
class ScalingRow:
    length: int
    rtrl_joules: float  # per training sequence, on the neuromorphic profile
    bptt_joules: float  # per training sequence, on the conventional profile
    rtrl_memory_bytes: int  # per sequence: state, traces, one step's nodes
    bptt_memory_bytes: int  # per sequence: the activation history
    bptt_offchip_bytes: float  # per sequence: history traffic that spills to DRAM/HBM

    def as_dict(self) -> dict[str, float | int]:
        return dict(self.__dict__)


def scaling_rows(arch: Architecture, lengths: Sequence[int], batch: int,
                 counts_at: Callable[[int], WorkCounts], chip: CostProfile,
                 conventional: CostProfile) -> list[ScalingRow]:
    """``counts_at(T)`` returns measured hwsim counts for one training sequence of length T."""
    rows = []
    for length in lengths:
        work = bptt_work(arch, length, batch, conventional)
        rows.append(ScalingRow(
            length=length,
            rtrl_joules=neuromorphic_energy(counts_at(length), chip).joules_per_sequence,
            bptt_joules=conventional_energy(work, conventional).joules_per_sequence,
            rtrl_memory_bytes=int(rtrl_state_bytes(arch).total),
            bptt_memory_bytes=int(bptt_history_bytes(arch, length).total),
            bptt_offchip_bytes=work.activation_bytes_offchip / batch,
        ))
    return rows


def render(rows: list[ScalingRow], chip: str, conventional: str) -> str:
    head = (f"{'T':>8}  {'tPC-RTRL on ' + chip:>26}  {'BPTT on ' + conventional:>22}  {'ratio':>8}  "
            f"{'tPC-RTRL memory':>16}  {'BPTT history':>14}  {'BPTT off-chip':>14}")
    lines = [head]
    for r in rows:
        lines.append(f"{r.length:>8}  {format_joules(r.rtrl_joules):>26}  {format_joules(r.bptt_joules):>22}  "
                     f"{r.bptt_joules / r.rtrl_joules:>7.3g}x  {_bytes(r.rtrl_memory_bytes):>16}  "
                     f"{_bytes(r.bptt_memory_bytes):>14}  {_bytes(r.bptt_offchip_bytes):>14}")
    lines.append("energy and memory per training sequence; memory excludes the parameters both rules keep")
    return "\n".join(lines)


def _bytes(value: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value:.0f} B"


def plot(rows: list[ScalingRow], chip: str, conventional: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lengths = [r.length for r in rows]
    fig, (energy_ax, memory_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    energy_ax.loglog(lengths, [r.rtrl_joules for r in rows], "o-", label=f"tPC-RTRL on {chip}")
    energy_ax.loglog(lengths, [r.bptt_joules for r in rows], "s-", label=f"BPTT on {conventional}")
    energy_ax.set_xlabel("sequence length T")
    energy_ax.set_ylabel("energy per training sequence (J)")
    energy_ax.legend()
    memory_ax.loglog(lengths, [r.rtrl_memory_bytes for r in rows], "o-", label="tPC-RTRL state + traces")
    memory_ax.loglog(lengths, [r.bptt_memory_bytes for r in rows], "s-", label="BPTT activation history")
    memory_ax.set_xlabel("sequence length T")
    memory_ax.set_ylabel("bytes per sequence")
    memory_ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": "neuropc"})
    plt.close(fig)
