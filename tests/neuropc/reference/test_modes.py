"""Carry and update modes (docs/algorithm.md, 'Modes') and the optimizers."""

from __future__ import annotations

import numpy as np
import pytest

from neuropc.reference.network import Architecture, params_from_spec
from neuropc.reference.optim import Optimizer
from neuropc.reference.rules import sequence_updates, train_on_batch
from neuropc.reference.temporal import TemporalLearner
from neuropc.spec.schema import OptimizerSpec
from neuropc.tasks import task_from_spec
from tests.conftest import small_spec


def prepare(spec, batch_size=4):
    arch = Architecture.from_spec(spec)
    params = params_from_spec(spec, seed=1)
    batch = task_from_spec(spec.task).sample(np.random.default_rng(1), batch_size)
    return arch, params, batch


def test_carry_inferred_changes_the_state_only_when_inference_runs(copy_spec):
    spec = small_spec(copy_spec, **{"rule.carry": "inferred"})
    arch, params, batch = prepare(spec)
    inferred = TemporalLearner(arch, spec.rule, batch.size)
    predicted = TemporalLearner(arch, spec.rule.model_copy(update={"carry": "prediction"}), batch.size)
    for t in range(batch.length):
        a = inferred.step(params, batch.inputs[t], batch.targets[t], batch.mask[t])
        predicted.step(params, batch.inputs[t], batch.targets[t], batch.mask[t])
        np.testing.assert_allclose(inferred.state, a.prediction + a.errors.eps[0], atol=1e-14)
    # the recall steps carry errors, so the carried states must differ by the end
    assert np.abs(inferred.state - predicted.state).max() > 1e-6


def test_zero_iterations_carry_inferred_equals_carry_prediction(copy_spec):
    spec = small_spec(copy_spec, **{"rule.carry": "inferred", "rule.inference.iterations": 0})
    arch, params, batch = prepare(spec)
    a, _ = sequence_updates(arch, spec.rule, params, batch)
    b, _ = sequence_updates(arch, spec.rule.model_copy(update={"carry": "prediction"}), params, batch)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])


def test_online_updates_change_weights_between_recall_steps(copy_spec):
    spec = small_spec(copy_spec, **{"rule.optimizer.name": "sgd", "rule.optimizer.lr": 0.5})
    arch, params, batch = prepare(spec)
    sequence_params = {k: v.copy() for k, v in params.items()}
    online_params = {k: v.copy() for k, v in params.items()}
    online_rule = spec.rule.model_copy(update={"update": "online"})
    train_on_batch(arch, spec.rule, sequence_params, batch, Optimizer(spec.rule.optimizer))
    train_on_batch(arch, online_rule, online_params, batch, Optimizer(spec.rule.optimizer))
    # with several recall steps, online learning sees its own earlier updates
    assert max(np.abs(online_params[k] - sequence_params[k]).max() for k in params) > 1e-6


def test_online_equals_sequence_when_only_the_last_step_has_loss(copy_spec):
    spec = small_spec(copy_spec, **{"rule.optimizer.name": "sgd"})
    arch, params, batch = prepare(spec)
    mask = np.zeros_like(batch.mask)
    mask[-1] = 1.0
    batch = type(batch)(batch.inputs, batch.targets, mask)
    a = {k: v.copy() for k, v in params.items()}
    b = {k: v.copy() for k, v in params.items()}
    train_on_batch(arch, spec.rule, a, batch, Optimizer(spec.rule.optimizer))
    train_on_batch(arch, spec.rule.model_copy(update={"update": "online"}), b, batch,
                   Optimizer(spec.rule.optimizer))
    for name in params:
        np.testing.assert_allclose(a[name], b[name], rtol=0, atol=1e-14)


def test_fixed_gamma_is_not_trained(copy_spec):
    spec = small_spec(copy_spec, learn_gamma=False)
    arch, params, batch = prepare(spec)
    before = params["gamma_log"].copy()
    train_on_batch(arch, spec.rule, params, batch, Optimizer(spec.rule.optimizer))
    np.testing.assert_array_equal(params["gamma_log"], before)
    assert "gamma_log" not in arch.trainable()


def test_parameter_count_matches_the_trainable_arrays(copy_spec):
    for complex_lru in (True, False):
        for gamma in (True, False):
            spec = small_spec(copy_spec, complex_lru=complex_lru, learn_gamma=gamma)
            arch = Architecture.from_spec(spec)
            params = params_from_spec(spec)
            assert sum(arch.parameter_count().values()) == sum(params[n].size for n in arch.trainable())


def test_adam_first_step_moves_each_weight_by_the_learning_rate():
    params = {"w": np.array([1.0, -2.0, 3.0])}
    Optimizer(OptimizerSpec(name="adam", lr=0.1)).apply(params, {"w": np.array([0.5, -4.0, 1e-3])})
    np.testing.assert_allclose(params["w"], [1.1, -2.1, 3.1], atol=1e-6)


def test_sgd_step():
    params = {"w": np.array([1.0])}
    Optimizer(OptimizerSpec(name="sgd", lr=0.1)).apply(params, {"w": np.array([2.0])})
    assert params["w"][0] == pytest.approx(1.2)


def test_lru_initialisation_respects_the_radius_range(copy_spec):
    spec = copy_spec.with_overrides({"recurrent.radius": (0.5, 0.8)})
    params = params_from_spec(spec)
    radius = np.exp(-np.exp(params["nu"]))
    assert radius.min() >= 0.5 and radius.max() <= 0.8
    phase = np.exp(params["theta"])
    assert phase.min() > 0 and phase.max() <= spec.recurrent.max_phase
    np.testing.assert_allclose(np.exp(params["gamma_log"]), np.sqrt(1 - radius**2))
