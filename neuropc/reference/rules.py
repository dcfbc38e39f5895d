"""One entry point per batch for every learning rule: compute updates, apply them."""

from __future__ import annotations

import numpy as np

from neuropc.reference.bptt import bptt_updates
from neuropc.reference.network import Architecture, Params
from neuropc.reference.optim import Optimizer
from neuropc.reference.temporal import TemporalLearner
from neuropc.spec.schema import RuleSpec
from neuropc.tasks.base import SequenceBatch


def sequence_updates(arch: Architecture, rule: RuleSpec, params: Params,
                     batch: SequenceBatch) -> tuple[dict[str, np.ndarray], float]:
    """Summed descent directions over a sequence with parameters held fixed (update mode
    'sequence'), normalised like the mean loss so they compare directly with -dL/dp."""
    if rule.name == "bptt":
        return bptt_updates(arch, params, batch)
    learner = TemporalLearner(arch, rule, batch.size)
    total = {name: np.zeros_like(params[name]) for name in arch.trainable()}
    loss = 0.0
    for t in range(batch.length):
        result = learner.step(params, batch.inputs[t], batch.targets[t], batch.mask[t])
        for name in total:
            total[name] += result.updates[name]
        loss += float(result.errors.loss.sum())
    scale = 1.0 / batch.loss_steps()
    return {name: value * scale for name, value in total.items()}, loss * scale


def train_on_batch(arch: Architecture, rule: RuleSpec, params: Params, batch: SequenceBatch,
                   optimizer: Optimizer) -> float:
    """Learn from one batch in the rule's update mode; returns the mean training loss."""
    if rule.update == "sequence":
        updates, loss = sequence_updates(arch, rule, params, batch)
        optimizer.apply(params, updates)
        return loss
    # online: apply each step's updates at once, so later steps see the changed weights
    learner = TemporalLearner(arch, rule, batch.size)
    scale = 1.0 / batch.loss_steps()
    loss = 0.0
    for t in range(batch.length):
        result = learner.step(params, batch.inputs[t], batch.targets[t], batch.mask[t])
        loss += float(result.errors.loss.sum())
        if batch.mask[t].any():
            optimizer.apply(params, {n: result.updates[n] * scale for n in arch.trainable()})
    return loss * scale
