"""The online rules (tpc-rtrl, tpc, spatial-bp), one time step at a time.

This is the ground truth the hardware simulator is held against step by step, so its state
(carried LRU state and eligibility traces) is public and changes only in ``step``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuropc.reference import recurrent_credit
from neuropc.reference.network import Architecture, Params, lru_coefficients, lru_drive
from neuropc.reference.recurrent_credit import Sensitivities
from neuropc.reference.step_errors import (
    StepErrors,
    backprop_errors,
    errors_at_rest,
    pc_inference,
    readout_updates,
)
from neuropc.spec.schema import RuleSpec

ONLINE_RULES = ("tpc-rtrl", "tpc", "spatial-bp")


@dataclass
class StepResult:
    errors: StepErrors
    updates: dict[str, np.ndarray]  # descent directions summed over the batch (not normalised)
    prediction: np.ndarray  # mu^0, the feed-forward LRU state of this step


class TemporalLearner:
    """Carries the LRU state and, for tPC-RTRL, one eligibility trace per parameter."""

    def __init__(self, arch: Architecture, rule: RuleSpec, batch: int) -> None:
        if rule.name not in ONLINE_RULES:
            raise ValueError(f"rule {rule.name!r} is not an online rule")
        self.arch = arch
        self.rule = rule
        self.state = np.zeros((batch, arch.state), arch.dtype)
        self.traces = Sensitivities.zeros(arch, batch) if rule.name == "tpc-rtrl" else None

    def step(self, params: Params, u: np.ndarray, target: np.ndarray,
             mask: np.ndarray) -> StepResult:
        arch, rule = self.arch, self.rule
        coef = lru_coefficients(arch, params)
        drive = lru_drive(coef, u)
        prediction = coef.lam * self.state + coef.gam * drive
        carries_loss = bool(mask.any())
        if not carries_loss:
            errors = errors_at_rest(arch, params, prediction)
        elif rule.uses_inference:
            inference = rule.inference
            errors = pc_inference(arch, params, prediction, target, mask, inference.iterations,
                                  inference.step, inference.fixed_prediction, inference.output_precision)
        else:
            errors = backprop_errors(arch, params, prediction, target, mask)
        needs_direct = self.traces is not None or carries_loss
        direct = recurrent_credit.immediate(coef, self.state, u, drive) if needs_direct else None
        if self.traces is not None:  # traces advance on every step, loss or not
            recurrent_credit.advance_traces(self.traces, coef, direct)
        if carries_loss:
            sensitivities = self.traces if self.traces is not None else direct
            updates = readout_updates(arch, errors)
            updates.update(recurrent_credit.recurrent_updates(arch, coef, errors.eps[0], sensitivities))
            if rule.uses_inference and rule.inference.output_precision != 1.0:
                # errors were weighed by the output precision; the update keeps the scale of -dL/dp
                updates = {name: value / rule.inference.output_precision for name, value in updates.items()}
        else:  # errors are 0, and so is every update they would make
            updates = {name: np.zeros_like(params[name]) for name in arch.trainable()}
        self.state = errors.state if rule.carry == "inferred" else prediction
        return StepResult(errors, updates, prediction)
