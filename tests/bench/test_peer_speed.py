"""bench/peer_speed.py counts what each side computes per sequence-step and the rate the
throughput targets ask of hwsim for it."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from peer_speed import (  # noqa: E402
    MULTIPLY_ADDS,
    dense_bound_section,
    describe_network,
    hwsim_work,
    largest_weight,
    work_section,
)

from compiler.pipeline import compile_artifact  # noqa: E402
from hwsim.counters import FIELDS  # noqa: E402
from hwsim.engine import Engine  # noqa: E402
from hwsim.runner import train_batch  # noqa: E402
from neuropc.reference.network import Architecture, params_from_spec  # noqa: E402
from neuropc.spec import load_spec  # noqa: E402
from neuropc.tasks import task_from_spec  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SMALL = {"recurrent.size": 6, "readout.hidden": [5]}


def small_spec_and_batch(lanes: int = 3):
    spec = load_spec(ROOT / "examples" / "copy.yaml").with_overrides(SMALL)
    return spec, task_from_spec(spec.task).sample(np.random.default_rng(0), lanes)


def test_hwsim_work_is_the_counted_multiply_adds_per_sequence_step() -> None:
    spec, batch = small_spec_and_batch()
    artifact = compile_artifact(spec)
    work = hwsim_work(artifact, batch, threads=1)
    _, counts = train_batch(Engine(artifact, batch.size, threads=1), batch)
    for field in MULTIPLY_ADDS:
        assert work[field] == counts[:, FIELDS.index(field)].sum() / (batch.size * batch.length)
    assert work["synaptic_ops_effective"] > 0 and work["learning_weight_updates"] > 0
    assert work["delta:synaptic_ops_effective"] < work["synaptic_ops_effective"]


def test_the_work_table_gives_each_sides_rate_and_what_a_target_asks() -> None:
    """PyTorch 100 k multiply-adds at 100 k sequence-steps/s: 10 G/s; hwsim 40 k + 15 k + 5 k at
    50 k/s: 3 G/s; 2x PyTorch asks 200 k sequence-steps/s of hwsim, 12 G/s, 4x its rate."""
    row = {"pytorch": 100_000.0, "hwsim": 50_000.0, "work:pytorch_macs": 100_000.0}
    for field, value, delta in zip(MULTIPLY_ADDS, (40_000, 15_000, 5_000), (10_000, 15_000, 5_000), strict=True):
        row[f"work:{field}"], row[f"work:delta:{field}"] = float(value), float(delta)
    text = "\n".join(work_section({(32, 1): row, (32, 2): {"pytorch": 1.0, "hwsim": 1.0}}))
    assert "| 32 | 100,000 | 10.00 | 60,000 | 3.00 | 30,000 | 2x PyTorch | 12.00 | 4.00x |" in text
    assert "fewer multiply-adds than threshold 0 by 2.00x at batch 32" in text
    assert "synaptic ops effective 40,000 -> 10,000, learning weight updates 15,000 -> 15,000" in text
    assert work_section({(32, 2): row}) == []  # one-thread rows only


def test_the_dense_bound_is_hwsims_multiply_adds_at_blas_rate_against_the_time_a_target_allows() -> None:
    """2x PyTorch's 100 k sequence-steps/s allows 5,000 ns per sequence-step; 60 k multiply-adds
    at 20 G/s take 3,000 ns (60%), at 40 G/s 1,500 ns (30%); hwsim at 50 k/s takes 20,000 ns."""
    row = {"pytorch": 100_000.0, "hwsim": 50_000.0, "blas:inner": 256.0, "blas:cols": 128.0,
           "blas:float64": 20.0, "blas:float32": 40.0}
    for field, value in zip(MULTIPLY_ADDS, (40_000, 15_000, 5_000), strict=True):
        row[f"work:{field}"] = float(value)
    text = "\n".join(dense_bound_section({(32, 1): row, (128, 2): row}))
    assert "largest weight, 256 x 128" in text
    assert "| 32 | 2x PyTorch | 20.0 | 40.0 | 5,000 | 3,000 | 1,500 | 20,000 |" in text
    assert "batch 32: 60% in float64, 30% in float32, leaving 2,000 and 3,500 ns" in text
    assert "| 128 |" not in text  # one-thread rows only
    assert dense_bound_section({(32, 1): {"pytorch": 1.0, "hwsim": 1.0}}) == []  # not measured


def test_the_blas_rate_is_measured_at_the_readout_layer_with_the_most_weights() -> None:
    spec = load_spec(ROOT / "examples" / "copy.yaml")
    assert largest_weight(Architecture.from_spec(spec)) == (256, 128)
    wide = spec.with_overrides({"recurrent.size": 4, "readout.hidden": [3, 40]})
    assert largest_weight(Architecture.from_spec(wide)) == (40, 9)


def test_pytorch_macs_are_its_matrix_products_forward_and_backward() -> None:
    """Forward: the input projections (real and imaginary) and the readout layers; backward:
    each weight's gradient, and the gradient into every readout layer's input (the inputs
    themselves need none)."""
    pytest.importorskip("torch")
    import torch
    from peer_speed import TorchBPTT, pytorch_macs

    spec, batch = small_spec_and_batch()
    arch = Architecture.from_spec(spec)
    model = TorchBPTT(arch, spec, params_from_spec(spec), torch.float32)
    sizes = arch.readout_sizes
    readout = sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    projections = 2 * arch.inputs * arch.state
    assert pytorch_macs(model, batch) == 2 * projections + 3 * readout


def test_the_network_is_described_from_its_spec(tmp_path: Path) -> None:
    assert describe_network(ROOT / "examples" / "copy.yaml") == (
        "`examples/copy.yaml` (complex LRU N = 128, readout 256 -> 128 (gelu) -> 9, copy task, "
        "30 steps per sequence)")
    outside = tmp_path / "net.yaml"
    outside.write_text((ROOT / "examples" / "copy_linear_readout.yaml").read_text())
    assert describe_network(outside) == (
        f"`{outside.as_posix()}` (complex LRU N = 128, readout 256 -> 9, copy task, 30 steps per sequence)")
