"""One entry point per batch for every learning rule: compute updates, apply them."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from neuropc.reference.bptt import bptt_updates
from neuropc.reference.forward import forward_sequence
from neuropc.reference.network import Architecture, Params
from neuropc.reference.optim import Optimizer
from neuropc.reference.temporal import StepResult, TemporalLearner
from neuropc.spec.schema import RuleSpec
from neuropc.tasks.base import SequenceBatch


class Carry:
    """What a rule carries from one window of a stream to the next (tasks with ``carries_state``).

    The online rules keep their ``TemporalLearner``: its LRU state and, for tPC-RTRL, its
    eligibility traces continue exactly as if the windows were one long sequence, which is
    the point of RTRL. BPTT keeps only the final state of the window (truncated BPTT: the
    gradient stops at the window's start, the state does not).
    """

    def __init__(self, arch: Architecture, rule: RuleSpec, size: int) -> None:
        self.learner = TemporalLearner(arch, rule, size) if rule.name != "bptt" else None
        self.state = np.zeros((size, arch.state), arch.dtype)  # BPTT's carried state


def sequence_updates(arch: Architecture, rule: RuleSpec, params: Params, batch: SequenceBatch,
                     carry: Carry | None = None, observe: Callable[[StepResult], None] | None = None
                     ) -> tuple[dict[str, np.ndarray], float]:
    """Summed descent directions over a sequence with parameters held fixed (update mode
    'sequence'), normalised like the mean loss so they compare directly with -dL/dp.
    ``carry``: continue a stream from the previous window instead of the zero state.
    ``observe``: called with every step's result (online rules only; measurements such as
    ``neuropc.reference.approximation`` look at the inference of each step)."""
    if rule.name == "bptt":
        if carry is None:
            return bptt_updates(arch, params, batch)
        history = forward_sequence(arch, params, batch, initial_state=carry.state)
        carry.state = history.states[-1].copy()
        return bptt_updates(arch, params, batch, history=history)
    learner = carry.learner if carry is not None and carry.learner is not None else TemporalLearner(
        arch, rule, batch.size)
    total = {name: np.zeros_like(params[name]) for name in arch.trainable()}
    loss = 0.0
    for t in range(batch.length):
        result = learner.step(params, batch.inputs[t], batch.targets[t], batch.mask[t])
        if observe is not None:
            observe(result)
        for name in total:
            total[name] += result.updates[name]
        loss += float(result.errors.loss.sum())
    scale = 1.0 / batch.loss_steps()
    return {name: value * scale for name, value in total.items()}, loss * scale


def train_on_batch(arch: Architecture, rule: RuleSpec, params: Params, batch: SequenceBatch,
                   optimizer: Optimizer, carry: Carry | None = None) -> float:
    """Learn from one batch in the rule's update mode; returns the mean training loss.
    ``carry``: the batch continues the streams of the previous one (see ``Carry``)."""
    if rule.update == "sequence":
        updates, loss = sequence_updates(arch, rule, params, batch, carry)
        optimizer.apply(params, updates)
        return loss
    # online: apply each step's updates at once, so later steps see the changed weights
    learner = carry.learner if carry is not None and carry.learner is not None else TemporalLearner(
        arch, rule, batch.size)
    scale = 1.0 / batch.loss_steps()
    loss = 0.0
    for t in range(batch.length):
        result = learner.step(params, batch.inputs[t], batch.targets[t], batch.mask[t])
        loss += float(result.errors.loss.sum())
        if batch.mask[t].any():
            optimizer.apply(params, {n: result.updates[n] * scale for n in arch.trainable()})
    return loss * scale
