"""hwsim against the numpy reference: training throughput, and what delta coding saves.

    python bench/hwsim_speed.py                       # writes docs/results/hwsim_speed.md
    python bench/hwsim_speed.py --fixed-point         # writes docs/results/fixed_point.md
    python bench/hwsim_speed.py --quick --out /tmp/speed.md     # a short look

Speed: the same copy-task configuration (examples/copy.yaml), the same sequences and the same
initial weights; the reference trains them with ``neuropc.reference.rules.train_on_batch``,
hwsim with its engine (``hwsim.runner.train_batch``, B lanes in lockstep), at batch 1 and
batch 32, one thread each (OPENBLAS/OMP/MKL threads = 1; the engine on one worker, NEUROPC_THREADS=1). Best
of ``--repeats`` rounds, each timing the reference and every hwsim run back to back. Time
steps per second count sequence-steps (B per lockstep step).

Accuracy: ``neuropc simulate`` runs of the same spec at batch 32 for ``--steps`` batches, one
per event threshold, next to ``neuropc train`` (the reference), as a user runs them. First one
threshold for activities and errors alike (``--thresholds``): the chosen one is the largest
whose final held-out accuracy is within 1 point of threshold 0. Then activities get their own
threshold (``--activity-thresholds``) while errors keep that chosen one, chosen by the same
rule. The speed section also times hwsim at both chosen settings.

Fixed point (``--fixed-point``): ``neuropc simulate`` at float64, float32 and fixed (the
target's widths, and with some widths raised through ``hardware.overrides``), same steps.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
             "NEUROPC_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from machine import cpu_name  # noqa: E402  (bench/machine.py)
from timing import time_interleaved, training_batches  # noqa: E402  (bench/timing.py)

from compiler.pipeline import compile_artifact as artifact_from_spec  # noqa: E402
from hwsim.engine import FIELDS, Engine  # noqa: E402
from hwsim.runner import train_batch  # noqa: E402
from neuropc.reference.network import Architecture, params_from_spec  # noqa: E402
from neuropc.reference.optim import Optimizer  # noqa: E402
from neuropc.reference.rules import train_on_batch  # noqa: E402
from neuropc.spec import NetworkSpec, dump_spec, load_spec  # noqa: E402
from neuropc.tasks import task_from_spec  # noqa: E402

EFF, DENSE, MSG = (FIELDS.index(n) for n in ("synaptic_ops_effective", "synaptic_ops_dense",
                                              "messages"))


# -- speed ---------------------------------------------------------------------------------

Thresholds = tuple[float, float]  # (activity, error)
EXACT: Thresholds = (0.0, 0.0)


def _label(key: Thresholds) -> str:
    activity, error = key
    return f"T = {activity:g}" if activity == error else f"activity {activity:g}, error {error:g}"


def _option(key: Thresholds) -> str:
    """``key`` as ``neuropc simulate --threshold`` takes it."""
    activity, error = key
    return repr(activity) if activity == error else f"activity={activity!r},error={error!r}"


def throughput(spec: NetworkSpec, batch: int, batches: int, thresholds: list[Thresholds],
               repeats: int) -> dict:
    """Reference and hwsim on the same ``batches`` batches of ``batch`` sequences, from the
    same initial weights."""
    arch = Architecture.from_spec(spec)
    data, steps = training_batches(spec, batch, batches)
    artifact = artifact_from_spec(spec)
    warm = Engine(artifact, batch)  # loads the cached kernels (or compiles them once)
    train_batch(warm, data[0])
    losses: dict = {}

    def reference(state) -> None:
        params, optimizer = state
        losses["reference"] = [train_on_batch(arch, spec.rule, params, b, optimizer) for b in data]

    runs: dict = {"reference": (lambda: (params_from_spec(spec), Optimizer(spec.rule.optimizer)),
                                reference)}
    counts: dict = {}
    for threshold in thresholds:

        def hwsim(engine: Engine, threshold: Thresholds = threshold) -> None:
            losses[threshold] = [train_batch(engine, b)[0] for b in data]
            counts[threshold] = engine.core_totals.sum(axis=0)

        def setup(threshold: Thresholds = threshold) -> Engine:
            activity, error = threshold
            return Engine(artifact, batch, threshold={"activity": activity, "error": error})

        runs[threshold] = (setup, hwsim)
    seconds = time_interleaved(runs, repeats)
    rows: dict = {"reference": {"seconds": seconds["reference"]}}
    for threshold in thresholds:
        rows[threshold] = {"seconds": seconds[threshold], "counts": counts[threshold]}
    exact = rows[EXACT]["counts"]
    for key, row in rows.items():
        row["steps_per_s"] = steps / row["seconds"]
        events = row["counts"][EFF] if key != "reference" else exact[EFF]
        row["events_per_s"] = events / row["seconds"]
    difference = max(abs(a - b) for a, b in zip(losses["reference"], losses[EXACT], strict=True))
    return {"batch": batch, "batches": batches, "time_steps": steps, "rows": rows,
            "loss_difference": difference, "dense_per_step": exact[DENSE] / steps,
            "effective_per_step": exact[EFF] / steps}


def cold_compile_seconds() -> float:
    """A fresh process with an empty numba cache: import, encode and the first step."""
    code = ("import numpy as np; from neuropc.spec import load_spec; "
            "from compiler.pipeline import compile_artifact as artifact_from_spec; from hwsim.engine import Engine; "
            "s = load_spec('examples/copy.yaml').with_overrides({'recurrent.size': 4, "
            "'readout.hidden': [3]}); e = Engine(artifact_from_spec(s), 1); e.reset()")
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)
        return time.perf_counter() - started


# -- runs through the command line -----------------------------------------------------------

def _cli(args: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "neuropc", *args], cwd=ROOT,
                          capture_output=True, text=True, env=os.environ.copy())
    if done.returncode != 0:
        raise SystemExit(f"neuropc {' '.join(args)} failed:\n{done.stderr}")
    return time.perf_counter() - started


def _metrics(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]


def _summary(folder: Path, wall: float) -> dict:
    rows = _metrics(folder)
    out = {"final": rows[-1]["eval_accuracy"], "best": max(r["eval_accuracy"] for r in rows),
           "loss": rows[-1]["eval_loss"], "wall": wall, "curve": rows}
    counters = folder / "counters.json"
    if counters.exists():
        doc = json.loads(counters.read_text())
        train = doc["training"]
        evaluation = doc["inference"]["evaluations"][-1]
        out["train_total"] = train["total"]
        out["train_sequences"] = train["sequences"]
        out["infer_total"] = evaluation["total"]
        out["infer_sequences"] = evaluation["sequences"]
        out["fixed_point"] = doc["fixed_point"]
        by_layer: dict[str, list[int]] = {}
        for core, counts in zip(doc["cores"], train["per_core"], strict=True):
            ops = by_layer.setdefault(core["layer"], [0, 0])
            ops[0] += counts["synaptic_ops_effective"]
            ops[1] += counts["synaptic_ops_dense"]
        out["train_by_layer"] = by_layer
    return out


def accuracy_sweep(spec: NetworkSpec, thresholds: list[Thresholds], folder: Path, jobs: int,
                   with_reference: bool) -> tuple[dict, dict | None]:
    """``neuropc simulate`` at each (activity, error) threshold, and ``neuropc train`` if
    ``with_reference``, ``jobs`` at a time."""
    spec_path = folder / "spec.yaml"
    spec_path.write_text(dump_spec(spec))

    def one(threshold: Thresholds) -> tuple[Thresholds, dict]:
        out = folder / f"threshold-{threshold[0]:g}-{threshold[1]:g}"
        wall = _cli(["simulate", str(spec_path), "--threshold", _option(threshold), "--out",
                     str(out), "--force"])
        return threshold, _summary(out, wall)

    def reference() -> dict:
        out = folder / "reference"
        wall = _cli(["train", str(spec_path), "--out", str(out), "--force"])
        return _summary(out, wall)

    with ThreadPoolExecutor(jobs) as pool:
        ref = pool.submit(reference) if with_reference else None
        results = dict(pool.map(one, thresholds))
        return results, ref.result() if ref is not None else None


def _within_a_point(sweep: dict, key: Thresholds) -> bool:
    """The accuracy rule of the target: final accuracy at most 1 point under threshold 0."""
    return sweep[key]["final"] >= sweep[EXACT]["final"] - 0.01


def _largest_within_a_point(sweep: dict, keys: list[Thresholds]) -> Thresholds:
    """The largest threshold among ``keys`` (keys differ in one population) that keeps the
    accuracy rule."""
    return max(key for key in keys if _within_a_point(sweep, key))


# -- documents ---------------------------------------------------------------------------

def _environment() -> str:
    import numba

    return (f"{platform.machine()}, {os.cpu_count()} cores ({cpu_name()}), "
            f"Python {platform.python_version()}, numpy {np.__version__}, numba "
            f"{numba.__version__}, one thread per process")


def _dense_per_step(spec: NetworkSpec) -> tuple[int, int]:
    """Dense synaptic ops of one time step (rows x columns, + rows for a bias), in predict
    and in the inference iterations, from the layer sizes."""
    c = 2 if spec.recurrent.complex else 1
    sizes = [c * spec.recurrent.size, *spec.readout.hidden, spec.readout.output]
    predict = c * spec.recurrent.size * spec.input.size
    predict += sum(sizes[i] * sizes[i + 1] + sizes[i + 1] for i in range(len(sizes) - 1))
    feedback = sum(sizes[i] * sizes[i + 1] for i in range(len(sizes) - 1))
    iterations = spec.rule.inference.iterations if spec.rule.uses_inference else 0
    return predict, iterations * feedback


def _ratio(total: dict) -> float:
    return total["synaptic_ops_effective"] / total["synaptic_ops_dense"]


def _layer_rows(runs: list[dict]) -> list[str]:
    """Per layer: dense, then the effective ops of each run, then the last run's share."""
    last = runs[-1]
    total = sum(eff for eff, _ in last["train_by_layer"].values())
    rows = []
    for layer, (eff, dense) in last["train_by_layer"].items():
        effective = " | ".join(f"{run['train_by_layer'][layer][0] / run['train_sequences']:,.0f}"
                               for run in runs)
        rows.append(f"| {layer} | {dense / last['train_sequences']:,.0f} | {effective} | "
                    f"{100 * eff / total:.0f}% |")
    return rows


