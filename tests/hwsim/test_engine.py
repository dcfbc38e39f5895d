"""What is particular to the native engine: blocked lanes, one sequence after another,
float32, delta coding per population, threshold groups from the program, when to apply,
counts that do not depend on history, and steps at rest charged their recorded counts.
Every backend's equality with the reference step by step is in tests/conformance."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from compiler.artifact import Artifact
from compiler.ops import OPS
from compiler.pipeline import compile_artifact as artifact_from_spec
from hwsim.encode import encode
from hwsim.engine import FIELDS, Engine
from hwsim.kernels.tables import INT_DERIVATIVES, THRESHOLD_GROUPS, slot
from hwsim.runner import calibrate, train_batch
from neuropc.spec import NetworkSpec
from neuropc.tasks import task_from_spec
from tests.conformance.cases import CASES, tiny
from tests.conformance.test_reference import check_params as check_backend_params

LANES = 3
STEPS = 5
TOL = 1e-9


def _artifact(spec: NetworkSpec) -> Artifact:
    return artifact_from_spec(spec)


def _inputs(spec: NetworkSpec, rng: np.random.Generator, t: int):
    m = spec.input.size
    u = np.eye(m)[rng.integers(0, m, size=LANES)]
    target = rng.integers(0, spec.readout.output, size=LANES)
    mask = (rng.uniform(size=LANES) < 0.7).astype(float)
    mask[t % LANES] = 1.0
    if t == 1:
        mask[:] = 0.0  # a step without loss: every error is exactly zero
    return u, target, mask


def check_params(engine: Engine, params: dict[str, np.ndarray], what: str) -> None:
    """The conformance suite's parameter check on the engine itself (its ``gather`` is the
    protocol's ``read``)."""
    check_backend_params(SimpleNamespace(read=engine.gather), params, what)


def test_one_lane_in_sequence_equals_lockstep_lanes() -> None:
    """Update mode sequence: a batch run one sequence after another into the shared
    accumulators (the chip's way) trains exactly like B lanes in lockstep, and every
    sequence costs the same; only the batch's apply is charged to its last sequence."""
    spec = tiny(batch=4, hidden=(5,))
    artifact = _artifact(spec)
    lockstep, sequential = Engine(artifact, 4), Engine(artifact, 1)
    task = task_from_spec(spec.task)
    rng = np.random.default_rng(2)
    for _ in range(3):
        batch = task.sample(rng, 4)
        loss_a, counts_a = train_batch(lockstep, batch)
        loss_b, counts_b = train_batch(sequential, batch)
        assert abs(loss_a - loss_b) < TOL
        np.testing.assert_array_equal(counts_a, counts_b)
    check_params(sequential, lockstep.parameters(), "sequential vs lockstep")


def test_float32_stays_close_to_float64() -> None:
    spec = tiny(batch=4)
    artifact = _artifact(spec)
    exact, single = Engine(artifact, 4), Engine(artifact, 4, number_format="float32")
    task = task_from_spec(spec.task)
    batch = task.sample(np.random.default_rng(3), 4)
    loss64, _ = train_batch(exact, batch)
    loss32, _ = train_batch(single, batch)
    assert 0 < abs(loss64 - loss32) < 1e-5
    for name, value in exact.parameters().items():
        got = single.gather("param", name, value.shape)
        np.testing.assert_array_equal(got, got.astype(np.float32))  # stored as float32
        assert np.max(np.abs(got - value)) < 1e-5, name


def test_threshold_sends_fewer_messages_and_zero_threshold_sends_only_changes() -> None:
    spec = tiny(batch=4, hidden=(5,))
    artifact = _artifact(spec)
    batch = task_from_spec(spec.task).sample(np.random.default_rng(4), 4)
    runs = {}
    for name, options in {"dense": {"dense": True}, "zero": {}, "coarse": {"threshold": 0.05}}.items():
        engine = Engine(artifact, 4, **options)
        train_batch(engine, batch)
        runs[name] = engine.core_totals.sum(axis=0)
    dense, zero, coarse = runs["dense"], runs["zero"], runs["coarse"]
    messages, effective, ops = (FIELDS.index(name) for name in (
        "messages", "synaptic_ops_effective", "synaptic_ops_dense"))
    assert dense[messages] > zero[messages] > coarse[messages] > 0
    # the dense count is what a clock-driven chip does: the same whatever is sent
    assert dense[effective] == dense[ops] == zero[ops] == coarse[ops]
    assert coarse[effective] < zero[effective] < dense[effective]


