"""Every backend equals the numpy reference, step by step (float64, threshold 0).

The backbone of the equivalence ladder: for every case of ``cases.SEQUENCE_CASES`` and every
registered backend, the same inputs go through ``neuropc.reference.temporal.TemporalLearner``
and through the backend, and after every time step every state array (carried state,
prediction, inferred values, errors, activities), every accumulated update (and its feedback
copy), every eligibility trace and the loss agree within 1e-9; after each sequence's apply,
every parameter. Whole batches through the runner's ``train_batch`` equal the reference's
``train_on_batch`` in both update modes. Backends are reached only through the protocol.
"""

from __future__ import annotations

import numpy as np
import pytest

from hwsim.backends import Backend, open_backend
from hwsim.runner import train_batch
from neuropc.reference.network import Architecture
from neuropc.reference.optim import Optimizer
from neuropc.reference.rules import train_on_batch
from neuropc.reference.temporal import TemporalLearner
from neuropc.tasks import task_from_spec
from tests.conformance.cases import (
    BACKENDS,
    CASES,
    LANES,
    SEQUENCE_CASES,
    artifact,
    backend_cases,
    step_inputs,
    tiny,
)

STEPS = 5
TOL = 1e-9


def _close(got: np.ndarray, want: np.ndarray, what: str) -> None:
    diff = np.max(np.abs(np.asarray(got) - np.asarray(want))) if np.size(want) else 0.0
    assert diff < TOL, f"{what}: max abs difference {diff:.3g}"


def _read(backend: Backend, space: str, name: str, shape: tuple[int, ...], complex_lru: bool,
          layer: int | None = None) -> np.ndarray:
    if not complex_lru:
        return backend.read(space, name, shape, layer=layer)
    return (backend.read(space, name, shape, part="re", layer=layer)
            + 1j * backend.read(space, name, shape, part="im", layer=layer))


def check_step(backend: Backend, learner: TemporalLearner, result, totals: dict[str, np.ndarray],
               loss: np.ndarray, where: str) -> None:
    arch = learner.arch
    n, cx = arch.state, arch.complex
    _close(_read(backend, "state", "h", (n,), cx, layer=0), learner.state, f"{where}: h")
    _close(_read(backend, "state", "mu", (n,), cx, layer=0), result.prediction, f"{where}: mu^0")
    if learner.rule.uses_inference:
        _close(_read(backend, "state", "x", (n,), cx, layer=0), result.errors.state, f"{where}: x^0")
    sizes = [n, *arch.hidden, arch.outputs]
    for layer, eps in enumerate(result.errors.eps):
        got = (_read(backend, "state", "eps", (n,), cx, layer=0) if layer == 0 else
               backend.read("state", "eps", (sizes[layer],), layer=layer))
        _close(got, eps, f"{where}: error of layer {layer}")
    for layer, activity in enumerate(result.errors.activity[1:], start=1):
        _close(backend.read("state", "act", (sizes[layer],), layer=layer), activity,
               f"{where}: activity of layer {layer}")
    feats = _read(backend, "state", "act", (n,), cx, layer=0)
    _close(np.concatenate([feats.real, feats.imag], axis=-1) if cx else feats,
           result.errors.activity[0], f"{where}: LRU features")
    for name, total in totals.items():
        _close(backend.read("update", name, total.shape), total, f"{where}: update {name}")
        if name.startswith("W"):
            _close(backend.read("update", name, total.shape, copy=True), total,
                   f"{where}: feedback copy of update {name}")
    if learner.traces is not None:
        _close(_read(backend, "trace", "lam", (n,), cx), learner.traces.lam, f"{where}: e_lam")
        _close(_read(backend, "trace", "B", (n, arch.inputs), cx), learner.traces.B, f"{where}: e_B")
        if arch.learn_gamma:
            _close(_read(backend, "trace", "gam", (n,), cx), learner.traces.gam, f"{where}: e_gam")
    _close(loss, result.errors.loss, f"{where}: loss")


