"""Each BPTT variant against its closed form, by hand on a small network."""

from __future__ import annotations

import math

import pytest

from hwsim.bptt_variants import bptt_variant, step_kernels
from hwsim.bptt_work import _Sizes, bptt_work_closed_form
from neuropc.reference.network import Architecture

ARCH = Architecture(complex=True, state=4, inputs=3, hidden=(5,), outputs=2, activation="gelu",
                    loss="cross_entropy", learn_gamma=False)
T, B, FP32 = 9, 2, 4


def sizes() -> _Sizes:
    return _Sizes.of(ARCH)


def test_kernel_counts_by_hand():
    # readout 8 -> 5 -> 2 (2 layers): 2 forward + 3 backward kernels each; the LRU 2 + 3; the loss 2
    assert step_kernels(ARCH) == 2 * (2 + 3) + (2 + 3) + 2 == 17
    assert bptt_variant(ARCH, "per-step", T, B).kernels == 9 * 17 + 1  # every step, then the optimizer
    assert bptt_variant(ARCH, "time-batched", T, B).kernels == 17 + 1
    assert bptt_variant(ARCH, "truncated", T, B, window=4).kernels == 3 * 17 + 1  # 3 windows
    # 3 recomputed segments, each the forward kernels: 2 per readout layer and 2 for the LRU
    assert bptt_variant(ARCH, "checkpointed", T, B).kernels == 17 + 3 * (2 * 2 + 2) + 1


def test_per_step_is_the_reference_as_counted():
    v = bptt_variant(ARCH, "per-step", T, B)
    assert v.work == bptt_work_closed_form(ARCH, T, B)
    assert v.kernels == T * step_kernels(ARCH) + 1 and v.exact


def test_time_batched_reads_each_weight_twice_and_writes_each_gradient_once_per_batch():
    s, base = sizes(), bptt_work_closed_form(ARCH, T, B)
    v = bptt_variant(ARCH, "time-batched", T, B)
    assert v.work.weight_reads == 2 * s.weights_used * FP32
    assert v.work.gradient_bytes == s.gradient_accumulators * FP32
    assert v.work.resident_bytes == s.weights_used * FP32  # accumulators live inside the products
    assert v.work.macs == base.macs  # the same arithmetic, restructured
    assert v.work.elementwise_ops == base.elementwise_ops - (T - 1) * s.gradient_accumulators
    assert v.live_history_bytes == base.activation_bytes_written
    assert v.kernels == step_kernels(ARCH) + 1 and v.exact


def test_truncated_touches_weights_once_per_window_and_keeps_a_window_of_history():
    s, base = sizes(), bptt_work_closed_form(ARCH, T, B)
    v = bptt_variant(ARCH, "truncated", T, B, window=4)
    windows = math.ceil(T / 4)  # 3
    assert v.work.weight_reads == 2 * windows * s.weights_used * FP32
    assert v.work.gradient_bytes == windows * s.gradient_accumulators * FP32
    assert v.live_history_bytes == 5 * B * s.slot_written * FP32
    assert v.work.macs == base.macs and not v.exact
    assert bptt_variant(ARCH, "truncated", T, B, window=T).exact
    with pytest.raises(ValueError):
        bptt_variant(ARCH, "truncated", T, B, window=T + 1)


def test_checkpointed_recomputes_one_forward_pass_and_keeps_sqrt_t_checkpoints():
    s, base = sizes(), bptt_work_closed_form(ARCH, T, B)
    v = bptt_variant(ARCH, "checkpointed", T, B)
    segment = 3  # ceil(sqrt(9))
    assert v.work.forward_macs == 2 * base.forward_macs
    assert v.work.backward_macs == base.backward_macs
    batched = bptt_variant(ARCH, "time-batched", T, B).work
    assert v.work.elementwise_ops == batched.elementwise_ops + T * B * (5 + 2)  # activations and outputs again
    assert v.live_history_bytes == 3 * B * s.c * s.n * FP32 + segment * B * s.slot_written * FP32
    assert v.live_history_bytes < base.activation_bytes_written
    assert v.name == "checkpointed (every 3 steps)"