def _ceiling(run: dict) -> str:
    """The saving a run could reach if every synapse outside its busiest layer were silent:
    what that layer alone still executes bounds the ratio to dense from above."""
    layer, (eff, dense) = max(run["train_by_layer"].items(), key=lambda item: item[1][0])
    total = run["train_total"]["synaptic_ops_dense"]
    return (f"Its busiest layer, {layer}, alone executes {eff / run['train_sequences']:,.0f} "
            f"synaptic ops per training sequence ({eff / dense:.1%} of its dense count), so even "
            f"if every other synapse were silent the saving at this threshold could not exceed "
            f"{total / eff:.2f}x.")


def _smallest_meeting(sweep: dict, error: float) -> str:
    """The least coarse activity threshold that already saves 3x within a point, if any: how
    far the verdict is from the edge of the accuracy rule."""
    meeting = sorted(key for key, run in sweep.items() if key[1] == error and key[0] > error
                     and _within_a_point(sweep, key) and 1 / _ratio(run["train_total"]) >= 3)
    if not meeting:
        return ""
    key = meeting[0]
    return (f" The least coarse activity threshold of the sweep that already saves 3x: "
            f"{key[0]:g} ({1 / _ratio(sweep[key]['train_total']):.2f}x, final accuracy "
            f"{sweep[key]['final']:.4f}).")


