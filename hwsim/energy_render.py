"""The energy report for people: plain text, and a chart with the ranges as error bars and the
tornado of the headline ratio (what moves it, one constant at a time)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hwsim.costs import PROVENANCES
from hwsim.energy_report import LEFT_OUT, EnergyReport
from hwsim.energy_sides import Side
from hwsim.ranges import Span

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
