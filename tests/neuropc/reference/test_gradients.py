"""Rung 1 of the equivalence ladder: BPTT == finite differences, tPC-RTRL == BPTT.

Relative error is measured per parameter array as max|a - b| / max|b|, in float64.
"""

from __future__ import annotations

import numpy as np
import pytest

from neuropc.reference import recurrent_credit
from neuropc.reference.bptt import bptt_updates
from neuropc.reference.forward import evaluate
from neuropc.reference.network import Architecture, Params, params_from_spec
from neuropc.reference.rules import sequence_updates
from neuropc.spec import NetworkSpec
from neuropc.tasks import task_from_spec
from tests.conftest import small_spec

CONFIGS = [
    pytest.param(dict(complex_lru=True, hidden=(5,)), id="complex-hidden"),
    pytest.param(dict(complex_lru=True, hidden=()), id="complex-linear"),
    pytest.param(dict(complex_lru=False, hidden=(5,)), id="real-hidden"),
    pytest.param(dict(complex_lru=False, hidden=()), id="real-linear"),
    pytest.param(dict(complex_lru=True, hidden=(5, 4), activation="tanh"), id="complex-2hidden-tanh"),
]


def relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    return float(np.abs(actual - expected).max() / max(np.abs(expected).max(), 1e-300))


def setup(spec: NetworkSpec, batch_size: int = 4, seed: int = 3):
    arch = Architecture.from_spec(spec)
    params = params_from_spec(spec, seed=seed)
    batch = task_from_spec(spec.task).sample(np.random.default_rng(seed), batch_size)
    return arch, params, batch


def finite_difference(loss_of, params: Params, name: str, step: float = 1e-6) -> np.ndarray:
    grad = np.zeros_like(params[name])
    for index in np.ndindex(grad.shape):
        original = params[name][index]
        params[name][index] = original + step
        upper = loss_of(params)
        params[name][index] = original - step
        lower = loss_of(params)
        params[name][index] = original
        grad[index] = (upper - lower) / (2 * step)
    return grad


@pytest.mark.parametrize("config", CONFIGS)
def test_bptt_matches_central_finite_differences(copy_spec, config):
    spec = small_spec(copy_spec, rule="bptt", **config)
    arch, params, batch = setup(spec)
    updates, _ = bptt_updates(arch, params, batch)
    assert set(updates) == set(arch.trainable())
    for name, update in updates.items():  # an update is a descent direction: -dL/dp
        numeric = finite_difference(lambda p: evaluate(arch, p, batch).loss, params, name)
        assert relative_error(-update, numeric) < 1e-6, name


@pytest.mark.parametrize("config", CONFIGS)
def test_exact_tpc_rtrl_equals_bptt(copy_spec, config):
    """docs/algorithm.md, 'When tPC-RTRL equals BPTT': fixed prediction, converged inference
    (eta=1, K=L), carry the prediction, parameters fixed within the sequence."""
    spec = small_spec(copy_spec, rule="tpc-rtrl", **config)
    assert spec.rule.inference.fixed_prediction and spec.rule.carry == "prediction"
    arch, params, batch = setup(spec)
    updates, loss = sequence_updates(arch, spec.rule, params, batch)
    exact, bptt_loss = bptt_updates(arch, params, batch)
    assert loss == pytest.approx(bptt_loss, rel=1e-12)
    for name in arch.trainable():
        assert relative_error(updates[name], exact[name]) < 1e-6, name


def test_dropping_the_trace_recursion_breaks_equality(copy_spec, monkeypatch):
    """The equality test above has teeth: keeping only the immediate term must fail it."""
    spec = small_spec(copy_spec)
    arch, params, batch = setup(spec)
    exact, _ = bptt_updates(arch, params, batch)

    def no_recursion(traces, coef, step):
        traces.lam, traces.B, traces.gam = step.lam, step.B, step.gam

    monkeypatch.setattr(recurrent_credit, "advance_traces", no_recursion)
    updates, _ = sequence_updates(arch, spec.rule, params, batch)
    for name in ("nu", "theta", "gamma_log", "B_re", "B_im"):
        assert relative_error(updates[name], exact[name]) > 1e-3, name


@pytest.mark.parametrize("term", ["lam", "B", "gam"])
def test_each_trace_term_is_needed(copy_spec, monkeypatch, term):
    spec = small_spec(copy_spec)
    arch, params, batch = setup(spec)
    exact, _ = bptt_updates(arch, params, batch)
    original = recurrent_credit.advance_traces

    def drop_one(traces, coef, step):
        kept = getattr(traces, term)
        original(traces, coef, step)
        setattr(traces, term, getattr(step, term) + 0 * kept)

    monkeypatch.setattr(recurrent_credit, "advance_traces", drop_one)
    updates, _ = sequence_updates(arch, spec.rule, params, batch)
    affected = {"lam": ["nu", "theta"], "B": ["B_re", "B_im"], "gam": ["gamma_log"]}[term]
    for name in affected:
        assert relative_error(updates[name], exact[name]) > 1e-3, name


def truncated_loss(arch: Architecture, params: Params, reference: Params, batch) -> float:
    """Loss with every carried state h_{t-1} frozen at its value under ``reference``:
    only the immediate dependence of each step on the parameters remains."""
    from neuropc.reference import losses
    from neuropc.reference.forward import forward_sequence
    from neuropc.reference.network import lru_coefficients, lru_drive, readout_forward

    frozen = forward_sequence(arch, reference, batch).states
    coef = lru_coefficients(arch, params)
    total = 0.0
    for t in range(batch.length):
        h = coef.lam * frozen[t] + coef.gam * lru_drive(coef, batch.inputs[t])
        _, out = readout_forward(arch, params, h)
        total += float((losses.value(arch.loss, out, batch.targets[t]) * batch.mask[t]).sum())
    return total / batch.loss_steps()


@pytest.mark.parametrize("rule", ["tpc", "spatial-bp"])
@pytest.mark.parametrize("complex_lru", [True, False])
def test_one_step_rules_follow_the_truncated_loss(copy_spec, rule, complex_lru):
    spec = small_spec(copy_spec, rule=rule, complex_lru=complex_lru)
    arch, params, batch = setup(spec)
    reference = {k: v.copy() for k, v in params.items()}
    updates, _ = sequence_updates(arch, spec.rule, params, batch)
    for name in arch.trainable():
        numeric = finite_difference(lambda p: truncated_loss(arch, p, reference, batch), params, name)
        assert relative_error(-updates[name], numeric) < 1e-6, name