def speed_document(spec: NetworkSpec, sweep: dict, reference: dict, one: Thresholds,
                   split: Thresholds, speeds: list[dict], compile_s: float, command: str, minutes: float,
                   steps: int) -> str:
    task = task_from_spec(spec.task)
    T = task.sequence_length
    silent = int((task.sample(np.random.default_rng(0), 1).mask[:, 0] == 0).sum())  # steps without loss
    hidden = ", ".join(str(h) for h in spec.readout.hidden)
    lines = [
        "# hwsim speed and delta coding",
        "",
        f"Generated by `{command}` in {minutes:.1f} min on {_environment()}.",
        "",
        "## Setting",
        f"- network and rule: examples/copy.yaml: complex LRU N = {spec.recurrent.size}, readout "
        f"{2 * spec.recurrent.size} -> {hidden} ({spec.readout.activation}) -> "
        f"{spec.readout.output}; {spec.rule.name}, K = {spec.rule.inference.iterations}, "
        f"update '{spec.rule.update}', {spec.rule.optimizer.name} lr {spec.rule.optimizer.lr}",
        f"- task: {task.describe()}, loss on {T - silent} of them",
        "- target loihi2; float64; compiled cores: "
        + ", ".join(f"{layer.name} {layer.cores}"
                    for layer in artifact_from_spec(spec).program.settings.layers),
        f"- numba: a cold compile of the kernels (fresh process, empty cache) took "
        f"{compile_s:.0f} s, once per machine; timings below exclude it",
        "",
        "## Training throughput",
        "Same sequences and initial weights for both; the reference is "
        "`train_on_batch` (numpy), hwsim is `train_batch` on the engine (B lanes in lockstep). "
        "Time steps per second count sequence-steps. Synaptic events per second: effective "
        "synaptic ops of the workload (hwsim counters) per second; for the reference the count "
        "of the same workload at threshold 0, i.e. how fast it gets through the same events.",
        "",
        "| batch | run | time steps / s | speed-up | synaptic events / s | effective ops per time step |",
        "|---|---|---|---|---|---|",
    ]
    for speed in speeds:
        rows = speed["rows"]
        ref = rows["reference"]
        for key, row in rows.items():
            name = "numpy reference" if key == "reference" else f"hwsim, {_label(key)}"
            per_step = (speed["effective_per_step"] if key == "reference"
                        else row["counts"][EFF] / speed["time_steps"])
            lines.append(f"| {speed['batch']} | {name} | {row['steps_per_s']:,.0f} | "
                         f"{row['steps_per_s'] / ref['steps_per_s']:.2f}x | "
                         f"{row['events_per_s'] / 1e6:,.1f} M | {per_step:,.0f} |")
    lines.append("")
    for speed in speeds:
        lines.append(f"- batch {speed['batch']}: {speed['batches']} batches "
                     f"({speed['time_steps']:,} sequence-steps); dense synaptic ops per time "
                     f"step {speed['dense_per_step']:,.0f}; largest difference of the batch "
                     f"losses between hwsim (threshold 0) and the reference "
                     f"{speed['loss_difference']:.1e}")
    for speed in speeds:
        rows = speed["rows"]
        slower = [key for key in rows if key not in ("reference", EXACT)
                  and rows[key]["steps_per_s"] < rows[EXACT]["steps_per_s"]]
        if slower:
            lines.append(f"- batch {speed['batch']}: " + ", ".join(_label(key) for key in slower)
                         + " do fewer synaptic ops per time step than threshold 0 but run "
                         "fewer time steps per second; the speed targets are stated at threshold 0")
    b1 = next(s for s in speeds if s["batch"] == 1)
    b32 = next(s for s in speeds if s["batch"] == 32)
    up1 = b1["rows"][EXACT]["steps_per_s"] / b1["rows"]["reference"]["steps_per_s"]
    up32 = b32["rows"][EXACT]["steps_per_s"] / b32["rows"]["reference"]["steps_per_s"]
    lines += [
        "",
        "Targets (threshold 0): hwsim at least 3x the reference at batch 1: "
        f"**{'met' if up1 >= 3 else 'missed'}** ({up1:.2f}x); no slower at batch 32: "
        f"**{'met' if up32 >= 1 else 'missed'}** ({up32:.2f}x).",
        "",
        "## Accuracy and synaptic ops against the event threshold",
        f"`neuropc simulate` with `--threshold T` (one threshold for activities and errors) or "
        f"`--threshold activity=A,error=E` (each population its own), batch 32, {steps} steps, "
        f"held-out accuracy on 512 sequences (5,120 recall steps); the reference is `neuropc "
        f"train` of the same spec. Ops per sequence are training (incl. the batch's apply share) "
        f"and inference (final evaluation) means; dense is what a clock-driven chip computes "
        f"(every connection at every execution). One run per setting (seed 0): accuracies of "
        f"neighbouring settings differ by a few tenths of a point by chance.",
        "",
        "| run | final accuracy | best | training ops / sequence (dense) | effective / dense | "
        "messages / training sequence | inference effective / dense | wall |",
        "|---|---|---|---|---|---|---|---|",
        f"| numpy reference | {reference['final']:.4f} | {reference['best']:.4f} | | | | | "
        f"{reference['wall'] / 60:.1f} min |",
    ]
    marks = {one: " (chosen: one threshold)", split: " (chosen: per population)"}
    if one == split:
        marks = {one: " (chosen)"}
    for key in sorted(sweep, key=lambda key: (key[0] != key[1], key)):
        s = sweep[key]
        train, n = s["train_total"], s["train_sequences"]
        lines.append(
            f"| hwsim, {_label(key)}{marks.get(key, '')} | {s['final']:.4f} | {s['best']:.4f} | "
            f"{train['synaptic_ops_effective'] / n:,.0f} ({train['synaptic_ops_dense'] / n:,.0f})"
            f" | {_ratio(train):.3f} | {train['messages'] / n:,.0f} | "
            f"{_ratio(s['infer_total']):.3f} | {s['wall'] / 60:.1f} min |")
    base, uniform, best = sweep[EXACT], sweep[one], sweep[split]
    predict, infer = _dense_per_step(spec)

    def saving(run: dict) -> float:
        return 1 / _ratio(run["train_total"])

    errors_only = [key for key in sweep if key[0] != key[1] and key[0] > split[0]]
    too_coarse = min(errors_only) if errors_only else None
    hidden_cols = 2 * spec.recurrent.size
    hidden_rows = spec.readout.hidden[0] if spec.readout.hidden else spec.readout.output
    lines += [
        "",
        f"One threshold for both populations: **{one[0]:g}**, the largest whose final accuracy "
        f"({uniform['final']:.4f}) is within 1 point of threshold 0 ({base['final']:.4f}). Its "
        f"training does {saving(uniform):.2f}x fewer synaptic ops than the dense count "
        f"({_ratio(base['train_total']) / _ratio(uniform['train_total']):.2f}x fewer than "
        f"threshold 0). {_ceiling(uniform)}",
        "",
        f"Each population its own threshold: errors keep {split[1]:g}, activities **{split[0]:g}**, "
        f"the largest activity threshold whose final accuracy ({best['final']:.4f}) is within "
        f"1 point of threshold 0"
        + (f" ({_label(too_coarse)} ends at {sweep[too_coarse]['final']:.4f})" if too_coarse else "")
        + f". Its training does **{saving(best):.2f}x** fewer synaptic ops than the dense count. "
        f"Target (at least 3x fewer than dense at equal accuracy): "
        f"**{'met' if max(saving(uniform), saving(best)) >= 3 else 'missed'}** "
        f"({max(saving(uniform), saving(best)):.2f}x; with one threshold for both "
        f"{saving(uniform):.2f}x)." + _smallest_meeting(sweep, split[1]),
        "",
        f"Where the savings come from. Per time step a clock-driven chip "
        f"does {predict:,} synaptic ops in predict and {infer:,} ({100 * infer / (predict + infer):.0f}%) "
        f"in the K = {spec.rule.inference.iterations} inference iterations (feedback copies). "
        f"Events remove most of the inference work: the errors are exactly zero on the "
        f"{silent} of {T} steps that carry no loss, so no feedback "
        f"synapse works there; on a loss step every error channel starts at 0 on both ends "
        f"(nothing is sent to carry the last step's errors back to 0), and an error that has "
        f"not changed since it was sent is not sent again, so with fixed prediction each "
        f"feedback matrix works in one of the K iterations. The one-hot input changes in two "
        f"of its values per step. What is left is mostly the hidden layer's input "
        f"({hidden_cols} x {hidden_rows} synapses, the largest matrix): a complex LRU state "
        f"rotates by its phase every step, so its features keep moving. Errors are small and "
        f"carry the learning signal, so a threshold that is coarse for them costs accuracy "
        f"long before the activities fall silent; one threshold for both stops there. The "
        f"activities tolerate a much coarser threshold (the next layer sees every feature to "
        f"within it; the accuracy is measured above), and at {split[0]:g} the hidden "
        f"layer's input falls to the share below.",
        "",
        "Training synaptic ops per sequence by the layer whose cores execute them (the LRU "
        "cores: input weights in predict, feedback copies of the hidden layer's weights in "
        "inference; hidden cores: their input weights in predict, feedback from the output in "
        "inference; output cores: their input weights):",
        "",
        f"| layer | dense | effective, T = 0 | effective, {_label(one)} | effective, "
        f"{_label(split)} | share of the last |",
        "|---|---|---|---|---|---|",
        *_layer_rows([base, uniform, best]),
        "",
        "At threshold 0 the hwsim run and the reference give the same held-out losses and "
        "accuracies at every evaluation (the runs differ by rounding only):",
        "",
        "| step | reference accuracy | hwsim accuracy (T = 0) | reference loss | hwsim loss |",
        "|---|---|---|---|---|",
    ]
    for a, b in zip(reference["curve"], base["curve"], strict=True):
        lines.append(f"| {a['step']} | {a['eval_accuracy']:.4f} | {b['eval_accuracy']:.4f} | "
                     f"{a['eval_loss']:.6f} | {b['eval_loss']:.6f} |")
    return "\n".join(lines) + "\n"


