"""With dense activity the counters equal closed-form counts from the layer sizes and K.

In dense mode every value is sent on every send and every synapse and learning update is
counted, so a sequence's counts do not depend on the data: they follow from N (LRU units),
c (2 compartments per complex unit, else 1), M (inputs), the hidden widths, V (outputs), K,
T, the optimizer, and how many cores each layer is split over (k_l). The formulas below are
written from the op table of docs/compiler.md and the counting rules of docs/hwsim.md, not
from the program, and are compared with what the engine counted. Messages and hops per step
are also checked against the compiler's own report (computed from its channel table and
placement, independently of the engine).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from compiler.pipeline import compile_artifact as artifact_from_spec
from hwsim.engine import FIELDS, Engine
from neuropc.tasks import task_from_spec
from tests.conformance.cases import tiny

LANES = 2


def closed_form(spec, cores: list[int]) -> tuple[Counter, Counter]:
    """Counts of one sequence (reset and T steps) of one lane, and of the apply shared by
    the lanes, dense activity."""
    rule = spec.rule
    pc, rtrl = rule.uses_inference, rule.name == "tpc-rtrl"
    moving = pc and not rule.inference.fixed_prediction
    K = rule.inference.iterations if pc else 0
    c = 2 if spec.recurrent.complex else 1
    N, M, V = spec.recurrent.size, spec.input.size, spec.readout.output
    hidden = list(spec.readout.hidden)
    learned_gamma = spec.recurrent.gamma == "learned"
    adam = rule.optimizer.name == "adam"
    T = task_from_spec(spec.task).sequence_length
    F = c * N
    sizes = [N, *hidden, V]  # neurons of value layer 0..L-1 and the output layer L
    fan_in = [None, F, *hidden]  # inputs of layer l >= 1
    L = len(sizes) - 1
    k = cores
    n = Counter()
    step = Counter()

    def send(values: int, destinations: int) -> Counter:
        """One send of ``values`` to ``destinations`` cores: compare (2 reads each), update
        the reference (1 write each), messages, and the receivers' inbox writes."""
        return Counter(memory_reads=2 * values, memory_writes=values + values * destinations,
                       messages=values * destinations)

    def matvec(rows: int, cols: int, core_count: int, bias: bool) -> Counter:
        """Every row times every column; the sigma-delta bookkeeping of each core touches
        all its columns (2 reads, 1 write each)."""
        ops = rows * cols + (rows if bias else 0)
        return Counter(synaptic_ops_dense=ops, synaptic_ops_effective=ops, neuron_updates=rows,
                       memory_reads=2 * cols * core_count, memory_writes=cols * core_count)

    def softmax(loss: bool) -> Counter:
        out = Counter(neuron_updates=2 * k[L] + V + 2 + (k[L] if loss else 0))
        if k[L] > 1:  # partial max and sum to the root, global max and normaliser back
            out += Counter(memory_reads=4 * (k[L] - 1) + 4, messages=4 * (k[L] - 1),
                           memory_writes=2 * (k[L] - 1) + 2 + 4 * (k[L] - 1))
        return out

    # host inputs: u into every LRU core, target and mask into every output core
    step["memory_writes"] += k[0] * M + 2 * k[L]
    # predict
    step += matvec(F, M, c * k[0], bias=False)  # drive = B u, one matvec per part and core
    step["neuron_updates"] += F * (2 + (2 if pc else 0))  # lru_predict, copy act (+ x, eps)
    step += send(F, k[1])
    for layer in range(1, L):
        h = sizes[layer]
        step += matvec(h, fan_in[layer], k[layer], bias=True)
        step["neuron_updates"] += h * (1 + (2 if pc else 0))  # activate (+ copy x, error)
        step += send(h, k[layer + 1])
    step += matvec(V, fan_in[L], k[L], bias=True) + softmax(loss=True)
    # infer (K iterations) or backprop
    errors_down = Counter()
    for layer in range(1, L + 1):
        errors_down += send(sizes[layer], k[layer - 1])
    if pc:
        iteration = Counter(errors_down)
        iteration += matvec(F, sizes[1], c * k[0], bias=False)  # fb = WT e per part
        iteration["neuron_updates"] += F * (2 + (1 if moving else 0))  # relax, error (+ act)
        if moving:
            iteration += send(F, k[1])
        for layer in range(1, L):
            h = sizes[layer]
            iteration += matvec(h, sizes[layer + 1], k[layer], bias=False)  # fb = WT e
            iteration["neuron_updates"] += 3 * h  # gate, relax, error
            if moving:
                iteration["neuron_updates"] += h  # activate
                iteration += send(h, k[layer + 1])
                iteration += matvec(h, fan_in[layer], k[layer], bias=True)  # mu again
        if moving:
            iteration += matvec(V, fan_in[L], k[L], bias=True) + softmax(loss=False)
        for _ in range(K):
            step += iteration
        step += errors_down  # learn, stage 0: the final errors for the feedback copies
    else:
        step += errors_down  # each layer passes its error on once
        for layer in range(1, L):
            step += matvec(sizes[layer], sizes[layer + 1], k[layer], bias=False)
            step["neuron_updates"] += sizes[layer]  # gate
        step += matvec(F, sizes[1], c * k[0], bias=False)
    # learn
    if rtrl:
        step["learning_trace_updates"] += F + F * M + (F if learned_gamma else 0)
    step["learning_weight_updates"] += N * c + (N if learned_gamma else 0)  # nu (+theta), gamma
    step["learning_weight_updates"] += F * M + F * sizes[1]  # B, feedback copy of W0
    for layer in range(1, L + 1):
        s = sizes[layer]
        step["learning_weight_updates"] += s * fan_in[layer] + s  # W, b
        if layer < L:
            step["learning_weight_updates"] += s * sizes[layer + 1]  # feedback copy
    # advance
    step["neuron_updates"] += F
    for _ in range(T):
        n += step
    # sequence start: program reset, then inboxes, delta references and accumulators
    n["memory_writes"] += F + ((F + F * M + (F if learned_gamma else 0)) if rtrl else 0)
    inboxes = k[0] * (M + sizes[1]) + sum(
        k[layer] * (fan_in[layer] + sizes[layer + 1]) for layer in range(1, L))
    inboxes += k[L] * (fan_in[L] + 2) + (4 * (k[L] - 1) if k[L] > 1 else 0)
    references = F + sum(hidden) + sum(sizes[1:]) + (2 * (k[L] - 1) + 2 if k[L] > 1 else 0)
    accumulators = 2 * F + c * k[0] * (M + sizes[1]) + sum(
        2 * sizes[layer] + k[layer] * (fan_in[layer] + sizes[layer + 1]) for layer in range(1, L))
    accumulators += V + k[L] * fan_in[L]
    n["memory_writes"] += inboxes + references + accumulators
    # every later step starts with the error channels at 0: their inboxes, delta references
    # and the accumulators reading them (LRU feedback per part and core, hidden feedback)
    error_inboxes = sum(k[layer] * sizes[layer + 1] for layer in range(L))
    error_references = sum(sizes[1:])
    error_accumulators = F + c * k[0] * sizes[1] + sum(
        sizes[layer] + k[layer] * sizes[layer + 1] for layer in range(1, L))
    n["memory_writes"] += (T - 1) * (error_inboxes + error_references + error_accumulators)
    # apply: every stored parameter element and feedback copy (accumulator read and
    # cleared; with Adam also both moments read and written)
    elements = N * c + (N if learned_gamma else 0) + F * M + F * sizes[1]
    for layer in range(1, L + 1):
        s = sizes[layer]
        elements += s * fan_in[layer] + s + (s * sizes[layer + 1] if layer < L else 0)
    accesses = elements * (3 if adam else 1)
    shared = Counter(learning_weight_updates=elements, memory_reads=accesses,
                     memory_writes=accesses)
    return n, shared


