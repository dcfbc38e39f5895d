"""tPC-RTRL's work on a conventional chip, by hand on a small complex network."""

from __future__ import annotations

import pytest

from hwsim.bptt_work import _Sizes
from hwsim.rtrl_gpu_work import rtrl_kernels, rtrl_work_closed_form
from neuropc.reference.network import Architecture

ARCH = Architecture(complex=True, state=4, inputs=3, hidden=(5,), outputs=2, activation="gelu",
                    loss="cross_entropy", learn_gamma=False)


def test_counts_by_hand():
    # readout 8 -> 5 -> 2: 50 weights, 57 with biases; one step's forward 3x4x2 + 4x2x2 + 4x2 + 57 = 105 MACs
    work = rtrl_work_closed_form(ARCH, seq_len=9, batch=2, iterations=2)
    assert work.forward_macs == 9 * 2 * 105
    assert work.backward_macs == 9 * 2 * 2 * 50  # K = 2 iterations send every error down once
    # traces: lam and gam 2 x (16 + 8), B scaled by lam 4 x 4 x 3 = 48, one one-hot input 8 -> 104;
    # credit: B trace 48, lam and gam 2 x 16, readout outer products 57 -> 137
    assert work.weight_gradient_macs == 9 * 2 * (104 + 137)
    assert work.trace_bytes == 3 * 9 * 2 * (2 * 4 * 3) * 4  # B trace read twice, written once, fp32
    assert work.activation_bytes_written == 0 and work.history_slots == ()
    s = _Sizes.of(ARCH)
    assert work.resident_bytes == (s.weights_used + s.gradient_accumulators + 2 * 24 + 2 * 2 * 8) * 4
    assert rtrl_kernels(ARCH, 2) == 2 * 2 + 2 + 2 * 2 * 2 + 4 + 2 * 2 + 3 + 1


def test_no_batch_or_negative_iterations_is_refused():
    with pytest.raises(ValueError):
        rtrl_work_closed_form(ARCH, seq_len=9, batch=0, iterations=2)