def fixed_point_document(spec: NetworkSpec, runs: dict, command: str, minutes: float,
                         steps: int) -> str:
    lr = spec.rule.optimizer.lr
    lines = [
        "# Fixed point: the accuracy cost on the copy task",
        "",
        f"Generated by `{command}` in {minutes:.1f} min on {_environment()}.",
        "",
        f"examples/copy.yaml ({spec.rule.name}, {spec.rule.optimizer.name} lr {lr}) with run.batch "
        f"32 and run.steps {steps}, threshold 0, target loihi2, the same seed and sequences in "
        f"every row; widths raised through `hardware.overrides` where stated. Each row is "
        f"`hwsim.runner.simulate(artifact, number_format=F)`, i.e. `neuropc simulate SPEC --format "
        f"F`. Fixed point rounds every stored value to nearest (ties to even) on its buffer's "
        f"grid and saturates it (docs/hwsim.md). Ranges: the largest magnitude each format group "
        f"reaches in the float64 twin of the run plus one bit (the default of `--format fixed`; "
        f"the rows share the calibration run of the table-width spec: other widths can split "
        f"layers over other cores, which changes that float64 run by rounding only), or, where "
        f"stated, in 64 calibration sequences (`--calibration-sequences 64`).",
        "",
        "| format | bits: weight / trace / accumulator / optimizer / param / state | "
        "final accuracy | best | final held-out loss | cost vs float64 (points) | wall |",
        "|---|---|---|---|---|---|---|",
    ]
    base = runs["float64"]["summary"]["final"]
    for run in runs.values():
        s = run["summary"]
        lines.append(f"| {run['label']} | {run['widths']} | {s['final']:.4f} | {s['best']:.4f} | "
                     f"{s['loss']:.4f} | {100 * (base - s['final']):+.2f} | "
                     f"{s['wall'] / 60:.1f} min |")
    final = {name: run["summary"]["final"] for name, run in runs.items()}
    formats = {tuple(f["group"]): f for f in runs["fixed"]["summary"]["fixed_point"]["formats"]}
    w0 = formats[("param", "W0", "")]
    step = 2.0 ** -w0["frac"]
    trace = formats[("trace", "B", "")]
    lines += [
        "",
        "Reading the table:",
        f"- float32 storage costs {100 * (base - final['float32']):+.2f} points; fixed point "
        f"with every width at 32 bits {100 * (base - final['fixed-32']):+.2f}: the range rule "
        f"itself costs nothing once its ranges cover the run.",
        f"- At the table's widths fixed point costs {100 * (base - final['fixed']):.1f} points. "
        f"W0 is stored in {w0['bits']} bits with a step of 2^-{w0['frac']} = {step:.4g}; Adam "
        f"moves a weight by about lr = {lr} per step, "
        + ("less than half a step, so rounding to nearest discards most updates"
           if lr < step / 2 else "about a step or more, so updates survive rounding")
        + f". The {trace['bits']}-bit input-synapse trace has a step of "
        f"{2.0 ** -trace['frac']:.4g} for values up to {((1 << (trace['bits'] - 1)) - 1) * 2.0 ** -trace['frac']:.3g}.",
        f"- Relative to the table's widths, 16-bit weights change the accuracy by "
        f"{100 * (final['fixed-w16'] - final['fixed']):+.1f} points, 16-bit traces by "
        f"{100 * (final['fixed-t16'] - final['fixed']):+.1f}, both by "
        f"{100 * (final['fixed-w16-t16'] - final['fixed']):+.1f}.",
        f"- Ranges from only 64 calibration sequences: with 32-bit formats, where rounding is "
        f"negligible, {100 * (base - final['fixed-32-short']):.1f} points below float64, which "
        f"is saturation: during training values outgrow what the first sequences show. At the "
        f"table widths this row ends {100 * (final['fixed-short'] - final['fixed']):+.1f} points "
        f"from the full calibration: its narrower ranges also mean finer steps. Each row is one "
        f"run; once values saturate, where training goes depends on rounding down to the order "
        f"in which the simulator sums, so these two rows vary between runs and code versions "
        f"more than the others.",
        "",
        "Formats chosen at the table's widths (step = 2^-frac, largest value = (2^(bits-1) - 1) "
        "step):",
        "",
        "| group | bits | frac | step | largest value |", "|---|---|---|---|---|",
    ]
    for key, f in sorted(formats.items()):
        if key[0] in ("param", "trace", "update", "adam_m", "adam_v") or key[:2] == ("state", "h"):
            step = 2.0 ** -f["frac"]
            lines.append(f"| {' '.join(g for g in key if g)} | {f['bits']} | {f['frac']} | "
                         f"{step:.3g} | {((1 << (f['bits'] - 1)) - 1) * step:.3g} |")
    lines += ["", "Held-out accuracy during training:", "",
              "| step | " + " | ".join(run["label"] for run in runs.values()) + " |",
              "|---|" + "---|" * len(runs)]
    curves = [run["summary"]["curve"] for run in runs.values()]
    for rows in zip(*curves, strict=True):
        lines.append(f"| {rows[0]['step']} | " + " | ".join(f"{r['eval_accuracy']:.4f}" for r in rows)
                     + " |")
    return "\n".join(lines) + "\n"


