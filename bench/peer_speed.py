"""hwsim against what a user would otherwise pick: PyTorch BPTT on the CPU, same network, same batches.

    pip install -e ".[bench]"          # torch (CPU) for this benchmark only
    python bench/peer_speed.py         # writes docs/results/peer_speed.md
    python bench/peer_speed.py --quick --out /tmp/peer.md

The copy network of ``examples/copy.yaml`` trained on the same batches (the task's training
stream, seed 0) by
- PyTorch BPTT, float32 autograd on the CPU (and float64, hwsim's arithmetic, in a column of
  its own), written as a practitioner would: the diagonal
  recurrence stepped in a loop, the readout as one GEMM over all T x B rows, cross-entropy on
  the recall steps, ``torch.optim.Adam`` with the spec's constants;
- the numpy reference (``train_on_batch``) with tPC-RTRL;
- hwsim (``hwsim.runner.train_batch`` on the native engine) with tPC-RTRL at threshold 0 and
  delta-coded (activities 0.2, errors 0.002);
- the Lava backend at batch 1 on a few sequences, when lava-nc is installed;
- at two threads, also two independent one-thread engines side by side, each training its
  half of every batch's lanes (one Python thread each): the most the engine's two workers can
  reach when each runs its half of the lanes.
Every engine gets the same thread count (rows at 1 thread, and batch 32 at 2): each row runs
in its own process with the BLAS, OpenMP and Numba thread counts set before numpy loads and
``torch.set_num_threads``. Rounds are interleaved (each round times every runner once, one
after the other) and the best round counts. Throughput is sequence-steps per second (B sequences x T steps per batch).

Before timing, the PyTorch model is checked against the numpy reference in float64 from the
same initial weights: the BPTT loss of the first batch and its gradients must agree, so both
sides do the same training (the difference is written to the results file).

Each row also counts the work on its first batch, untimed: PyTorch's multiply-adds in its
matrix products (``torch.utils.flop_counter``) and hwsim's counted multiply-adds (synaptic
ops, learning weight and trace updates) at threshold 0 and delta-coded; the results file
turns them into the rate each side sustained and the rate a target would ask of hwsim. It
also times this machine's BLAS at the network's largest weight (``machine.gemm_rate``), to say
how much of the time a target allows hwsim's multiply-adds would take even at that rate.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from machine import cpu_name, gemm_rate, two_core_scaling  # noqa: E402  (bench/machine.py)
from timing import DELTA, SETTLE, time_interleaved, training_batches  # noqa: E402  (bench/timing.py)

from compiler.pipeline import compile_artifact  # noqa: E402
from hwsim.backends import BackendUnavailable, ExecutionOptions, open_backend  # noqa: E402
from hwsim.counters import FIELDS  # noqa: E402
from hwsim.engine import Engine  # noqa: E402
from hwsim.runner import train_batch  # noqa: E402
from neuropc.reference.bptt import bptt_updates  # noqa: E402
from neuropc.reference.network import Architecture, Params, params_from_spec  # noqa: E402
from neuropc.reference.optim import Optimizer  # noqa: E402
from neuropc.reference.rules import train_on_batch  # noqa: E402
from neuropc.spec import NetworkSpec, load_spec  # noqa: E402
from neuropc.tasks import task_from_spec  # noqa: E402
from neuropc.tasks.base import SequenceBatch  # noqa: E402

#: (batch, threads, batches per timed run)
ROWS = ((1, 1, 100), (32, 1, 12), (128, 1, 4), (32, 2, 12), (128, 2, 4))
QUICK_ROWS = ((1, 1, 20), (32, 1, 3), (128, 1, 1), (32, 2, 3), (128, 2, 1))


def _torch():
    try:
        import torch
    except ImportError:
        sys.exit("bench/peer_speed.py needs PyTorch: pip install -e '.[bench]'")
    return torch


class TorchBPTT:
    """The copy network in PyTorch: the same parameters, forward pass and loss as
    ``neuropc.reference`` (complex LRU in real arithmetic, [Re h, Im h] features)."""

    def __init__(self, arch: Architecture, spec: NetworkSpec, params: Params, dtype) -> None:
        torch = _torch()
        self.torch, self.arch, self.dtype = torch, arch, dtype
        learn = set(arch.trainable())
        self.p = {name: torch.tensor(value, dtype=dtype, requires_grad=name in learn)
                  for name, value in params.items()}
        opt = spec.rule.optimizer
        if opt.name != "adam":
            raise SystemExit(f"the PyTorch side implements adam only, the spec uses {opt.name}")
        constants = Optimizer(opt)  # the reference's Adam constants
        self.optimizer = torch.optim.Adam([t for n, t in self.p.items() if n in learn], lr=opt.lr,
                                          betas=(constants.beta1, constants.beta2), eps=constants.epsilon)

    def loss(self, batch: SequenceBatch):
        torch, p, arch = self.torch, self.p, self.arch
        u = torch.as_tensor(batch.inputs, dtype=self.dtype)  # (T, B, M)
        magnitude = torch.exp(-torch.exp(p["nu"]))
        gamma = torch.exp(p["gamma_log"])
        if arch.complex:
            angle = torch.exp(p["theta"])
            lr, li = magnitude * torch.cos(angle), magnitude * torch.sin(angle)
            drive_re, drive_im = gamma * (u @ p["B_re"].T), gamma * (u @ p["B_im"].T)
            h_re = torch.zeros(u.shape[1], arch.state, dtype=self.dtype)
            h_im = torch.zeros_like(h_re)
            states = []
            for t in range(u.shape[0]):
                h_re, h_im = lr * h_re - li * h_im + drive_re[t], lr * h_im + li * h_re + drive_im[t]
                states.append(torch.cat([h_re, h_im], dim=1))
        else:
            drive = gamma * (u @ p["B"].T)
            h = torch.zeros(u.shape[1], arch.state, dtype=self.dtype)
            states = []
            for t in range(u.shape[0]):
                h = magnitude * h + drive[t]
                states.append(h)
        act = torch.stack(states)  # (T, B, features): the readout as one GEMM over T x B rows
        for layer in range(arch.readout_layers):
            act = act @ p[f"W{layer}"].T + p[f"b{layer}"]
            if layer < arch.readout_layers - 1:
                act = _activation(torch, arch.activation, act)
        targets = torch.as_tensor(batch.targets, dtype=torch.long)
        mask = torch.as_tensor(batch.mask, dtype=self.dtype)
        logp = torch.log_softmax(act, dim=-1)
        picked = logp.gather(-1, targets.clamp(min=0)[..., None])[..., 0]
        return -(picked * mask).sum() / mask.sum()

    def train(self, batch: SequenceBatch) -> float:
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss(batch)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())


def _activation(torch, name: str, x):
    if name == "gelu":
        return torch.nn.functional.gelu(x, approximate="tanh")
    if name == "tanh":
        return torch.tanh(x)
    if name == "relu":
        return torch.relu(x)
    return x


def check_same_training(spec: NetworkSpec, batch: SequenceBatch) -> float:
    """Largest difference (loss and every gradient, relative to its largest entry) between the
    PyTorch model in float64 and the reference's BPTT on one batch from the same weights."""
    torch = _torch()
    arch = Architecture.from_spec(spec)
    params = params_from_spec(spec)
    model = TorchBPTT(arch, spec, params, torch.float64)
    loss = model.loss(batch)
    loss.backward()
    descent, ref_loss = bptt_updates(arch, params, batch)
    worst = abs(float(loss.detach()) - ref_loss) / abs(ref_loss)
    for name in arch.trainable():
        want = -descent[name]  # bptt_updates returns descent directions
        got = model.p[name].grad.numpy()
        worst = max(worst, float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-300)))
    return worst