def test_activities_and_errors_each_follow_their_own_threshold() -> None:
    """Within one sequence (weights change only at its end) the predictions depend on how
    activities are sent, never on errors: an error threshold alone leaves every prediction
    bit-identical and sends fewer messages, an activity threshold changes them, and a number
    is the same as giving it to both populations."""
    spec = tiny(batch=4, hidden=(5,))
    artifact = _artifact(spec)
    batch = task_from_spec(spec.task).sample(np.random.default_rng(4), 4)
    messages = FIELDS.index("messages")

    def run(threshold: object) -> tuple[np.ndarray, np.ndarray, int]:
        engine = Engine(artifact, 4, threshold=threshold)
        out = engine.run(batch.inputs, batch.targets, batch.mask, train=True, reset=True)
        return out.logits, out.loss, int(engine.take_counts()[..., messages].sum())

    exact = run(0.0)
    errors_coarse = run({"activity": 0.0, "error": 0.05})
    activities_coarse = run({"activity": 0.05, "error": 0.0})
    both_coarse = run({"activity": 0.05, "error": 0.05})
    assert np.array_equal(errors_coarse[0], exact[0]) and errors_coarse[2] < exact[2]
    assert not np.array_equal(activities_coarse[0], exact[0])
    assert np.array_equal(activities_coarse[0], both_coarse[0])
    assert both_coarse[2] < activities_coarse[2] < exact[2]
    number = run(0.05)
    assert np.array_equal(number[0], both_coarse[0]) and np.array_equal(number[1], both_coarse[1])
    assert number[2] == both_coarse[2]


def test_softmax_scalars_travel_at_the_errors_threshold() -> None:
    """An output layer split over cores exchanges its softmax normaliser (max and sum); those
    scalars scale every output error, so they take the errors' threshold, not the activities'."""
    spec = tiny(vocab=20, split=True)
    artifact = _artifact(spec)
    channels = artifact.program.channels
    assert sum(core.layer == "output" for core in artifact.program.cores) > 1
    enc = Engine(artifact, 1).enc
    sends = enc.tables.sends
    kinds = [channels.name(channels.kind[enc.channel_ids[first]]) for first in sends.first_channel]
    by_threshold = {THRESHOLD_GROUPS[group]: {kind for kind, g in zip(kinds, sends.threshold_group, strict=True)
                                              if g == group} for group in (0, 1)}
    assert by_threshold == {"activity": {"activity"}, "error": {"error", "reduce", "broadcast"}}


def test_send_groups_take_the_programs_threshold_groups() -> None:
    """Which threshold a send group travels at is the program's ``threshold_groups``; a sent
    channel kind mapped to a group the sends do not know (the host's) is refused."""
    artifact = _artifact(tiny())
    program = artifact.program
    hops = artifact.placement_arrays["hops"]
    swapped = dict(program.settings.threshold_groups, activity="error", error="activity")
    enc = encode(dataclasses.replace(
        program, settings=dataclasses.replace(program.settings, threshold_groups=swapped)), 1, hops)
    kinds = [program.channels.name(program.channels.kind[enc.channel_ids[first]])
             for first in enc.tables.sends.first_channel]
    for kind, group in zip(kinds, enc.tables.sends.threshold_group, strict=True):
        assert THRESHOLD_GROUPS[group] == swapped[kind]
    hosted = dict(program.settings.threshold_groups, activity="host")
    with pytest.raises(ValueError, match="activity is sent by a core but travels at the 'host'"):
        encode(dataclasses.replace(
            program, settings=dataclasses.replace(program.settings, threshold_groups=hosted)), 1, hops)


@pytest.mark.parametrize("lanes", [1, 3])
def test_every_gate_lane_has_a_memo_of_its_own(lanes: int) -> None:
    """The gates' derivative memos (``hwsim.kernels.elementwise``) tile their storage: no two
    (gate, lane) share a value, since two workers write different lanes at once."""
    artifact = _artifact(CASES["rtrl-split-cores-moving"])  # four gates
    enc = encode(artifact.program, lanes, artifact.placement_arrays["hops"])
    ins = enc.tables.instructions
    gates = np.flatnonzero(ins.op == OPS["gate"].code)
    assert gates.size > 1
    owners = np.zeros(enc.derivatives_size, np.int64)
    for i in gates:
        size = enc.tables.buffers.size[ins.slots[i, slot("gate", "x")]]
        start = ins.ints[i, INT_DERIVATIVES]
        owners[start:start + lanes * size] += 1
    assert (owners == 1).all()