WIDTHS = ("weight_bits", "trace_bits", "accumulator_bits", "optimizer_bits", "param_bits",
          "state_bits")
WIDE32 = dict.fromkeys(WIDTHS, 32)
#: name -> (format, hardware overrides, label, calibration: "full" | sequences | None)
VARIANTS = {
    "float64": ("float64", {}, "float64", None),
    "float32": ("float32", {}, "float32", None),
    "fixed": ("fixed", {}, "fixed, table widths", "full"),
    "fixed-short": ("fixed", {}, "fixed, table widths, ranges from 64 sequences", 64),
    "fixed-w16": ("fixed", {"weight_bits": 16}, "fixed, 16-bit weights", "full"),
    "fixed-t16": ("fixed", {"trace_bits": 16}, "fixed, 16-bit traces", "full"),
    "fixed-w16-t16": ("fixed", {"weight_bits": 16, "trace_bits": 16},
                      "fixed, 16-bit weights and traces", "full"),
    "fixed-32": ("fixed", WIDE32, "fixed, everything 32 bits", "full"),
    "fixed-32-short": ("fixed", WIDE32, "fixed, everything 32 bits, ranges from 64 sequences", 64),
}


def _variant_spec(text: str, overrides: dict) -> NetworkSpec:
    from neuropc.spec import parse_spec

    return parse_spec(text).with_overrides(
        {"hardware": {"target": "loihi2", "overrides": overrides}})


