"""Measurements of the approximate tPC-RTRL against BPTT (neuropc.reference.approximation),
the inference residual, and the output precision that weighs the output error."""

from __future__ import annotations

import numpy as np
import pytest

from neuropc.reference.approximation import probe
from neuropc.reference.bptt import bptt_updates
from neuropc.reference.rules import sequence_updates
from neuropc.reference.step_errors import inference_residual, pc_inference
from neuropc.reference.temporal import TemporalLearner
from neuropc.training import train
from tests.conftest import small_spec
from tests.neuropc.reference.test_modes import prepare


def test_exact_mode_probes_as_bptt(copy_spec):
    spec = small_spec(copy_spec)
    arch, params, batch = prepare(spec)
    measured = probe(arch, spec.rule, params, batch)
    assert measured.cosine == pytest.approx(1.0, abs=1e-12)
    assert measured.cosine_recurrent == pytest.approx(1.0, abs=1e-12)
    assert measured.norm_ratio == pytest.approx(1.0, abs=1e-10)
    assert measured.residual == pytest.approx(0.0, abs=1e-12)  # K = layers, step 1: converged
    assert measured.state_shift > 0.0  # inference moved the state (it is not carried here)


@pytest.mark.parametrize("overrides", [{"rule.carry": "inferred"}, {"rule.name": "tpc"},
                                       {"rule.inference.fixed_prediction": False,
                                        "rule.inference.iterations": 4, "rule.inference.step": 0.5}])
def test_each_approximation_moves_the_update_away_from_bptt(copy_spec, overrides):
    spec = small_spec(copy_spec, **overrides)
    arch, params, batch = prepare(spec)
    measured = probe(arch, spec.rule, params, batch)
    assert measured.cosine < 1.0 - 1e-6
    assert measured.cosine > 0.0  # still a descent direction on this small network


def test_one_step_rules_get_the_readout_exactly_and_the_lru_not(copy_spec):
    spec = small_spec(copy_spec, rule="spatial-bp")
    arch, params, batch = prepare(spec)
    measured = probe(arch, spec.rule, params, batch)
    assert measured.cosine_readout == pytest.approx(1.0, abs=1e-12)
    assert measured.cosine_recurrent < 0.999
    assert measured.residual == 0.0 and measured.state_shift == 0.0  # no inference at all


def test_residual_is_zero_when_converged_and_shrinks_with_more_iterations(copy_spec):
    spec = small_spec(copy_spec, hidden=(5, 4), activation="tanh")
    arch, params, batch = prepare(spec)
    mu0 = TemporalLearner(arch, spec.rule, batch.size).state + 0.3  # any state will do
    target, mask = batch.targets[-1], np.ones(batch.size)
    converged = pc_inference(arch, params, mu0, target, mask, arch.value_layers, 1.0, True)
    np.testing.assert_allclose(inference_residual(arch, params, converged), 0.0, atol=1e-13)
    short = pc_inference(arch, params, mu0, target, mask, arch.value_layers - 1, 1.0, True)
    assert inference_residual(arch, params, short).min() > 1e-6
    moving = [inference_residual(arch, params, pc_inference(arch, params, mu0, target, mask, k, 0.2, False))
              for k in (5, 50, 500)]
    assert moving[0].sum() > moving[1].sum() > moving[2].sum()
    assert moving[2].max() < 1e-6


def test_precision_keeps_the_exact_update_and_shrinks_the_state_nudge(copy_spec):
    spec = small_spec(copy_spec, **{"rule.inference.output_precision": 0.01})
    arch, params, batch = prepare(spec)
    exact, _ = bptt_updates(arch, params, batch)
    weighed, _ = sequence_updates(arch, spec.rule, params, batch)
    for name in exact:  # the precision is divided out of the update again
        np.testing.assert_allclose(weighed[name], exact[name], rtol=1e-9, atol=1e-13)
    full = small_spec(copy_spec, **{"rule.carry": "inferred"})
    light = small_spec(copy_spec, **{"rule.carry": "inferred", "rule.inference.output_precision": 0.01})
    dragged, nudged = probe(arch, full.rule, params, batch), probe(arch, light.rule, params, batch)
    # the nudge is 1/100 of the drag at the same state; the carried states differ a little
    assert 0.005 * dragged.state_shift < nudged.state_shift < 0.02 * dragged.state_shift
    assert 1.0 - nudged.cosine < 0.1 * (1.0 - dragged.cosine)


def test_training_rows_carry_the_probe(copy_spec):
    spec = small_spec(copy_spec, **{"run.steps": 2, "run.eval_every": 1, "run.eval_sequences": 8,
                                    "run.batch": 4})
    arch, _, batch = prepare(spec)
    result = train(spec, probe=lambda params: probe(arch, spec.rule, params, batch).as_row("probe_"))
    assert [row["step"] for row in result.metrics] == [0, 1, 2]
    for row in result.metrics:
        assert row["eval_probe_cosine"] == pytest.approx(1.0, abs=1e-9)
        assert "eval_accuracy" in row
