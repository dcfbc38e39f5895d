"""Measure BPTT's energy on a real GPU with NVML, and write a measured cost profile.

Runs time-batched BPTT (PyTorch; the LRU recurrence step by step, the readout as one product
over all T x b rows) for a network spec at batch 1 and 64, in fp32 and bf16, reads the
board's energy counter (``nvmlDeviceGetTotalEnergyConsumption``) around windows of at least
``--window`` seconds, subtracts the idle power measured before (``nvmlDeviceGetPowerUsage``
sampled with the GPU idle), and reports joules per training sequence as mean and standard
deviation over 5 repeats. It then writes a profile based on the GPU's shipped profile in which
``idle_power`` is the measured idle power and ``mac`` the measured dynamic energy per counted
MAC (the counts of ``hwsim.bptt_variants`` for the same run), flagged ``measured``.

Without PyTorch, pynvml or a CUDA device it says so and exits 0: nothing is measured and no
profile is written.

    python bench/gpu_measure.py                           # examples/copy.yaml
    python bench/gpu_measure.py --spec examples/paper_scale.yaml --base gpu-h100 --out h100-measured.yaml
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BATCHES = (1, 64)
PRECISIONS = ("fp32", "bf16")
REPEATS = 5


@dataclass(frozen=True)
class Window:
    """One measurement window: the energy counter (mJ) at both ends, its length, sequences run."""

    start_millijoules: int
    end_millijoules: int
    seconds: float
    sequences: int


def idle_watts(power_milliwatts: Sequence[float]) -> float:
    """Mean idle power from NVML power samples (milliwatts)."""
    if not power_milliwatts:
        raise ValueError("no idle power samples")
    return statistics.fmean(power_milliwatts) / 1e3


def joules_per_sequence(window: Window, idle: float) -> float:
    """Energy above idle per sequence: (counter delta - idle power x time) / sequences."""
    if window.sequences < 1 or window.seconds <= 0 or window.end_millijoules < window.start_millijoules:
        raise ValueError(f"not a usable window: {window}")
    return ((window.end_millijoules - window.start_millijoules) / 1e3 - idle * window.seconds) / window.sequences


def summary(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def measured_profile(base: str, name: str, idle: float, joules_per_mac: float, spread: float, source: str) -> str:
    """YAML of a profile based on ``base`` with the measured idle power and dynamic energy per MAC."""
    return (f"# Written by bench/gpu_measure.py: {source}\n"
            f"base: {base}\nname: {name}\nconstants:\n"
            f"  idle_power:\n    value: {idle:.6g}\n    unit: W\n"
            f"    source: \"NVML power with the GPU idle, {source}\"\n    provenance: measured\n"
            f"  mac:\n    value: {joules_per_mac * 1e12:.6g}\n    low: {max(joules_per_mac - spread, 0) * 1e12:.6g}\n"
            f"    high: {(joules_per_mac + spread) * 1e12:.6g}\n    unit: pJ\n"
            f"    source: \"NVML energy above idle / counted MACs of time-batched BPTT, {source}\"\n"
            f"    provenance: measured\n")


def gpu_available() -> tuple[Any, Any] | str:
    """(torch, pynvml) when a CUDA device can be measured, else the reason it cannot."""
    try:
        import torch
    except ImportError:
        return "PyTorch is not installed"
    try:
        import pynvml
    except ImportError:
        return "pynvml (nvidia-ml-py) is not installed"
    if not torch.cuda.is_available():
        return "PyTorch sees no CUDA device"
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # NVMLError has many subclasses; any of them means no counter
        return f"NVML cannot be initialised ({exc})"
    return torch, pynvml


def bptt_step(torch: Any, arch: Any, batch: int, seq_len: int, dtype: Any) -> Callable[[], None]:
    """One time-batched BPTT training step of the spec's network on random one-hot data."""
    device = "cuda"
    n, m = arch.state, arch.inputs
    sizes = arch.readout_sizes
    params = [torch.randn(n, m, device=device, requires_grad=True),
              torch.randn(n, m, device=device, requires_grad=True),
              torch.full((n,), -2.0, device=device, requires_grad=True),
              torch.zeros(n, device=device, requires_grad=True)]
    layers = [torch.nn.Linear(i, o, device=device) for i, o in zip(sizes[:-1], sizes[1:], strict=True)]
    optimizer = torch.optim.SGD(params + [p for layer in layers for p in layer.parameters()], lr=1e-3)
    inputs = torch.nn.functional.one_hot(torch.randint(0, m, (seq_len, batch), device=device), m).float()
    targets = torch.randint(0, arch.outputs, (seq_len * batch,), device=device)

    def step() -> None:
        with torch.autocast("cuda", dtype=dtype, enabled=dtype != torch.float32):
            lam = torch.exp(-torch.exp(params[2]) + 1j * torch.exp(params[3]))
            drive = torch.complex(inputs @ params[0].T, inputs @ params[1].T)
            h = torch.zeros(batch, n, dtype=torch.complex64, device=device)
            states = []
            for t in range(seq_len):
                h = lam * h + drive[t]
                states.append(h)
            x = torch.cat([torch.stack(states).real, torch.stack(states).imag], -1).reshape(seq_len * batch, -1)
            for layer in layers[:-1]:
                x = torch.nn.functional.gelu(layer(x))
            loss = torch.nn.functional.cross_entropy(layers[-1](x).float(), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def measure(torch: Any, pynvml: Any, spec_path: Path, window_seconds: float) -> list[dict[str, Any]]:
    from neuropc.reference.network import Architecture
    from neuropc.spec import load_spec
    from neuropc.tasks import task_from_spec

    spec = load_spec(spec_path)
    arch, seq_len = Architecture.from_spec(spec), task_from_spec(spec.task).sequence_length
    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    torch.cuda.synchronize()
    samples = []
    for _ in range(20):
        samples.append(pynvml.nvmlDeviceGetPowerUsage(handle))
        time.sleep(0.1)
    idle = idle_watts(samples)
    rows = []
    for precision in PRECISIONS:
        dtype = torch.float32 if precision == "fp32" else torch.bfloat16
        for batch in BATCHES:
            step = bptt_step(torch, arch, batch, seq_len, dtype)
            for _ in range(3):
                step()
            values = []
            for _ in range(REPEATS):
                torch.cuda.synchronize()
                start, began, steps = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle), time.perf_counter(), 0
                while time.perf_counter() - began < window_seconds:
                    step()
                    steps += 1
                torch.cuda.synchronize()
                window = Window(start, pynvml.nvmlDeviceGetTotalEnergyConsumption(handle),
                                time.perf_counter() - began, steps * batch)
                values.append(joules_per_sequence(window, idle))
            mean, std = summary(values)
            rows.append({"precision": precision, "batch": batch, "joules_per_sequence": mean, "std": std,
                         "idle_watts": idle})
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", type=Path, default=ROOT / "examples" / "copy.yaml")
    parser.add_argument("--base", default="gpu-h100", help="shipped profile the measured one is based on")
    parser.add_argument("--out", type=Path, default=Path("gpu-measured.yaml"))
    parser.add_argument("--window", type=float, default=10.0, help="seconds per measurement window")
    args = parser.parse_args(argv)
    found = gpu_available()
    if isinstance(found, str):
        print(f"no GPU to measure here: {found}; nothing measured, no profile written")
        return 0
    torch, pynvml = found
    from hwsim.bptt_variants import bptt_variant
    from neuropc.reference.network import Architecture
    from neuropc.spec import load_spec
    from neuropc.tasks import task_from_spec

    rows = measure(torch, pynvml, args.spec, args.window)
    for row in rows:
        print(f"{row['precision']} batch {row['batch']}: {row['joules_per_sequence']:.4g} J per sequence "
              f"(std {row['std']:.2g}, {REPEATS} repeats, idle {row['idle_watts']:.1f} W subtracted)")
    fp32 = next(r for r in rows if r["precision"] == "fp32" and r["batch"] == max(BATCHES))
    spec = load_spec(args.spec)
    work = bptt_variant(Architecture.from_spec(spec), "time-batched", task_from_spec(spec.task).sequence_length,
                        fp32["batch"]).work
    per_mac = fp32["joules_per_sequence"] * fp32["batch"] / work.macs
    name = torch.cuda.get_device_name(0)
    args.out.write_text(measured_profile(args.base, f"{args.base}-measured", fp32["idle_watts"], per_mac,
                                         fp32["std"] * fp32["batch"] / work.macs,
                                         f"{name}, {args.spec.name}, fp32, batch {fp32['batch']}"))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
