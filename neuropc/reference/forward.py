"""The feed-forward pass over a whole sequence: evaluation, and the history BPTT stores."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
from neuropc.tasks.base import SequenceBatch, Task


@dataclass
class ForwardHistory:
    """Everything a forward pass produced, kept for all T steps (this is BPTT's memory)."""

    coef: LRUCoefficients
    states: np.ndarray  # (T + 1, B, N); states[0] is the initial state (zero unless carried in)
    drives: np.ndarray  # (T, B, N): B u_t
    hidden_pre: list[list[np.ndarray]]  # per step, the readout hidden pre-activations
    outputs: np.ndarray  # (T, B, V)
    losses: np.ndarray  # (T, B), masked


def forward_sequence(arch: Architecture, params: Params, batch: SequenceBatch,
                     counter: Any = None, initial_state: np.ndarray | None = None) -> ForwardHistory:
    """The forward pass of every step, keeping what BPTT needs.

    ``initial_state`` (batch, N): the state carried in from the previous window of a stream
    (tasks that carry state); None starts from zero.

    ``counter`` (optional, e.g. ``hwsim.bptt_work.BPTTCounter``) is told about every
    operation and every history array as it happens; it never changes the results.
    """
    coef = lru_coefficients(arch, params)
    steps, size = batch.length, batch.size
    states = np.zeros((steps + 1, size, arch.state), dtype=arch.dtype)
    drives = np.zeros((steps, size, arch.state), dtype=arch.dtype)
    outputs = np.zeros((steps, size, arch.outputs))
    step_losses = np.zeros((steps, size))
    hidden_pre = []
    if initial_state is not None:
        states[0] = initial_state
    if counter is not None:
        counter.write_history("state", states[0], 0)
    for t in range(steps):
        drives[t] = lru_drive(coef, batch.inputs[t])
        states[t + 1] = coef.lam * states[t] + coef.gam * drives[t]
        pre, outputs[t] = readout_forward(arch, params, states[t + 1])
        hidden_pre.append(pre)
        step_losses[t] = losses.value(arch.loss, outputs[t], batch.targets[t]) * batch.mask[t]
        if counter is not None:
            _count_step(counter, arch, params, coef, batch, t, states, drives, pre, outputs[t],
                        step_losses[t])
    return ForwardHistory(coef, states, drives, hidden_pre, outputs, step_losses)


def _count_step(counter: Any, arch: Architecture, params: Params, coef: LRUCoefficients,
                batch: SequenceBatch, t: int, states: np.ndarray, drives: np.ndarray,
                pre: list[np.ndarray], output: np.ndarray, loss: np.ndarray) -> None:
    """Report one forward step to ``counter``: the operations above, then what it stored.

    History slot ``t + 1`` holds what step t produced or consumed (slot 0: the initial state),
    so that ``states[k]`` lives in slot k.
    """
    counter.read_weight("B", coef.B)
    counter.read_weight("lambda", coef.lam)
    counter.read_weight("gamma", coef.gam)
    counter.matmul("forward", batch.inputs[t], coef.B.T)  # B u_t
    counter.product("forward", coef.lam, states[t])  # lambda * h_{t-1}
    counter.product("forward", coef.gam, drives[t])  # + gamma * B u_t
    for layer, out in enumerate([*pre, output]):
        counter.read_weight(f"W{layer}", params[f"W{layer}"])
        counter.read_weight(f"b{layer}", params[f"b{layer}"])
        counter.dense("forward", params[f"W{layer}"], out)
    for value in pre:
        counter.elementwise(value)  # activation f(pre)
    counter.elementwise(output)  # masked loss over the output
    slot = t + 1
    stored = [("input", batch.inputs[t]), ("target", batch.targets[t]), ("mask", batch.mask[t]),
              ("drive", drives[t]), ("state", states[t + 1]),
              *((f"hidden{i}", value) for i, value in enumerate(pre)),
              ("output", output), ("loss", loss)]
    for name, array in stored:
        counter.write_history(name, array, slot)


@dataclass(frozen=True)
class Evaluation:
    loss: float  # mean over loss-carrying steps
    metrics: dict[str, float] = field(default_factory=dict)  # the task's metric values, by Metric.key


def evaluate(arch: Architecture, params: Params, batch: SequenceBatch, task: Task | None = None) -> Evaluation:
    """Mean loss over the loss-carrying steps of ``batch`` and, given its ``task``, the task's
    metrics (the task scores the outputs; no metric formula lives here)."""
    history = forward_sequence(arch, params, batch)
    loss = float(history.losses.sum() / batch.loss_steps())
    if task is None:
        return Evaluation(loss)
    return Evaluation(loss, task.finish(task.score(history.outputs, batch), batch.loss_steps()))