def _maxima_job(text: str) -> dict:
    """The float64 twin of the run: largest magnitude of every format group."""
    from hwsim.runner import calibration_maxima

    spec = _variant_spec(text, {})
    return calibration_maxima(artifact_from_spec(spec))


def _format_job(text: str, name: str, maxima: dict | None) -> tuple[str, dict]:
    from hwsim.runner import simulate

    fmt, overrides, label, calibration = VARIANTS[name]
    spec = _variant_spec(text, overrides)
    started = time.perf_counter()
    result = simulate(artifact_from_spec(spec), number_format=fmt,
                      calibration=maxima if calibration == "full" else None,
                      calibration_sequences=calibration if isinstance(calibration, int) else None)
    wall = time.perf_counter() - started
    table = artifact_from_spec(spec).target["constants"]
    rows = result.metrics
    formats = None
    if result.formats is not None:
        formats = [{"group": list(key), "bits": f.bits, "frac": f.frac}
                   for key, f in sorted(result.formats.items())]
    return name, {"label": label,
                  "widths": " / ".join(str(table[k]["value"]) for k in WIDTHS) if fmt == "fixed"
                  else "-",
                  "summary": {"final": rows[-1]["eval_accuracy"],
                              "best": max(r["eval_accuracy"] for r in rows),
                              "loss": rows[-1]["eval_loss"], "wall": wall, "curve": rows,
                              "fixed_point": {"formats": formats}}}


