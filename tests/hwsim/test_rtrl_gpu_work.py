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
    # elementwise, per step: each of the 2 iterations updates the 13 value and error nodes
    # (state 8, hidden 5) 4 times and the 2 outputs once, then the activations and their
    # derivatives (2 x 5), the outputs' loss and error (2 x 2); once per step the 89 accumulators
    # (readout 57, lambda's credit 8, B's 24)
    assert work.elementwise_ops == 9 * (2 * (2 * (4 * 13 + 2) + 2 * 5 + 2 * 2) + 89)
    assert work.optimizer_updates == 8 + 24 + 57  # nu and theta, B, the readout
    # weights read per step: B 24, lambda 8, gamma 4 and the readout 57, and the readout's
    # 50 weights once per iteration
    assert work.weight_reads == 9 * 4 * (93 + 2 * 50)
    assert work.gradient_bytes == 2 * 9 * 89 * 4


@pytest.mark.parametrize(("seq_len", "batch", "iterations"), [(9, 0, 2), (0, 2, 2), (9, 2, -1)])
def test_no_batch_no_steps_or_negative_iterations_is_refused(seq_len, batch, iterations):
    with pytest.raises(ValueError, match="at least 1 and iterations not negative"):
        rtrl_work_closed_form(ARCH, seq_len=seq_len, batch=batch, iterations=iterations)
    assert rtrl_work_closed_form(ARCH, seq_len=9, batch=2, iterations=0).backward_macs == 0
