"""Backpropagation through time: the exact gradient, from the stored activation history."""

from __future__ import annotations

from typing import Any

import numpy as np

from neuropc.reference.forward import ForwardHistory, forward_sequence
from neuropc.reference.network import Architecture, LRUCoefficients, Params
from neuropc.reference.step_errors import backprop_errors, readout_updates
from neuropc.tasks.base import SequenceBatch


def bptt_updates(arch: Architecture, params: Params, batch: SequenceBatch,
                 counter: Any = None, *, history: ForwardHistory | None = None
                 ) -> tuple[dict[str, np.ndarray], float]:
    """The exact descent direction -dL/dp for every trainable parameter, L the mean loss over
    loss-carrying steps, and L. Updates are descent directions everywhere in neuropc (the
    optimizer adds ``lr * update``), so this compares directly with every other rule's.

    ``counter`` (optional, e.g. ``hwsim.bptt_work.BPTTCounter``) is told about every
    operation, weight read, history write and read, and gradient accumulation as it happens;
    it never changes the results. ``history``: a forward pass already made (one that started
    from a carried state: truncated BPTT over a window of a stream); credit stops at its start.
    """
    if history is None:
        history = forward_sequence(arch, params, batch, counter)
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
        if counter is not None:
            _count_history_reads(counter, history, batch, t)
        errors = backprop_errors(arch, params, history.states[t + 1], batch.targets[t],
                                 batch.mask[t], readout=(history.hidden_pre[t], history.outputs[t]),
                                 counter=counter)
        for name, value in readout_updates(arch, errors, counter).items():
            descent[name] += value
            if counter is not None:
                counter.accumulate_gradient(name, descent[name])
        if counter is not None:
            counter.product("backward", coef.lam, state_error)  # conj(lam) G_{t+1}
        state_error = errors.eps[0] + np.conj(coef.lam) * state_error
        lam_credit += (state_error * np.conj(history.states[t])).sum(axis=0)
        if arch.learn_gamma:  # gamma's credit is only needed when gamma is learned
            gam_credit += (state_error * np.conj(history.drives[t])).sum(axis=0)
        scaled_error = state_error * coef.gam
        weight_credit += scaled_error.T @ batch.inputs[t]
        if counter is not None:
            _count_recurrent_credit(counter, arch, coef, history, batch, t, state_error, scaled_error,
                                    lam_credit, gam_credit, weight_credit)
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
    updates = {name: value * scale for name, value in descent.items()}
    if counter is not None:
        for t in range(batch.length):
            counter.read_history("loss", history.losses[t], t + 1)
        for update in updates.values():
            counter.optimizer_update(update)
    return updates, loss


def _count_history_reads(counter: Any, history: ForwardHistory, batch: SequenceBatch, t: int) -> None:
    """What the backward step t reads back from the history for the readout errors."""
    slot = t + 1  # see forward._count_step: states[k] is in slot k, step t's arrays in t + 1
    counter.read_history("state", history.states[t + 1], slot)
    for i, value in enumerate(history.hidden_pre[t]):
        counter.read_history(f"hidden{i}", value, slot)
    counter.read_history("output", history.outputs[t], slot)
    counter.read_history("target", batch.targets[t], slot)
    counter.read_history("mask", batch.mask[t], slot)


def _count_recurrent_credit(counter: Any, arch: Architecture, coef: LRUCoefficients,
                            history: ForwardHistory, batch: SequenceBatch, t: int,
                            state_error: np.ndarray, scaled_error: np.ndarray,
                            lam_credit: np.ndarray, gam_credit: np.ndarray,
                            weight_credit: np.ndarray) -> None:
    """The LRU part of backward step t: credit for lambda, gamma and B."""
    counter.read_weight("lambda", coef.lam)
    counter.read_weight("gamma", coef.gam)
    counter.read_history("state", history.states[t], t)
    counter.product("weight_gradient", state_error, history.states[t])
    counter.accumulate_gradient("lambda", lam_credit)
    if arch.learn_gamma:
        counter.read_history("drive", history.drives[t], t + 1)
        counter.product("weight_gradient", state_error, history.drives[t])
        counter.accumulate_gradient("gamma", gam_credit)
    counter.product("weight_gradient", state_error, coef.gam)
    counter.read_history("input", batch.inputs[t], t + 1)
    counter.matmul("weight_gradient", scaled_error.T, batch.inputs[t])
    counter.accumulate_gradient("B", weight_credit)
