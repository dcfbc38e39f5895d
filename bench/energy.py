"""Energy of learning: tPC-RTRL on neuromorphic profiles vs BPTT on conventional ones.

Writes docs/results/energy.md (and energy_<network>.png: energies with their ranges as error
bars, and the tornado of the headline ratio). For each network the program is compiled for
each chip's own target (a Loihi 1 row comes from a ``--target loihi`` compile with SGD, a
Loihi 2 row from a ``--target loihi2`` compile), trained on hwsim from its initial parameters
with delta coding on, and priced inside one boundary on both sides (static power x time +
dynamic energy), every ratio as a range over the constants' low/high:

- offline batched training: BPTT in the variants practitioners run, a batch sweep, three GPU
  scenarios (peak fp32, peak bf16 tensor, roofline + idle power + kernel launches);
- online batch-1 streaming: energy and latency of one learning step;
- the 2 x 2 table {tPC-RTRL, BPTT} x {chip, GPU}, time-to-solution and EDP.

    python bench/energy.py                       # the recorded run
    python bench/energy.py --networks copy --batches 5 --out /tmp/energy.md   # a quick look
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import replace
from pathlib import Path

from compiler.pipeline import compile_artifact
from hwsim.bptt_variants import BATCH_SWEEP, VARIANTS
from hwsim.conventional_time import scenarios_of
from hwsim.costs import CostProfile, load_profile
from hwsim.energy_render import format_bytes, format_joules, format_seconds, plot, provenance_text
from hwsim.energy_report import LEFT_OUT, EnergyReport, report_from_simulation, run_counts
from hwsim.energy_sides import RunCounts, chip_training, compare, gpu_bptt
from hwsim.runner import simulate
from neuropc.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]

#: name -> (spec, training batches, batch size, event threshold, SGD learning rate for Loihi 1,
#: also run at the target's fixed-point widths)
NETWORKS = {
    "copy": ("copy.yaml", 200, 64, 0.002, 0.1, True),  # 0.002 keeps accuracy (docs/results/hwsim_speed.md)
    "paper-scale": ("paper_scale.yaml", 8, 1, 0.002, 0.01, False),
}
LEARNING_EPOCHS = (1, 2, 4, 8)
#: chip profile -> the compiler target its rows must come from
CHIPS = {"loihi2-estimate": "loihi2", "loihi": "loihi", "loihi-sanafe": "loihi"}
CONVENTIONAL = ("gpu-h100", "jetson-orin-nano", "cpu-45nm")


def measure(name: str, target: str, batches: int, batch: int, threshold: float, sgd_lr: float,
            number_format: str = "float64"):
    """Compile ``name`` for ``target`` (Loihi 1 has no Adam: SGD) and train it on hwsim."""
    spec_file, *_ = NETWORKS[name]
    overrides = {"run.steps": batches, "run.batch": batch, "run.eval_every": max(batches, 1),
                 "run.eval_sequences": batch, "hardware": {"target": target}}
    spec = load_spec(ROOT / "examples" / spec_file)
    if target == "loihi" and spec.rule.optimizer.name != "sgd":
        overrides |= {"rule.optimizer.name": "sgd", "rule.optimizer.lr": sgd_lr}
    artifact = compile_artifact(spec.with_overrides(overrides))
    started = time.perf_counter()
    result = simulate(artifact, threshold=threshold, number_format=number_format)
    return artifact, result, time.perf_counter() - started


def _ratio_cell(chip: CostProfile, other: CostProfile, run: RunCounts, scenario: str, variant: str,
                batch: int | None = None) -> str:
    ratio = compare("training sequence", lambda p: chip_training(run, p),
                    lambda p: gpu_bptt(run, p, scenario, variant, batch, window=max(1, run.seq_len // 3)),
                    chip, other)
    return f"{ratio.span.value:.3g}x ({ratio.span.low:.3g}-{ratio.span.high:.3g})"


def _time_model_seconds(report: EnergyReport) -> float:
    """Per-sequence time of the headline BPTT variant in the time-model scenario."""
    ratio = next(r for r in report.grid if "[time model]" in r.numerator.hardware
                 and report.settings["bptt_variant"] in r.numerator.hardware)
    return ratio.numerator.seconds or 0.0


def network_section(name: str, args: argparse.Namespace) -> list[str]:
    spec_file, default_batches, batch, threshold, sgd_lr, fixed = NETWORKS[name]
    batches = args.batches or default_batches
    lines = [f"## {name} (`examples/{spec_file}`)", ""]
    runs: dict[str, tuple] = {}
    for target in dict.fromkeys(CHIPS.values()):
        artifact, result, seconds = measure(name, target, batches, batch, threshold, sgd_lr)
        runs[target] = (artifact, result, run_counts(result, artifact))
        accuracy = result.final.get("eval_accuracy")
        lines.append(f"- `--target {target}` ({artifact.program.settings.optimizer.name}, "
                     f"{len(artifact.program.cores)} cores on {artifact.placement.get('chips', 1)} chip(s)): "
                     f"{len(result.training)} training sequences ({batches} batches of {batch}) simulated in "
                     f"{seconds:.0f} s (under load); threshold {threshold}; float64; held-out accuracy "
                     f"{'n/a' if accuracy is None else f'{accuracy:.3f}'}")
    lines.append("")
    reports: dict[tuple[str, str], EnergyReport] = {}
    for chip_name, target in CHIPS.items():
        artifact, result, _ = runs[target]
        for other in CONVENTIONAL:
            reports[chip_name, other] = report_from_simulation(result, artifact, load_profile(chip_name),
                                                               load_profile(other))
    main = reports["loihi2-estimate", "gpu-h100"]
    run = runs["loihi2"][2]
    s = main.settings
    lines += [f"Settings: chip profiles {', '.join(CHIPS)} (each from its own target), number format "
              f"{s['number_format']}, threshold {threshold}, batch {s['batch']}, "
              f"{s['training_sequences']:,} training sequences counted (all of the run), sequence length "
              f"{s['sequence_length']}; BPTT headline variant {s['bptt_variant']}.", "",
              "Flags (loihi2 compile): " + "; ".join(main.flags), "",
              "Flags (loihi compile): " + "; ".join(reports["loihi", "gpu-h100"].flags), "",
              "### The ratio, offline batched training", "",
              "Per training sequence, static x time + dynamic on both sides; ranges over every constant's "
              "low/high; BPTT time-batched at the run's batch.", "",
              "| chip | conventional | scenario | ratio BPTT / tPC-RTRL (range) | what drives it |",
              "|---|---|---|---|---|"]
    for (chip_name, other), report in reports.items():
        for scenario in scenarios_of(load_profile(other)):
            ratio = next(r for r in report.grid if f"[{scenario}]" in r.numerator.hardware
                         and report.settings["bptt_variant"] in r.numerator.hardware)
            lines.append(f"| {chip_name} | {load_profile(other).label} | {scenario} | {ratio.span.value:.3g}x "
                         f"({ratio.span.low:.3g}-{ratio.span.high:.3g}) | {'; '.join(ratio.drivers())} |")
    lines += ["", f"Headline: {main.headline.sentence()}", ""]
    lines += ["### BPTT variants and the batch sweep (against tPC-RTRL on loihi2-estimate)", "",
              "| scenario | variant | " + " | ".join(f"batch {b}" for b in BATCH_SWEEP) + " |",
              "|---|---|" + "---|" * len(BATCH_SWEEP)]
    chip, gpu = load_profile("loihi2-estimate"), load_profile("gpu-h100")
    for scenario in scenarios_of(gpu):
        for variant in VARIANTS:
            cells = [_ratio_cell(chip, gpu, run, scenario, variant, b) for b in BATCH_SWEEP]
            lines.append(f"| gpu-h100 {scenario} | {variant} | " + " | ".join(cells) + " |")
    per_step = gpu_bptt(run, gpu, "peak fp32", "per-step")
    residency = per_step.dynamic.residency
    lines += ["", f"Memory of the per-step reference on gpu-h100: {residency.text()}. "
              + "; ".join(main.headline.drivers()[1:]) + ".", ""]
    lines += ["### 2 x 2: rule x hardware (per training sequence)", "",
              "| | energy (range) | time per sequence | EDP (J s) | provenance |", "|---|---|---|---|---|"]
    for cell_name, cell in main.two_by_two.items():
        if cell is None:
            lines.append(f"| {cell_name} | not compiled: the compiler has no BPTT program for the chip | | | |")
            continue
        lines.append(f"| {cell_name} | {format_joules(cell['joules'])} ({format_joules(cell['range']['low'])}-"
                     f"{format_joules(cell['range']['high'])}) | {format_seconds(cell['seconds'])} | "
                     f"{cell['edp_joule_seconds']:.3g} | " + ", ".join(
                         f"{k} {v / cell['joules'] * 100:.0f}%" for k, v in cell["by_provenance"].items() if v) + " |")
    chip_side = main.headline.denominator
    t = chip_side.time
    lines += ["", "### Time, static energy, time-to-solution, EDP (loihi2-estimate)", "",
              f"- time per step {format_seconds(t['step_s'])} (busiest core {t['busiest_core']}: "
              f"{format_seconds(t['compute_s_per_step'])} of events, {t['stages_per_step']} barriers "
              f"{format_seconds(t['barrier_s_per_step'])}); per sequence {format_seconds(t['seconds'])}; per batch of "
              f"{batch} {format_seconds(t['seconds'] * batch)}",
              f"- static: {format_joules(t['static_j_used_cores'])} per sequence for the {t['cores']} used cores, "
              f"{format_joules(t['static_j_whole_chips'])} for {t['chips']} whole chip(s) (charged); dynamic "
              f"{format_joules(chip_side.dynamic.joules_per_sequence)}",
              f"- EDP {chip_side.edp:.3g} J s per sequence; time-to-solution for "
              f"{s['training_sequences']:,} sequences {format_seconds(t['seconds'] * s['training_sequences'])} "
              f"(BPTT time-batched on gpu-h100, time model: "
              f"{format_seconds(_time_model_seconds(main) * s['training_sequences'])})",
              f"- provenance of the chip's joules: {provenance_text(chip_side)}; of BPTT's: "
              f"{provenance_text(main.headline.numerator)}", ""]
    lines += ["### The learning engine's epoch (loihi2-estimate)", "",
              "Per-neuron traces are priced as compartment work. An epoch of E steps evaluates the per-step "
              "products once per E steps (trace products approximating them); hwsim runs the exact products "
              "(E = 1), so the accuracy of E > 1 is not measured.", "",
              "| learning epoch | weight updates per sequence | tPC-RTRL per sequence | BPTT / tPC-RTRL |",
              "|---|---|---|---|"]
    for epoch in LEARNING_EPOCHS:
        at = replace(run, learning_epoch=epoch)
        ratio = compare("training sequence", lambda p, at=at: chip_training(at, p),
                        lambda p: gpu_bptt(run, p, "peak fp32", "time-batched"), chip, gpu)
        updates = ratio.denominator.dynamic.rows()[2]["count"]
        lines.append(f"| {epoch}{' (exact, as run)' if epoch == 1 else ''} | {updates:,.0f} | "
                     f"{format_joules(ratio.denominator.joules)} | {ratio.span.value:.3g}x "
                     f"({ratio.span.low:.3g}-{ratio.span.high:.3g}) |")
    lines.append("")
    if fixed:
        artifact, result, seconds = measure(name, "loihi2", batches, batch, threshold, sgd_lr, "fixed")
        report = report_from_simulation(result, artifact, chip, gpu)
        accuracy = result.final.get("eval_accuracy")
        lines += [f"At the target's fixed-point widths (`--format fixed`, weight and trace "
                  f"{artifact.target['constants']['weight_bits']['value']} bits; simulated in {seconds:.0f} s): "
                  f"held-out accuracy {accuracy:.3f} (float64: {runs['loihi2'][1].final.get('eval_accuracy'):.3f}); "
                  f"{report.headline.sentence()}", ""]
    lines += ["### Online batch-1 streaming (per learning step)", "",
              "| rule on hardware | energy per step | latency per step | note |", "|---|---|---|---|"]
    for row in main.streaming:
        lines.append(f"| {row['rule']} on {row['hardware']} | {format_joules(row['joules_per_step'])} | "
                     f"{format_seconds(row['seconds_per_step'])} | {row['note']} |")
    lines += ["", f"Inference, per step at batch 1: {main.inference.sentence()}", ""]
    f = main.footprints
    lines += ["### Memory (same sets on both sides)", "",
              f"- chip program {format_bytes(f['chip_program_bytes'])}; BPTT {format_bytes(f['bptt_bytes'])} "
              f"(history {format_bytes(f['bptt_history_bytes_per_sequence'])} per sequence); tPC-RTRL in fp32 "
              f"{format_bytes(f['tpc_rtrl_conventional_bytes'])} (state and traces "
              f"{format_bytes(f['tpc_rtrl_state_bytes_per_sequence'])})",
              f"- tPC-RTRL's state is smaller than BPTT's history from sequence length "
              f"{f['break_even_sequence_length']} on (this network runs {s['sequence_length']})", ""]
    sp = main.spread
    if sp:
        lines += [f"Counts over the run: chip dynamic energy per sequence over {sp['batches']} batches, mean "
                  f"{format_joules(sp['dynamic_joules_per_sequence_mean'])}, min {format_joules(sp['min'])}, max "
                  f"{format_joules(sp['max'])} (first {format_joules(sp['first'])}, last {format_joules(sp['last'])}).",
                  ""]
    lines += ["Chip energy per training sequence by layer: " + ", ".join(
        f"{k} {format_joules(v)}" for k, v in main.per_layer.items()) + "; by op (largest): " + ", ".join(
        f"{k} {format_joules(v)}" for k, v in sorted(main.per_op.items(), key=lambda item: -item[1])[:6]), ""]
    figure = args.out.with_name(f"energy_{name}.png")
    plot(main, figure)
    lines += [f"![energy with ranges and the tornado of the ratio, {name}]({figure.name})", ""]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--networks", default=",".join(NETWORKS))
    parser.add_argument("--batches", type=int, help="training batches per run (default: per network)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "energy.md")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    lines = [
        "# Energy of learning: tPC-RTRL on neuromorphic hardware vs BPTT",
        "",
        f"Generated by `python bench/energy.py` on {platform.machine()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores shared with other jobs (times are measured under load). Counts are "
        "measured by hwsim (float64) on programs compiled for each chip's own target; BPTT and tPC-RTRL on "
        "the conventional side are counted in closed form from the reference's operations "
        "(docs/energy_model.md). Both sides are priced as static power x time + dynamic energy, every "
        "ratio as a range over the low/high of every constant in `hwsim/profiles/`.",
        "",
    ]
    for name in args.networks.split(","):
        lines += network_section(name, args)
    lines += ["## What the estimate leaves out", ""] + [f"- {item}" for item in LEFT_OUT] + [
        "- the chip's per-event energies are pre-silicon simulations (loihi), silicon fits (loihi-sanafe) or "
        "scaled assumptions (loihi2-estimate); the GPU's peak scenarios are whole-board best cases per "
        "operation (a lower bound below peak), its time model a roofline with assumed idle power and "
        "launch latency; nothing on either side is measured here (no GPU on this machine: "
        "`bench/gpu_measure.py` writes a measured profile where one exists)",
        f"- the whole run took {time.perf_counter() - started:.0f} s under load",
        "",
    ]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
