"""BPTT's work: the instrumented reference equals the closed form; history grows with T."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hwsim.bptt_work import (
    BPTTCounter,
    bptt_history_bytes,
    bptt_work,
    bptt_work_closed_form,
    count_bptt_work,
    inference_work_closed_form,
    parameter_bytes,
    rtrl_state_bytes,
)
from hwsim.costs import load_profile, parse_profile
from neuropc.errors import NeuropcError
from neuropc.reference.bptt import bptt_updates
from neuropc.reference.network import Architecture, params_from_spec
from neuropc.tasks import task_from_spec
from tests.conftest import small_spec


def arch(complex_lru=True, hidden=(5,), learn_gamma=True, loss="cross_entropy", state=6, inputs=5, outputs=3):
    return Architecture(complex=complex_lru, state=state, inputs=inputs, hidden=hidden, outputs=outputs,
                        activation="gelu", loss=loss, learn_gamma=learn_gamma)


DENSE_CASES = [
    pytest.param(arch(), id="complex-hidden-gamma"),
    pytest.param(arch(complex_lru=False, hidden=()), id="real-linear"),
    pytest.param(arch(hidden=(5, 4), learn_gamma=False), id="complex-2hidden-fixed-gamma"),
    pytest.param(arch(complex_lru=False, hidden=(3,), loss="squared_error"), id="real-regression"),
]


@pytest.mark.parametrize("network", DENSE_CASES)
@pytest.mark.parametrize(("seq_len", "batch"), [(1, 1), (2, 3), (9, 4)])
def test_instrumented_reference_equals_closed_form(network, seq_len, batch):
    counted = bptt_work(network, seq_len, batch, instrumented=True)
    closed = bptt_work_closed_form(network, seq_len, batch)
    assert counted == closed, [f.name for f in dataclasses.fields(closed)
                               if getattr(counted, f.name) != getattr(closed, f.name)]
    assert counted.macs > 0 and counted.activation_bytes_read > 0


def test_counts_of_a_tiny_network_by_hand():
    # real LRU, N=2, M=3, readout 2 -> 2 (no hidden layer), gamma fixed, T=2, one sequence.
    work = bptt_work(arch(complex_lru=False, hidden=(), learn_gamma=False, state=2, inputs=3, outputs=2),
                     seq_len=2, batch=1, instrumented=True)
    # per step forward: B u 2*3, lambda*h 2, gamma*(B u) 2, readout 2*2 + 2 biases = 16
    assert work.forward_macs == 2 * 16
    # per step backward: W^T eps 2*2, conj(lambda) * G 2 = 6
    assert work.backward_macs == 2 * 6
    # per step weight gradient: dW 4 + db 2, lambda credit 2, gamma * G 2, (gamma G)^T u 2*3 = 16
    assert work.weight_gradient_macs == 2 * 16
    # per step: forward loss 2, output error 2, loss again 2; accumulate dW 4, db 2, lambda 2, B 6
    assert work.elementwise_ops == 2 * (6 + 14)
    assert work.optimizer_updates == 2 + 6 + 6  # nu, B, W0 and b0
    # weights read per step (fp32): forward B 6, lambda 2, gamma 2, W0 4, b0 2; backward W0 4,
    # lambda 2, gamma 2 -> 24 numbers
    assert work.weight_reads == 2 * 24 * 4
    assert work.gradient_bytes == 2 * 2 * 14 * 4  # read and write 14 accumulators per step
    # slot 0: initial state (2); each step stores input 3, target 1, mask 1, drive 2, state 2,
    # output 2, loss 1 = 12 numbers
    assert work.activation_bytes_written == (2 + 2 * 12) * 4
    # read back: the initial state once, step 0 everything but the drive with its state twice
    # (12 - 2 + 2), step 1 the same with its state once (10)
    assert work.activation_bytes_read == (2 + 12 + 10) * 4
    assert work.resident_bytes == (16 + 14) * 4  # weights used + gradient accumulators


def test_the_counter_hook_does_not_change_the_gradients(copy_spec):
    spec = small_spec(copy_spec, rule="bptt")
    network = Architecture.from_spec(spec)
    params = params_from_spec(spec, seed=1)
    batch = task_from_spec(spec.task).sample(np.random.default_rng(1), 3)
    plain, plain_loss = bptt_updates(network, params, batch)
    counted, counted_loss = bptt_updates(network, params, batch, counter=BPTTCounter())
    assert counted_loss == plain_loss
    for name in plain:
        np.testing.assert_array_equal(counted[name], plain[name])


def test_counts_on_real_task_data_do_not_depend_on_the_values(copy_spec):
    spec = small_spec(copy_spec, rule="bptt")
    network = Architecture.from_spec(spec)
    batch = task_from_spec(spec.task).sample(np.random.default_rng(2), 5)
    counted = count_bptt_work(network, params_from_spec(spec, seed=2), batch)
    assert counted == bptt_work_closed_form(network, batch.length, 5)


def test_history_grows_with_sequence_length_and_rtrl_state_does_not():
    network = arch(hidden=(8,))
    lengths = [10, 100, 1000]
    history = [bptt_history_bytes(network, t, batch=2).total for t in lengths]
    per_step = history[1] - history[0]
    assert per_step > 0
    assert history[2] - history[1] == 10 * per_step  # linear in T
    for t, total in zip(lengths, history, strict=True):
        assert total == bptt_work_closed_form(network, t, 2).activation_bytes_written
    state = rtrl_state_bytes(network, batch=2)
    assert state.seq_len is None
    # complex N=6, M=5: the B trace is one complex number per input synapse per sequence
    assert state.parts["trace B (one per input synapse)"] == 2 * 6 * 5 * 2 * 4
    assert state.parts["trace gamma"] == 2 * 6 * 2 * 4
    assert rtrl_state_bytes(arch(learn_gamma=False), batch=2).parts["trace gamma"] == 0
    # carried state and the lambda trace: one complex number per state entry; one step's value
    # and error nodes: state 12 and hidden 8 of each, and the 3 output errors
    assert state.parts["carried state"] == state.parts["trace lambda"] == 2 * 12 * 4
    assert state.parts["step value and error nodes"] == 2 * (2 * (12 + 8) + 3) * 4
    assert state.total == sum(state.parts.values()) and state.per_sequence == state.total / 2
    # complex N=6 (nu, theta, gamma_log), B 2*6*5, W0 5*12 + 5, W1 3*5 + 3
    assert parameter_bytes(network) == (18 + 60 + 8 * 12 + 8 + 3 * 8 + 3) * 4


def test_the_history_stores_each_steps_targets_as_the_loss_needs_them():
    # cross-entropy keeps one class id per step; squared error the whole target vector
    classes = bptt_history_bytes(arch(outputs=3), 10, batch=2)
    vectors = bptt_history_bytes(arch(outputs=3, loss="squared_error"), 10, batch=2)
    assert classes.parts["targets"] == 10 * 2 * 1 * 4
    assert vectors.parts["targets"] == 10 * 2 * 3 * 4
    assert vectors.total == bptt_work_closed_form(arch(outputs=3, loss="squared_error"), 10, 2).activation_bytes_written
    assert vectors.per_sequence == vectors.total / 2


def test_defaults_are_one_sequence_in_fp32():
    network = arch()
    assert bptt_work(network, 7) == bptt_work(network, 7, 1, value_bytes=4)
    assert bptt_work_closed_form(network, 7) == bptt_work_closed_form(network, 7, 1, value_bytes=4)
    assert bptt_history_bytes(network, 7) == bptt_history_bytes(network, 7, 1, value_bytes=4)
    assert rtrl_state_bytes(network) == rtrl_state_bytes(network, 1, value_bytes=4)
    assert inference_work_closed_form(network) == inference_work_closed_form(network, 1, 1, value_bytes=4)


def test_inference_does_forward_work_only():
    network = arch()
    forward = inference_work_closed_form(network, steps=3, batch=2)
    training = bptt_work_closed_form(network, 3, 2)
    assert forward.forward_macs == training.forward_macs > 0
    assert forward.elementwise_ops == 3 * 2 * (5 + 3)  # each hidden activation and output, per step and sequence
    assert (forward.backward_macs, forward.weight_gradient_macs, forward.optimizer_updates) == (0, 0, 0)
    assert (forward.gradient_bytes, forward.activation_bytes_written, forward.activation_bytes_read) == (0, 0, 0)
    assert forward.history_slots == ()


@pytest.mark.parametrize(("seq_len", "batch"), [(0, 1), (1, 0), (-1, 2)])
def test_no_steps_or_no_sequences_is_refused(seq_len, batch):
    with pytest.raises(ValueError, match="seq_len and batch must be at least 1"):
        bptt_work(arch(), seq_len, batch)


@pytest.mark.parametrize(("a", "b"), [((2, 3), (4, 5)), ((2, 3), (3,)), ((3,), (3, 2))])
def test_a_matrix_product_of_mismatched_shapes_is_refused(a, b):
    with pytest.raises(ValueError, match="matmul expects"):
        BPTTCounter().matmul("forward", np.zeros(a), np.zeros(b))


def test_history_spills_off_chip_newest_slots_first():
    network = arch(complex_lru=False, hidden=(), learn_gamma=False, state=2, inputs=3, outputs=2)
    work = bptt_work_closed_form(network, seq_len=3, batch=1)
    # slots (bytes written, read, fetched): initial (8, 8, 8), step 0 and 1 (48, 48, 40),
    # step 2 (48, 40, 40); resident weights and gradients 120 bytes
    assert [tuple(r) for r in work.history_slots] == [(1, 8, 8, 8), (2, 48, 48, 40), (1, 48, 40, 40)]
    assert work.placed(10_000).activation_bytes_offchip == 0
    # room for the last two steps only: step 0 and the initial state spill, written and read back once
    placed = work.placed(120 + 2 * 48 + 47)
    assert placed.activation_bytes_offchip == (48 + 40) + (8 + 8)
    assert placed.parameter_bytes_offchip == 0
    assert placed.activation_bytes_onchip == work.activation_bytes_written + work.activation_bytes_read - 104
    # parameters do not fit: their traffic and the whole history go off chip
    spilled = work.placed(100)
    assert spilled.parameter_bytes_offchip == work.weight_reads + work.gradient_bytes
    assert spilled.activation_bytes_offchip == 8 + 8 + 2 * (48 + 40) + 48 + 40


def test_bptt_work_places_on_the_profile_and_refuses_neuromorphic_profiles(tmp_path):
    network = arch()
    small = parse_profile("base: cpu-45nm\nconstants:\n"
                          "  onchip_capacity: {value: 4, unit: KiB, source: test, provenance: assumed}\n")
    work = bptt_work(network, 200, 2, small)
    assert work.onchip_capacity_bytes == 4096
    assert 0 < work.activation_bytes_offchip < work.activation_bytes_written + work.activation_bytes_read
    assert bptt_work(network, 200, 2, load_profile("gpu-h100")).activation_bytes_offchip == 0
    with pytest.raises(NeuropcError, match="'loihi' is neuromorphic"):
        bptt_work(network, 10, 1, load_profile("loihi"))


def test_closed_form_is_fast_for_long_sequences_of_a_paper_sized_network():
    network = Architecture(complex=True, state=256, inputs=11, hidden=(256,), outputs=9, activation="gelu",
                           loss="cross_entropy", learn_gamma=False)
    work = bptt_work(network, 100_000, 64, load_profile("cpu-45nm"))
    assert len(work.history_slots) == 3  # initial state, steps read twice, last step
    # 8 MiB against ~11 GB of history: almost every slot is written out and read back
    assert work.activation_bytes_written > 10**10
    assert work.activation_bytes_offchip > work.activation_bytes_written
