"""Backpropagation through time: the exact gradient, from the stored activation history."""

from __future__ import annotations

import numpy as np

from neuropc.reference.forward import forward_sequence
from neuropc.reference.network import Architecture, Params
from neuropc.reference.step_errors import backprop_errors, readout_updates
from neuropc.tasks.base import SequenceBatch


def bptt_gradients(arch: Architecture, params: Params,
                   batch: SequenceBatch) -> tuple[dict[str, np.ndarray], float]:
    """dL/dp for every trainable parameter, L the mean loss over loss-carrying steps."""
    history = forward_sequence(arch, params, batch)
    coef = history.coef
    scale = 1.0 / batch.loss_steps()
    descent = {name: np.zeros_like(params[name]) for name in arch.trainable()}
    # state_credit accumulates G_t = dL/dRe h_t + i dL/dIm h_t, then flows back through
    # h_{t+1} = lam h_t + ...: G_t = g_t + conj(lam) G_{t+1}. Errors carry the minus sign.
    state_error = np.zeros((batch.size, arch.state), arch.dtype)
    lam_credit = np.zeros(arch.state, arch.dtype)
    gam_credit = np.zeros(arch.state, arch.dtype)
    weight_credit = np.zeros((arch.state, arch.inputs), arch.dtype)
    for t in range(batch.length - 1, -1, -1):
        errors = backprop_errors(arch, params, history.states[t + 1], batch.targets[t],
                                 batch.mask[t], readout=(history.hidden_pre[t], history.outputs[t]))
        for name, value in readout_updates(arch, errors).items():
            descent[name] += value
        state_error = errors.eps[0] + np.conj(coef.lam) * state_error
        lam_credit += (state_error * np.conj(history.states[t])).sum(axis=0)
        gam_credit += (state_error * np.conj(history.drives[t])).sum(axis=0)
        weight_credit += (state_error * coef.gam).T @ batch.inputs[t]
    for name, d in coef.dlam.items():
        descent[name] += np.real(lam_credit * np.conj(d))
    if arch.learn_gamma:
        descent["gamma_log"] += coef.gam * np.real(gam_credit)
    if arch.complex:
        descent["B_re"] += weight_credit.real
        descent["B_im"] += weight_credit.imag
    else:
        descent["B"] += np.real(weight_credit)
    loss = float(history.losses.sum() * scale)
    return {name: -value * scale for name, value in descent.items()}, loss