CASES = {
    "rtrl-complex-fixed-split": tiny(split=True, vocab=6, hidden=(7,), K=2),
    "rtrl-real-moving-two-hidden": tiny(complex_lru=False, hidden=(5, 4), K=3, fixed=False,
                                        carry="inferred", gamma="fixed", optimizer="sgd"),
    "rtrl-moving-split-K1": tiny(split=True, vocab=6, hidden=(9, 7), K=1, fixed=False),
    "tpc-no-hidden-K0": tiny(rule="tpc", hidden=(), K=0, gamma="fixed"),
    "spatial-bp-complex-two-hidden": tiny(rule="spatial-bp", hidden=(5, 4)),
    "spatial-bp-real-split": tiny(rule="spatial-bp", complex_lru=False, split=True, vocab=6,
                                  optimizer="sgd"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_dense_counts_equal_the_closed_form(case: str) -> None:
    spec = CASES[case]
    artifact = artifact_from_spec(spec)
    cores = [layer.cores for layer in artifact.program.settings.layers]
    if "split" in case:
        assert all(k > 1 for k in cores)
    engine = Engine(artifact, LANES, dense=True)
    data = task_from_spec(spec.task).sample(np.random.default_rng(1), LANES)
    out = engine.run(data.inputs, data.targets, data.mask, train=True, reset=True,
                     apply_end=True, scale=1.0 / data.loss_steps())
    counts = engine.take_counts()
    per_lane, shared = closed_form(spec, cores)
    for row, want in [*((lane, per_lane) for lane in range(LANES)), (LANES, shared)]:
        got = dict(zip(FIELDS, counts[row].sum(axis=0), strict=True))
        for field in FIELDS:
            if field == "hops":  # depends on placement: checked against the report below
                continue
            assert got[field] == want[field], (case, row, field, got[field], want[field])
    # per step: messages and hops equal the compiler's report (its own channel count and routes)
    report = artifact.report
    step_messages = out.step_counts[:, :LANES, FIELDS.index("messages")]
    step_hops = out.step_counts[:, :LANES, FIELDS.index("hops")]
    assert (step_messages == report["messages_per_step"]["total"]).all()
    assert (step_hops == report["hops_per_step"]["hop_messages"]).all()


def test_event_counts_never_exceed_dense_counts_and_follow_the_data() -> None:
    """With events, effective synaptic ops are the changed inputs times the nonzero weights
    of their columns: a step without loss sends no errors, so no feedback synapse works."""
    spec = tiny(hidden=(5,), K=2)
    artifact = artifact_from_spec(spec)
    events, dense = Engine(artifact, LANES), Engine(artifact, LANES, dense=True)
    data = task_from_spec(spec.task).sample(np.random.default_rng(1), LANES)
    runs = [engine.run(data.inputs, data.targets, data.mask, train=True, reset=True)
            for engine in (events, dense)]
    eff, ops = FIELDS.index("synaptic_ops_effective"), FIELDS.index("synaptic_ops_dense")
    assert (runs[0].step_counts[..., eff] <= runs[0].step_counts[..., ops]).all()
    np.testing.assert_array_equal(runs[0].step_counts[..., ops], runs[1].step_counts[..., ops])
    silent = np.flatnonzero(data.mask.sum(axis=1) == 0)  # the copy task's input and delay steps
    loud = np.flatnonzero(data.mask.sum(axis=1) > 0)
    assert silent.size and loud.size
    weights = FIELDS.index("learning_weight_updates")
    assert (runs[0].step_counts[silent, :LANES, weights] == 0).all()
    assert (runs[0].step_counts[loud, :LANES, weights] > 0).all()


def test_each_feedback_matrix_works_once_per_loss_step_with_fixed_prediction() -> None:
    """With fixed prediction, K = 2 and one hidden layer, the output error is new in the first
    iteration and the hidden error in the second; error channels restart at 0 every step, so
    no events carry last step's errors back to 0. Each feedback matrix then works exactly once
    per loss step: training minus evaluation (predict only, same activities) is one full
    feedback pass."""
    spec = tiny(hidden=(5,), K=2, vocab=4)
    artifact = artifact_from_spec(spec)
    data = task_from_spec(spec.task).sample(np.random.default_rng(3), LANES)
    runs = []
    for train in (True, False):
        engine = Engine(artifact, LANES)
        runs.append(engine.run(data.inputs, data.targets, data.mask, train=train, reset=True))
    eff = FIELDS.index("synaptic_ops_effective")
    feedback = runs[0].step_counts[:, :LANES, eff] - runs[1].step_counts[:, :LANES, eff]
    c, N, H, V = 2, spec.recurrent.size, spec.readout.hidden[0], spec.readout.output
    loss_steps = data.mask > 0  # (steps, lanes)
    np.testing.assert_array_equal(feedback, np.where(loss_steps, c * N * H + H * V, 0))