def test_when_to_apply_is_the_programs() -> None:
    """An online program applies after every training step with loss without being told."""
    spec = tiny(update="online", hidden=(5,))
    engine = Engine(_artifact(spec), LANES)
    assert engine.online
    batch = task_from_spec(spec.task).sample(np.random.default_rng(2), LANES)
    engine.run(batch.inputs, batch.targets, batch.mask, reset=True, scale=0.1)
    assert engine.count == int((batch.mask.sum(axis=1) > 0).sum())
    sequence = Engine(_artifact(tiny(hidden=(5,))), LANES)
    assert not sequence.online
    sequence.run(batch.inputs, batch.targets, batch.mask, reset=True, scale=0.1)
    assert sequence.count == 0
    sequence.apply(0.1)
    assert sequence.count == 1


def test_counts_per_sequence_do_not_depend_on_history() -> None:
    """A sequence start zeroes inboxes, delta references and accumulators, so the same
    sequence with the same weights costs the same whatever ran before it (and in any lane)."""
    spec = tiny(batch=2)
    artifact = _artifact(spec)
    task = task_from_spec(spec.task)
    a, b = task.sample(np.random.default_rng(8), 2), task.sample(np.random.default_rng(9), 2)
    engine = Engine(artifact, 2)
    costs = []
    for data in (a, b, a):
        engine.run(data.inputs, data.targets, data.mask, train=True, reset=True)
        costs.append(engine.take_counts()[:2].sum(axis=1))
    np.testing.assert_array_equal(costs[0], costs[2])
    swapped = Engine(artifact, 2)
    flip = [1, 0]
    swapped.run(a.inputs[:, flip], a.targets[:, flip], a.mask[:, flip], train=True, reset=True)
    np.testing.assert_array_equal(swapped.take_counts()[:2].sum(axis=1), costs[0][flip])


def _inference_scratch(artifact: Artifact) -> set[tuple[int, str]]:
    """(core, buffer) pairs that only the infer phase touches: what a step at rest would have
    rewritten with zeros and nothing else ever reads."""
    inner, outer = set(), set()
    for core in artifact.program.cores:
        for phase, ops in core.phases.items():
            names = {name for op in ops for name in (*op.reads, *op.writes)}
            (inner if phase == "infer" else outer).update(
                (core.core, name) for name in names)
    return inner - outer


@pytest.mark.parametrize("case", ["rtrl-complex-fixed-K2", "rtrl-complex-moving-inferred-K3",
                                  "spatial-bp-complex", "tpc-real-moving-K2",
                                  "rtrl-split-cores-moving"])
@pytest.mark.parametrize("options", [{}, {"dense": True}, {"threshold": 0.05},
                                     {"threshold": {"activity": 0.05, "error": 0.01}},
                                     {"number_format": "fixed"}])
def test_steps_at_rest_are_charged_exactly_what_running_them_does(case: str, options: dict) -> None:
    """Steps without loss skip re-running inference and are charged its recorded counts: every
    count of every step, every loss and every buffer outside the inference scratch equals an
    engine that runs every phase (several sequences, with the weight changes in between)."""
    spec = CASES[case]
    artifact = _artifact(spec)
    if options.get("number_format") == "fixed":
        options = {**options, "formats": calibrate(artifact, sequences=6)}
    replayed, executed = Engine(artifact, LANES, **options), Engine(artifact, LANES, **options)
    executed.replay_at_rest = False
    scratch = _inference_scratch(artifact)
    task = task_from_spec(spec.task)
    rng = np.random.default_rng(3)
    at_rest = 0
    for sequence in range(3):
        batch = task.sample(rng, LANES)
        at_rest += int((batch.mask.sum(axis=1) == 0).sum())
        outs = [engine.run(batch.inputs, batch.targets, batch.mask, train=True, reset=True,
                           apply_end=True, scale=0.1) for engine in (replayed, executed)]
        assert np.array_equal(outs[0].step_counts, outs[1].step_counts), sequence
        assert np.array_equal(outs[0].loss, outs[1].loss), sequence
        assert np.array_equal(replayed.take_op_counts(), executed.take_op_counts()), sequence
        for k, (core, buf) in enumerate(replayed.enc.buffers):
            if (core, buf.name) not in scratch:
                assert np.array_equal(replayed._view(k), executed._view(k)), (sequence, core, buf.name)
    assert at_rest >= 6  # the copy task has steps without loss to skip
