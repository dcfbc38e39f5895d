"""PC inference reaches the backprop errors (docs/algorithm.md, 'PC inference')."""

from __future__ import annotations

import numpy as np
import pytest

from neuropc.reference import activations
from neuropc.reference.network import Architecture, features_adjoint, params_from_spec
from neuropc.reference.step_errors import backprop_errors, pc_inference
from tests.conftest import small_spec


def one_step(copy_spec, hidden=(5, 4), complex_lru=True, seed=0):
    spec = small_spec(copy_spec, hidden=hidden, complex_lru=complex_lru, activation="tanh")
    arch = Architecture.from_spec(spec)
    params = params_from_spec(spec, seed=seed)
    rng = np.random.default_rng(seed)
    dtype = arch.dtype
    mu0 = rng.normal(size=(4, arch.state)).astype(dtype)
    if arch.complex:
        mu0 = mu0 + 1j * rng.normal(size=(4, arch.state))
    target = rng.integers(0, arch.outputs, size=4)
    mask = np.array([1.0, 1.0, 0.0, 1.0])
    return arch, params, mu0, target, mask


@pytest.mark.parametrize("complex_lru", [True, False])
def test_fixed_prediction_with_unit_step_is_exact_after_L_iterations(copy_spec, complex_lru):
    arch, params, mu0, target, mask = one_step(copy_spec, complex_lru=complex_lru)
    exact = backprop_errors(arch, params, mu0, target, mask)
    pc = pc_inference(arch, params, mu0, target, mask, arch.value_layers, 1.0, True)
    for layer in range(arch.value_layers + 1):
        np.testing.assert_allclose(pc.eps[layer], exact.eps[layer], rtol=0, atol=1e-13)
    # one iteration short, the bottom layer has not heard from the output yet
    short = pc_inference(arch, params, mu0, target, mask, arch.value_layers - 1, 1.0, True)
    assert np.abs(short.eps[0]).max() == 0.0


def test_small_steps_converge_to_backprop_errors(copy_spec):
    arch, params, mu0, target, mask = one_step(copy_spec)
    exact = backprop_errors(arch, params, mu0, target, mask)
    pc = pc_inference(arch, params, mu0, target, mask, 400, 0.2, True)
    for layer in range(arch.value_layers + 1):
        np.testing.assert_allclose(pc.eps[layer], exact.eps[layer], rtol=0, atol=1e-10)


def test_without_fixed_prediction_inference_settles_at_a_stationary_point(copy_spec):
    """Standard PC: errors at equilibrium satisfy eps^l = f'(x^l) W_l^T eps^{l+1} at the
    inferred values, and approximate the backprop errors (not exactly)."""
    arch, params, mu0, target, mask = one_step(copy_spec)
    pc = pc_inference(arch, params, mu0, target, mask, 3000, 0.1, False)
    # x^l for l >= 1 from the activity the weight update uses, f(x^l); tanh is invertible
    values = [pc.state] + [np.arctanh(pc.activity[layer]) for layer in range(1, arch.value_layers)]
    for layer in range(arch.value_layers):
        back = pc.eps[layer + 1] @ params[f"W{layer}"]
        if layer == 0:
            expected = features_adjoint(arch, back)
        else:
            expected = activations.derivative("tanh", values[layer]) * back
        np.testing.assert_allclose(pc.eps[layer], expected, rtol=0, atol=1e-9)
    exact = backprop_errors(arch, params, mu0, target, mask)
    gap = np.abs(pc.eps[0] - exact.eps[0]).max() / np.abs(exact.eps[0]).max()
    assert 0.0 < gap < 0.5


def test_masked_sequences_have_no_errors(copy_spec):
    arch, params, mu0, target, mask = one_step(copy_spec)
    pc = pc_inference(arch, params, mu0, target, mask, 5, 0.5, False)
    for eps in pc.eps:
        assert np.abs(eps[2]).max() == 0.0