def measure(spec: NetworkSpec, batch: int, threads: int, batches: int, rounds: int,
            lava_sequences: int) -> dict[str, float]:
    """Sequence-steps per second of every runner on the same ``batches`` batches."""
    torch = _torch()
    torch.set_num_threads(threads)
    arch = Architecture.from_spec(spec)
    data, steps = training_batches(spec, batch, batches)
    artifact = compile_artifact(spec)

    def torch_model(dtype) -> TorchBPTT:
        """PyTorch's model from the spec's initial weights."""
        return TorchBPTT(arch, spec, params_from_spec(spec), dtype)

    # untimed: loads (or compiles) the kernels, and counts the work of both sides on one batch
    work = {f"work:{field}": value for field, value in hwsim_work(artifact, data[0], threads).items()}
    work["work:pytorch_macs"] = pytorch_macs(torch_model(torch.float32), data[0])
    inner, cols = largest_weight(arch)
    work.update({"blas:inner": float(inner), "blas:cols": float(cols),
                 "blas:float64": gemm_rate(batch, inner, cols, np.float64),
                 "blas:float32": gemm_rate(batch, inner, cols, np.float32)})

    def reference(state) -> None:
        params, optimizer = state
        for b in data:
            train_on_batch(arch, spec.rule, params, b, optimizer)

    def pytorch(model: TorchBPTT) -> None:
        for b in data:
            model.train(b)

    def hwsim(engine: Engine) -> None:
        _train(engine, data)

    halves = [[b.sequences(0, batch // 2) for b in data], [b.sequences(batch // 2, batch) for b in data]]

    def side_by_side(engines: list[Engine]) -> None:
        helpers = [threading.Thread(target=_train, args=pair) for pair in zip(engines, halves, strict=True)]
        for helper in helpers:
            helper.start()
        for helper in helpers:
            helper.join()

    runners: dict[str, tuple[Callable, Callable]] = {
        "pytorch": (lambda: torch_model(torch.float32), pytorch),
        # the same in float64, hwsim's arithmetic: how much of the gap is the number format
        "pytorch-fp64": (lambda: torch_model(torch.float64), pytorch),
        "reference": (lambda: (params_from_spec(spec), Optimizer(spec.rule.optimizer)), reference),
        "hwsim": (lambda: Engine(artifact, batch, threads=threads), hwsim),
        "hwsim-delta": (lambda: Engine(artifact, batch, threshold=DELTA, threads=threads), hwsim),
    }
    if threads == 2 and batch % 2 == 0:
        runners["hwsim-halves"] = (lambda: [Engine(artifact, batch // 2, threads=1) for _ in range(2)],
                                   side_by_side)
    result = {key: steps / seconds for key, seconds in time_interleaved(runners, rounds).items()}
    result.update(work)
    if lava_sequences and batch == 1 and threads == 1:
        result["lava"] = lava_speed(artifact, data[:lava_sequences])
    return result


def pytorch_macs(model: TorchBPTT, batch: SequenceBatch) -> float:
    """Multiply-adds per sequence-step of PyTorch's matrix products in one training step
    (forward and backward), as ``torch.utils.flop_counter`` counts them (2 FLOPs each); the
    elementwise work (the recurrence, the activations, Adam) is not counted."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        model.train(batch)
    return counter.get_total_flops() / 2 / (batch.size * batch.length)


def largest_weight(arch: Architecture) -> tuple[int, int]:
    """(inputs, outputs) of the readout layer with the most weights: the shape at which this
    machine's BLAS rate is measured (``machine.gemm_rate``), the best a dense formulation of the
    network's multiply-adds could sustain."""
    sizes = arch.readout_sizes
    return max(zip(sizes[:-1], sizes[1:], strict=True), key=lambda pair: pair[0] * pair[1])


#: hwsim's counted work that is a multiply-add each (``hwsim.counters``)
MULTIPLY_ADDS = ("synaptic_ops_effective", "learning_weight_updates", "learning_trace_updates")


def hwsim_work(artifact, batch: SequenceBatch, threads: int) -> dict[str, float]:
    """Per sequence-step, the multiply-adds (``MULTIPLY_ADDS``) hwsim's tPC-RTRL counted in
    training on ``batch`` at threshold 0 and delta-coded (``delta:`` keys)."""
    out: dict[str, float] = {}
    for prefix, threshold in (("", None), ("delta:", DELTA)):
        _, counts = train_batch(Engine(artifact, batch.size, threshold=threshold, threads=threads), batch)
        total = counts.sum(axis=0)
        for field in MULTIPLY_ADDS:
            out[prefix + field] = float(total[FIELDS.index(field)]) / (batch.size * batch.length)
    return out


def _train(engine: Engine, batches: list[SequenceBatch]) -> None:
    for b in batches:
        train_batch(engine, b)


def lava_speed(artifact, data: list[SequenceBatch]) -> float:
    """Sequence-steps per second of the Lava backend (one lane), start-up excluded; NaN when
    lava-nc is not installed."""
    try:
        backend = open_backend("lava", artifact, 1, ExecutionOptions())
    except BackendUnavailable:
        return float("nan")
    try:
        backend.reset()
        started = time.perf_counter()
        for b in data:
            backend.reset()
            backend.run(b.inputs, b.targets, b.mask, train=True, scale=1.0 / b.loss_steps())
            backend.apply(1.0 / b.loss_steps())
        return sum(b.size * b.length for b in data) / (time.perf_counter() - started)
    finally:
        backend.close()


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def describe_network(spec_path: Path) -> str:
    """The spec's file (relative to the repository when inside it), its LRU, readout, task and
    sequence length, as the results file names them."""
    spec = load_spec(spec_path)
    arch = Architecture.from_spec(spec)
    shown = spec_path.relative_to(ROOT) if spec_path.is_relative_to(ROOT) else spec_path
    readout = " -> ".join(f"{size} ({arch.activation})" if 0 < k < len(arch.readout_sizes) - 1 else str(size)
                          for k, size in enumerate(arch.readout_sizes))
    steps = task_from_spec(spec.task).sequence_length
    return (f"`{shown.as_posix()}` ({'complex' if arch.complex else 'real'} LRU N = {arch.state}, readout "
            f"{readout}, {spec.task.name} task, {steps} steps per sequence)")


def document(spec_path: Path, rows: list[tuple[int, int, dict]], check: float, command: str,
             minutes: float, rounds: int, machine_scaling: float) -> str:
    torch = _torch()
    lines = [
        "# hwsim against PyTorch: training throughput on the same network and batches",
        "",
        f"Generated by `{command}` in {minutes:.1f} min on {platform.machine()}, "
        f"{os.cpu_count()} cores ({cpu_name()}), Python {platform.python_version()}, numpy "
        f"{np.__version__}, torch {torch.__version__}. Best of {rounds} interleaved rounds, each "
        f"timed run after a {SETTLE:g} s rest (so the thread pools of the run before stop spinning).",
        "",
        f"- network: {describe_network(spec_path)}; the same training batches for everyone",
        "- PyTorch: BPTT, float32 autograd on the CPU (the targets' comparison; also in float64, the "
        "arithmetic hwsim does), recurrence stepped in a loop, readout one GEMM over T x B rows, "
        "torch.optim.Adam; checked against the numpy reference's BPTT in float64 "
        f"from the same weights: loss and gradients agree to {check:.1e} (relative)",
        "- reference: neuropc's numpy tPC-RTRL (`train_on_batch`); hwsim: tPC-RTRL on the native "
        "engine at threshold 0 and delta-coded (activities 0.2, errors 0.002)",
        "- threads: every engine gets the row's thread count (torch.set_num_threads, BLAS threads, "
        "the native engine's worker threads, which split the lanes: each runs the per-lane work of its "
        "half, and one worker per core adds every lane into the shared learning accumulators)",
        "",
        "Sequence-steps per second:",
        "",
        "| batch | threads | PyTorch BPTT fp32 | PyTorch BPTT fp64 | numpy reference tpc-rtrl "
        "| hwsim tpc-rtrl, T = 0 | hwsim delta-coded | hwsim / PyTorch | hwsim / PyTorch fp64 | delta / T = 0 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for batch, threads, r in rows:
        lines.append(
            f"| {batch} | {threads} | {r['pytorch']:,.0f} | {r['pytorch-fp64']:,.0f} | {r['reference']:,.0f} | "
            f"{r['hwsim']:,.0f} | {r['hwsim-delta']:,.0f} | {r['hwsim'] / r['pytorch']:.2f}x | "
            f"{r['hwsim'] / r['pytorch-fp64']:.2f}x | {r['hwsim-delta'] / r['hwsim']:.2f}x |")
    lava = [r["lava"] for _, _, r in rows if "lava" in r]
    if lava:
        one = next(r for b, t, r in rows if b == 1 and t == 1)
        lines += ["", (f"Lava backend (batch 1, one lane, start-up excluded): {lava[0]:,.1f} "
                       f"sequence-steps/s, {one['hwsim'] / lava[0]:,.0f}x slower than native"
                       if lava[0] == lava[0] else "Lava backend: lava-nc is not installed here.")]
    by = {(b, t): r for b, t, r in rows}
    pairs = [(b, by[(b, 2)]["hwsim"] / by[(b, 1)]["hwsim"]) for b in (32, 128) if (b, 1) in by and (b, 2) in by]
    if pairs:
        lines += ["", "hwsim on two worker threads against one (threshold 0): "
                  + ", ".join(f"{gain:.2f}x at batch {b}" for b, gain in pairs)
                  + f". This machine's own two-core scaling, measured in the same run (the same compute loop "
                  f"twice on two threads against once on one, `bench/machine.py`): {machine_scaling:.2f}x."]
    halves = [(b, by[(b, 2)]["hwsim"], by[(b, 2)]["hwsim-halves"]) for b in (32, 128)
              if (b, 2) in by and "hwsim-halves" in by[(b, 2)]]
    if halves:
        lines += ["", "The most two workers that split the lanes can reach: two independent one-thread engines "
                  "side by side, each training half of every batch's lanes (threshold 0): "
                  + ", ".join(f"{side:,.0f} sequence-steps/s at batch {b} (two workers: {two:,.0f}, "
                              f"{two / side:.2f}x of it)" for b, two, side in halves)
                  + ". Half the lanes per engine is also why two workers gain less than the machine's "
                  "scaling: an engine's per-lane cost rises as its batch shrinks (each weight column "
                  "is read for fewer lanes)."]
    lines += work_section(by)
    lines += dense_bound_section(by)
    ratio = {key: r["hwsim"] / r["pytorch"] for key, r in by.items()}
    delta = {key: r["hwsim-delta"] / r["hwsim"] for key, r in by.items()}
    lines += ["", "Targets (the same thread count for both; one thread each unless said):", ""]
    for batch, want in THROUGHPUT_TARGETS:
        if (batch, 1) in ratio:
            lines.append(f"- hwsim at least {want:g}x PyTorch BPTT at batch {batch}: "
                         f"{_verdict(ratio[(batch, 1)] >= want)} ({ratio[(batch, 1)]:.2f}x)")
    for batch, want in THROUGHPUT_TARGETS:
        if (batch, 2) in ratio:
            lines.append(f"- the same with both cores for everyone, batch {batch} (at least {want:g}x): "
                         f"{_verdict(ratio[(batch, 2)] >= want)} ({ratio[(batch, 2)]:.2f}x)")
    for batch in (1, 32):
        if (batch, 1) in delta:
            lines.append(f"- delta-coded training at least 2x faster than threshold 0 at batch {batch}: "
                         f"{_verdict(delta[(batch, 1)] >= 2.0)} ({delta[(batch, 1)]:.2f}x)")
    return "\n".join(lines) + "\n"


#: (batch, the least hwsim / PyTorch the targets ask for), one thread each
THROUGHPUT_TARGETS = ((1, 2.0), (32, 2.0), (128, 1.5))


def work_section(by: dict[tuple[int, int], dict[str, float]]) -> list[str]:
    """What each side computes per sequence-step (counted, ``pytorch_macs`` and
    ``hwsim_work``), the rate at which each did it in the timed runs, and the rate the
    throughput targets would ask of hwsim for the work it does."""
    rows = _target_rows(by, "work:pytorch_macs")
    if not rows:
        return []
    lines = ["", "Work per sequence-step (one thread), counted on the first training batch: PyTorch's "
             "multiply-adds in its matrix products, forward and backward (`torch.utils.flop_counter`; "
             "its elementwise work, the recurrence included, is not counted); hwsim's multiply-adds "
             "(its counters: effective synaptic ops, learning weight updates and eligibility-trace "
             "updates; neuron updates and memory traffic are not counted). Rates are the work times the "
             "sequence-steps per second above.", "",
             "| batch | PyTorch multiply-adds | PyTorch G/s (float32) | hwsim multiply-adds, T = 0 | "
             "hwsim G/s (float64) | hwsim multiply-adds, delta-coded | target | hwsim G/s it needs | "
             "x hwsim's rate |", "|---|---|---|---|---|---|---|---|---|"]
    fewer = []
    for batch, want, r in rows:
        ours, delta = _work(r, ""), _work(r, "delta:")
        theirs = r["work:pytorch_macs"]
        needed = _asked(want, r)
        lines.append(f"| {batch} | {theirs:,.0f} | {theirs * r['pytorch'] / 1e9:.2f} | {ours:,.0f} | "
                     f"{ours * r['hwsim'] / 1e9:.2f} | {delta:,.0f} | {want:g}x PyTorch | "
                     f"{ours * needed / 1e9:.2f} | {needed / r['hwsim']:.2f}x |")
        fewer.append(f"{ours / delta:.2f}x at batch {batch}")
    batch, _, r = rows[-1]
    parts = ", ".join(f"{field.replace('_', ' ')} {r[f'work:{field}']:,.0f} -> {r[f'work:delta:{field}']:,.0f}"
                      for field in MULTIPLY_ADDS)
    lines += ["", f"Delta-coded training does fewer multiply-adds than threshold 0 by {', '.join(fewer)}: "
              "as much as a simulator whose time followed its multiply-adds alone would gain. The "
              f"events thin the synaptic ops, not the learning (batch {batch}, per sequence-step: {parts})."]
    return lines


def dense_bound_section(by: dict[tuple[int, int], dict[str, float]]) -> list[str]:
    """Whether a target could be met by any engine doing hwsim's multiply-adds: their time at
    this machine's BLAS rate (``machine.gemm_rate``, float64 and float32) against the time per
    sequence-step the target allows, and what that leaves for the rest of a step."""
    rows = _target_rows(by, "blas:float64")
    if not rows:
        return []
    inner, cols = (int(rows[0][2][f"blas:{key}"]) for key in ("inner", "cols"))
    lines = ["", "What the targets leave for the rest of a step. BLAS's rate (numpy's matmul on this "
             f"thread count) at the network's largest weight, {inner} x {cols}, with the batch's lanes "
             "as rows (the faster of the forward product and the weight gradient's): the most a "
             "simulator that ran hwsim's multiply-adds as dense matrix products could sustain. Times "
             "are per sequence-step: what the target allows, hwsim's multiply-adds at threshold 0 at "
             "BLAS's rate, and hwsim's whole step now.", "",
             "| batch | target | BLAS G/s float64 | BLAS G/s float32 | the target allows, ns | "
             "multiply-adds at BLAS float64, ns | at BLAS float32, ns | hwsim now, ns |",
             "|---|---|---|---|---|---|---|---|"]
    shares = []
    for batch, want, r in rows:
        ours = _work(r, "")
        allowed = 1e9 / _asked(want, r)  # ns per sequence-step
        at64, at32 = ours / r["blas:float64"], ours / r["blas:float32"]
        lines.append(f"| {batch} | {want:g}x PyTorch | {r['blas:float64']:.1f} | {r['blas:float32']:.1f} | "
                     f"{allowed:,.0f} | {at64:,.0f} | {at32:,.0f} | {1e9 / r['hwsim']:,.0f} |")
        if batch > 1:  # the batches people train at (batch 1's target is met)
            shares.append(f"batch {batch}: {at64 / allowed:.0%} in float64, {at32 / allowed:.0%} in float32, "
                          f"leaving {allowed - at64:,.0f} and {allowed - at32:,.0f} ns")
    if shares:
        lines += ["", "Share of the allowed time that hwsim's multiply-adds alone would take at BLAS's rate ("
                  + "; ".join(shares) + "). Everything else hwsim does in a step (neuron updates, the "
                  "activations, the LRU's traces and credits, events, Adam) would have to fit in what is "
                  "left: docs/results/kernel_profile.md gives its time now."]
    return lines


def _target_rows(by: dict[tuple[int, int], dict[str, float]], measured: str
                 ) -> list[tuple[int, float, dict[str, float]]]:
    """(batch, target, one-thread row) for each throughput target whose row measured ``measured``."""
    return [(b, want, by[(b, 1)]) for b, want in THROUGHPUT_TARGETS if (b, 1) in by and measured in by[(b, 1)]]


def _asked(want: float, row: dict[str, float]) -> float:
    """Sequence-steps per second a target of ``want`` x PyTorch asks of hwsim in a row."""
    return want * row["pytorch"]


def _work(row: dict[str, float], prefix: str) -> float:
    """hwsim's multiply-adds per sequence-step in a row (``prefix`` 'delta:': delta-coded)."""
    return sum(row[f"work:{prefix}{field}"] for field in MULTIPLY_ADDS)


def run_row(args: argparse.Namespace, batch: int, threads: int, batches: int) -> dict[str, float]:
    """One row in a fresh process whose thread counts are set before numpy and torch load."""
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
                "NEUROPC_THREADS"):
        env[var] = str(threads)
    rounds = 2 if args.quick else args.rounds
    out = subprocess.run([sys.executable, __file__, "--spec", str(args.spec), "--row",
                          f"{batch},{threads},{batches},{rounds},{args.lava_sequences}"],
                         env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, default=ROOT / "examples" / "copy.yaml")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--lava-sequences", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="short runs, not for the record")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "peer_speed.md")
    parser.add_argument("--row", help=argparse.SUPPRESS)  # batch,threads,batches,rounds,lava
    args = parser.parse_args()
    started = time.perf_counter()
    spec = load_spec(args.spec)
    if args.row:
        batch, threads, batches, rounds, lava = (int(v) for v in args.row.split(","))
        print(json.dumps(measure(spec, batch, threads, batches, rounds, lava)))
        return
    task = task_from_spec(spec.task)
    check = check_same_training(spec, task.sample(np.random.default_rng(1), 4))
    if check > 1e-8:
        sys.exit(f"the PyTorch model does not train what the reference trains (difference {check:.2e})")
    rows = []
    for batch, threads, batches in (QUICK_ROWS if args.quick else ROWS):
        print(f"batch {batch}, {threads} thread(s) ...", flush=True)
        rows.append((batch, threads, run_row(args, batch, threads, batches)))
    command = "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
    scaling = two_core_scaling()
    text = document(args.spec.resolve(), rows, check, command, (time.perf_counter() - started) / 60,
                    2 if args.quick else args.rounds, scaling)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
