"""Learning priced as a neuromorphic learning engine does it.

hwsim counts every learning update the program performs. Two of them map onto a learning
engine differently from a plain "synaptic update":

- per-neuron eligibility traces (``PER_NEURON_TRACE_OPS``: the LRU's lambda and gamma traces)
  live with their compartment, so they are compartment work (a neuron update), not a
  read-modify-write of a synapse;
- the per-step products ``acc += e x`` (``PER_STEP_PRODUCT_OPS``) are what a learning engine
  evaluates once per learning epoch. Exact tPC needs an epoch of 1 (every step). With an epoch
  of E > 1 the engine would approximate the sum of per-step products by a product of traces,
  once per E steps, at 1/E of the updates. hwsim runs the exact per-step products, so the
  accuracy of E > 1 is not measured here; reports that price E > 1 say so.

``engine_counts`` rewrites a run's counts accordingly; ``scale_like`` carries the same change
to per-core counts in proportion (the op breakdown is not kept per core).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace

from hwsim.counters import WorkCounts

PER_NEURON_TRACE_OPS = ("lru_trace",)
PER_STEP_PRODUCT_OPS = ("outer_accumulate",)


def engine_counts(counts: WorkCounts, by_op: Mapping[str, WorkCounts], epoch: int = 1) -> WorkCounts:
    """``counts`` with per-neuron traces as neuron updates and per-step products once per epoch."""
    if epoch < 1:
        raise ValueError(f"the learning epoch must be at least 1 step, got {epoch}")
    neuron_traces = sum(by_op[op].learning_trace_updates for op in PER_NEURON_TRACE_OPS if op in by_op)
    products = sum(by_op[op].learning_weight_updates for op in PER_STEP_PRODUCT_OPS if op in by_op)
    saved = products - math.ceil(products / epoch)
    return replace(counts, neuron_updates=counts.neuron_updates + neuron_traces,
                   learning_trace_updates=counts.learning_trace_updates - neuron_traces,
                   learning_weight_updates=counts.learning_weight_updates - saved)


def scale_like(parts: Sequence[WorkCounts], before: WorkCounts, after: WorkCounts) -> tuple[WorkCounts, ...]:
    """Per-core counts changed in the proportions ``before`` -> ``after`` changed the totals."""
    def ratio(name: str) -> float:
        old = getattr(before, name)
        return getattr(after, name) / old if old else 1.0

    moved = after.neuron_updates - before.neuron_updates
    traces = before.learning_trace_updates
    out = []
    for part in parts:
        share = part.learning_trace_updates / traces if traces else 0.0
        out.append(replace(part, neuron_updates=part.neuron_updates + round(moved * share),
                           learning_trace_updates=round(part.learning_trace_updates * ratio("learning_trace_updates")),
                           learning_weight_updates=round(part.learning_weight_updates
                                                         * ratio("learning_weight_updates"))))
    return tuple(out)