def check_params(backend: Backend, params: dict[str, np.ndarray], what: str) -> None:
    for name, value in params.items():
        _close(backend.read("param", name, value.shape), value, f"{what}: parameter {name}")
        if name.startswith("W"):
            _close(backend.read("param", name, value.shape, copy=True), value,
                   f"{what}: feedback copy of {name}")


@pytest.mark.parametrize("backend_name,case", backend_cases(BACKENDS, SEQUENCE_CASES))
def test_backend_equals_the_reference_step_by_step(backend_name: str, case: str) -> None:
    spec = CASES[case]
    compiled = artifact(case)
    if "split" in case:  # several cores per layer, softmax combined across output slices
        assert all(layer.cores > 1 for layer in compiled.program.settings.layers)
    arch = Architecture.from_spec(spec)
    params = {k: v.copy() for k, v in compiled.params.items()}
    optimizer = Optimizer(spec.rule.optimizer)
    backend = open_backend(backend_name, compiled, LANES)
    rng = np.random.default_rng(11)
    for sequence in range(2):  # the second sequence starts from applied weights
        learner = TemporalLearner(arch, spec.rule, LANES)
        backend.reset()
        totals = {name: np.zeros_like(params[name]) for name in arch.trainable()}
        carried = 0.0
        for t in range(STEPS):
            u, target, mask = step_inputs(compiled, rng, t)
            result = learner.step(params, u, target, mask)
            for name in totals:
                totals[name] += result.updates[name]
            carried += mask.sum()
            out = backend.run(u[None], target[None], mask[None], train=True)
            check_step(backend, learner, result, totals, out.loss[0], f"sequence {sequence} step {t}")
        scale = 1.0 / carried
        optimizer.apply(params, {k: v * scale for k, v in totals.items()})
        backend.apply(scale)
        check_params(backend, params, f"sequence {sequence} after apply")
        for name in totals:
            _close(backend.read("update", name, params[name].shape), 0.0 * params[name],
                   f"accumulator {name} cleared by apply")
    assert backend.optimizer_steps == 2  # one apply per sequence


@pytest.mark.parametrize("update,optimizer,rule,hidden,batch", [
    ("sequence", "adam", "tpc-rtrl", (5, 4), 4), ("sequence", "sgd", "tpc", (5, 4), 4),
    ("online", "adam", "tpc-rtrl", (5, 4), 4), ("online", "sgd", "spatial-bp", (5, 4), 4),
    # six lanes over seven rows: native's blocked learning accumulation (lanes and rows in
    # fours) and its leftovers
    ("sequence", "sgd", "tpc-rtrl", (7,), 6),
])
@pytest.mark.parametrize("backend_name", BACKENDS)
def test_training_batches_equal_train_on_batch(backend_name: str, update: str, optimizer: str,
                                               rule: str, hidden: tuple[int, ...], batch: int) -> None:
    """Whole batches (reset, every step, apply per batch, or after every step with loss
    online) through the runner equal the reference's ``train_on_batch``: loss and every
    parameter, batch after batch."""
    spec = tiny(rule=rule, update=update, optimizer=optimizer, hidden=hidden, batch=batch,
                activation="gelu")
    from compiler.pipeline import compile_artifact

    compiled = compile_artifact(spec)
    arch = Architecture.from_spec(spec)
    params = {k: v.copy() for k, v in compiled.params.items()}
    reference = Optimizer(spec.rule.optimizer)
    backend = open_backend(backend_name, compiled, spec.run.batch)
    task = task_from_spec(spec.task)
    rng = np.random.default_rng(5)
    for k in range(3):
        batch = task.sample(rng, spec.run.batch)
        want = train_on_batch(arch, spec.rule, params, batch, reference)
        got, counts = train_batch(backend, batch)
        assert abs(got - want) < TOL, (k, got, want)
        check_params(backend, params, f"batch {k}")
        assert counts.shape == (spec.run.batch, 9) and (counts >= 0).all()
    if spec.rule.optimizer.name == "adam":  # Adam's bias correction uses the step number
        assert backend.optimizer_steps == reference.count > 0


