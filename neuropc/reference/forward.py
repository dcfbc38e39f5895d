"""The feed-forward pass over a whole sequence: evaluation, and the history BPTT stores."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuropc.reference import losses
from neuropc.reference.network import (
    Architecture,
    LRUCoefficients,
    Params,
    lru_coefficients,
    lru_drive,
    readout_forward,
)
from neuropc.tasks.base import SequenceBatch


@dataclass
class ForwardHistory:
    """Everything a forward pass produced, kept for all T steps (this is BPTT's memory)."""

    coef: LRUCoefficients
    states: np.ndarray  # (T + 1, B, N); states[0] is the zero initial state
    drives: np.ndarray  # (T, B, N): B u_t
    hidden_pre: list[list[np.ndarray]]  # per step, the readout hidden pre-activations
    outputs: np.ndarray  # (T, B, V)
    losses: np.ndarray  # (T, B), masked


def forward_sequence(arch: Architecture, params: Params, batch: SequenceBatch) -> ForwardHistory:
    coef = lru_coefficients(arch, params)
    steps, size = batch.length, batch.size
    states = np.zeros((steps + 1, size, arch.state), dtype=arch.dtype)
    drives = np.zeros((steps, size, arch.state), dtype=arch.dtype)
    outputs = np.zeros((steps, size, arch.outputs))
    step_losses = np.zeros((steps, size))
    hidden_pre = []
    for t in range(steps):
        drives[t] = lru_drive(coef, batch.inputs[t])
        states[t + 1] = coef.lam * states[t] + coef.gam * drives[t]
        pre, outputs[t] = readout_forward(arch, params, states[t + 1])
        hidden_pre.append(pre)
        step_losses[t] = losses.value(arch.loss, outputs[t], batch.targets[t]) * batch.mask[t]
    return ForwardHistory(coef, states, drives, hidden_pre, outputs, step_losses)


@dataclass(frozen=True)
class Evaluation:
    loss: float  # mean over loss-carrying steps
    accuracy: float | None  # fraction of loss-carrying steps predicted right (classification)


def evaluate(arch: Architecture, params: Params, batch: SequenceBatch) -> Evaluation:
    history = forward_sequence(arch, params, batch)
    loss = float(history.losses.sum() / batch.loss_steps())
    if arch.loss != "cross_entropy":
        return Evaluation(loss, None)
    correct = (history.outputs.argmax(axis=-1) == batch.targets) * batch.mask
    return Evaluation(loss, float(correct.sum() / batch.loss_steps()))
