"""What the approximate tPC-RTRL costs: its update against the BPTT gradient, and why.

The exact configuration (docs/algorithm.md, 'When tPC-RTRL equals BPTT') computes the BPTT
gradient. The paper's approximate mode drops some of its conditions: it carries the inferred
state, lets predictions move during inference, stops after finitely many iterations and
applies updates online. ``probe`` measures, for one batch at the current parameters:

- the cosine between the rule's summed update (parameters held fixed over the sequence, as
  the online updates sum to for a small learning rate) and the exact descent direction
  -dL/dp of BPTT, over all parameters and separately for the LRU and the readout, and the
  ratio of their norms;
- the inference residual: |dF_t/dx| over the value nodes when inference stops, relative to
  the output error that drove it (0 = converged);
- the state shift: |x^0 - mu^0| / |mu^0|, how far inference moved the LRU state away from
  its prediction (with ``carry: inferred`` that shift is carried into the next step, a state
  the feed-forward network never visits at deployment).

Every value is a ratio of sums over the loss-carrying (step, sequence) pairs of the batch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from neuropc.reference.bptt import bptt_updates
from neuropc.reference.network import Architecture, Params
from neuropc.reference.rules import sequence_updates
from neuropc.reference.step_errors import inference_residual
from neuropc.reference.temporal import StepResult
from neuropc.spec.schema import RuleSpec
from neuropc.tasks.base import SequenceBatch


@dataclass(frozen=True)
class Probe:
    """One measurement of a rule against BPTT (see the module docstring)."""

    cosine: float
    cosine_recurrent: float
    cosine_readout: float
    norm_ratio: float
    residual: float
    state_shift: float

    def as_row(self, prefix: str = "") -> dict[str, float]:
        return {f"{prefix}{key}": value for key, value in asdict(self).items()}


def cosine(a: dict[str, np.ndarray], b: dict[str, np.ndarray], names: list[str]) -> float:
    """Cosine between two updates restricted to ``names`` (NaN when either is zero there)."""
    x = np.concatenate([a[name].ravel() for name in names])
    y = np.concatenate([b[name].ravel() for name in names])
    norms = float(np.linalg.norm(x) * np.linalg.norm(y))
    return float(x @ y) / norms if norms > 0 else float("nan")


class _StepTotals:
    """Sums of the per-step inference measures over loss-carrying (step, sequence) pairs."""

    def __init__(self, arch: Architecture, params: Params) -> None:
        self.arch, self.params = arch, params
        self.residual = self.output_error = self.shift = self.prediction = 0.0

    def __call__(self, result: StepResult) -> None:
        errors = result.errors
        if errors.values is None or not errors.loss.any():
            return  # no inference ran (one-step backprop, or a step without loss)
        scored = errors.loss != 0
        self.residual += float(inference_residual(self.arch, self.params, errors)[scored].sum())
        self.output_error += float(np.linalg.norm(errors.eps[-1], axis=-1)[scored].sum())
        self.shift += float(np.linalg.norm(errors.state - result.prediction, axis=-1)[scored].sum())
        self.prediction += float(np.linalg.norm(result.prediction, axis=-1)[scored].sum())

    @staticmethod
    def ratio(top: float, bottom: float) -> float:
        return top / bottom if bottom > 0 else 0.0


def probe(arch: Architecture, rule: RuleSpec, params: Params, batch: SequenceBatch) -> Probe:
    """Measure ``rule`` against BPTT on ``batch`` at ``params`` (nothing is changed)."""
    exact, _ = bptt_updates(arch, params, batch)
    if rule.name == "bptt":
        totals, update = _StepTotals(arch, params), exact
    else:
        totals = _StepTotals(arch, params)
        update, _ = sequence_updates(arch, rule, params, batch, observe=totals)
    names = arch.trainable()
    recurrent = [name for name in names if name in arch.recurrent_names()]
    readout = [name for name in names if name not in recurrent]
    size = float(np.sqrt(sum(float((update[n] ** 2).sum()) for n in names)))
    reference = float(np.sqrt(sum(float((exact[n] ** 2).sum()) for n in names)))
    return Probe(
        cosine=cosine(update, exact, names),
        cosine_recurrent=cosine(update, exact, recurrent),
        cosine_readout=cosine(update, exact, readout),
        norm_ratio=size / reference if reference > 0 else float("nan"),
        residual=_StepTotals.ratio(totals.residual, totals.output_error),
        state_shift=_StepTotals.ratio(totals.shift, totals.prediction),
    )