def fixed_point(spec: NetworkSpec, jobs: int) -> dict:
    """Every variant through ``hwsim.runner.simulate`` (what ``neuropc simulate --format``
    runs); the full-calibration variants share one float64 calibration run, which is what each
    of them would compute by itself."""
    from concurrent.futures import ProcessPoolExecutor

    text = dump_spec(spec)
    with ProcessPoolExecutor(jobs) as pool:
        maxima = pool.submit(_maxima_job, text)
        first = [pool.submit(_format_job, text, name, None)
                 for name in VARIANTS if VARIANTS[name][3] != "full"]
        maxima = maxima.result()
        rest = [pool.submit(_format_job, text, name, maxima)
                for name in VARIANTS if VARIANTS[name][3] == "full"]
        done = dict(f.result() for f in first + rest)
    return {name: done[name] for name in VARIANTS}


# -- main ------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, default=ROOT / "examples" / "copy.yaml")
    parser.add_argument("--steps", type=int, default=3000, help="training batches per run")
    parser.add_argument("--thresholds", default="0,0.001,0.002,0.005,0.01,0.02",
                        help="one threshold for activities and errors")
    parser.add_argument("--activity-thresholds", default="0.01,0.02,0.05,0.1,0.2",
                        help="activities' own thresholds, errors keeping the chosen one")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--fixed-point", action="store_true")
    parser.add_argument("--quick", action="store_true", help="short runs, not for the record")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    started = time.perf_counter()
    command = "python bench/hwsim_speed.py " + " ".join(sys.argv[1:])
    command = command.strip()
    steps = 60 if args.quick else args.steps
    spec = load_spec(args.spec).with_overrides(
        {"run.batch": 32, "run.steps": steps, "run.eval_every": max(steps // 12, 1)})
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.fixed_point:
            runs = fixed_point(spec, args.jobs)
            text = fixed_point_document(spec, runs, command,
                                        (time.perf_counter() - started) / 60, steps)
            out = args.out or ROOT / "docs" / "results" / "fixed_point.md"
        else:
            uniform = [(t, t) for t in sorted({0.0, *(float(t) for t in args.thresholds.split(","))})]
            sweep, reference = accuracy_sweep(spec, uniform, folder, args.jobs, True)
            one = _largest_within_a_point(sweep, uniform)
            coarser = [(float(a), one[1]) for a in args.activity_thresholds.split(",") if float(a) > one[1]]
            sweep.update(accuracy_sweep(spec, coarser, folder, args.jobs, False)[0])
            split = _largest_within_a_point(sweep, [one, *coarser])
            timed = sorted({EXACT, one, split})
            speeds = [throughput(spec, 1, 8 if args.quick else 100, timed, args.repeats),
                      throughput(spec, 32, 2 if args.quick else 12, timed, args.repeats)]
            compile_s = cold_compile_seconds()
            text = speed_document(spec, sweep, reference, one, split, speeds, compile_s, command,
                                  (time.perf_counter() - started) / 60, steps)
            out = args.out or ROOT / "docs" / "results" / "hwsim_speed.md"
    out.write_text(text)
    print(text)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