@pytest.mark.parametrize("rule,update", [("tpc-rtrl", "sequence"), ("tpc-rtrl", "online"), ("tpc", "sequence")])
@pytest.mark.parametrize("backend_name", BACKENDS)
def test_batches_that_continue_streams_equal_the_reference_carry(backend_name: str, rule: str,
                                                                 update: str) -> None:
    """A task that carries state (charlm): after the first batch the runner passes
    ``reset=False``, and the lanes keep their LRU state and eligibility traces exactly as the
    reference's ``Carry`` does: loss, parameters, state and traces, batch after batch."""
    from neuropc.reference.rules import Carry

    spec = tiny(rule=rule, update=update, batch=LANES)
    compiled = artifact("rtrl-complex-fixed-K2") if (rule, update) == ("tpc-rtrl", "sequence") else None
    if compiled is None:
        from compiler.pipeline import compile_artifact

        compiled = compile_artifact(spec)
    arch = Architecture.from_spec(spec)
    params = {k: v.copy() for k, v in compiled.params.items()}
    reference = Optimizer(spec.rule.optimizer)
    backend = open_backend(backend_name, compiled, LANES)
    task = task_from_spec(spec.task)
    carry = Carry(arch, spec.rule, LANES)
    rng = np.random.default_rng(8)
    for k in range(3):
        batch = task.sample(rng, LANES)
        want = train_on_batch(arch, spec.rule, params, batch, reference, carry)
        got, _ = train_batch(backend, batch, reset=k == 0)
        assert abs(got - want) < TOL, (k, got, want)
        check_params(backend, params, f"batch {k}")
        n, cx = arch.state, arch.complex
        _close(_read(backend, "state", "h", (n,), cx, layer=0), carry.learner.state, f"batch {k}: h")
        if carry.learner.traces is not None:
            _close(_read(backend, "trace", "B", (n, arch.inputs), cx), carry.learner.traces.B, f"batch {k}: e_B")


@pytest.mark.parametrize("rule", ["tpc-rtrl", "spatial-bp"])
@pytest.mark.parametrize("backend_name", BACKENDS)
def test_online_updates_match_the_reference_after_every_step(backend_name: str, rule: str) -> None:
    """update: online: after every step that carries loss both apply that step's update at
    once, so every later step sees changed weights; states and parameters agree each step."""
    spec = tiny(rule=rule, update="online", batch=LANES, hidden=(5,))
    from compiler.pipeline import compile_artifact

    artifact = compile_artifact(spec)
    arch = Architecture.from_spec(spec)
    params = {k: v.copy() for k, v in artifact.params.items()}
    optimizer = Optimizer(spec.rule.optimizer)
    learner = TemporalLearner(arch, spec.rule, LANES)
    backend = open_backend(backend_name, artifact, LANES)
    backend.reset()
    rng = np.random.default_rng(13)
    scale = 1.0 / 9.0  # the host's 1 / loss-carrying pairs of the batch, as train_on_batch
    for t in range(STEPS):
        u, target, mask = step_inputs(artifact, rng, t)
        result = learner.step(params, u, target, mask)
        if mask.any():
            optimizer.apply(params, {n: result.updates[n] * scale for n in arch.trainable()})
        out = backend.run(u[None], target[None], mask[None], train=True, scale=scale)
        # apply cleared the accumulators; a step without loss keeps its (zero) updates
        left = {n: np.zeros_like(params[n]) if mask.any() else result.updates[n]
                for n in arch.trainable()}
        check_step(backend, learner, result, left, out.loss[0], f"step {t}")
        check_params(backend, params, f"step {t}")
    assert backend.optimizer_steps == optimizer.count == STEPS - 1  # step 1 carries no loss
