"""Learning priced as the learning engine works: per-neuron traces as compartment work, an epoch."""

from __future__ import annotations

import pytest

from hwsim.counters import WorkCounts
from hwsim.learning_engine import engine_counts, scale_like

TOTAL = WorkCounts(neuron_updates=100, learning_weight_updates=1000, learning_trace_updates=300)
BY_OP = {"lru_trace": WorkCounts(learning_trace_updates=60),
         "lru_synapse_trace": WorkCounts(learning_trace_updates=240),
         "outer_accumulate": WorkCounts(learning_weight_updates=900),
         "apply_adam": WorkCounts(learning_weight_updates=100)}


def test_per_neuron_traces_become_neuron_updates_and_an_epoch_divides_the_per_step_products():
    assert engine_counts(TOTAL, BY_OP) == WorkCounts(neuron_updates=160, learning_weight_updates=1000,
                                                    learning_trace_updates=240)
    four = engine_counts(TOTAL, BY_OP, epoch=4)
    assert four.learning_weight_updates == 100 + 225  # the optimizer's updates stay, 900 products -> 225
    assert engine_counts(TOTAL, BY_OP, epoch=7).learning_weight_updates == 100 + 129  # ceil(900 / 7)
    assert engine_counts(TOTAL, {}, epoch=4) == TOTAL  # nothing to reprice without the op breakdown
    with pytest.raises(ValueError):
        engine_counts(TOTAL, BY_OP, epoch=0)


def test_per_core_counts_follow_the_totals_in_proportion():
    cores = (WorkCounts(neuron_updates=50, learning_weight_updates=750, learning_trace_updates=200),
             WorkCounts(neuron_updates=50, learning_weight_updates=250, learning_trace_updates=100))
    after = engine_counts(TOTAL, BY_OP, epoch=4)
    scaled = scale_like(cores, TOTAL, after)
    assert [c.neuron_updates for c in scaled] == [90, 70]  # the 60 moved traces, 2:1 like the cores' traces
    assert [c.learning_trace_updates for c in scaled] == [160, 80]
    assert [c.learning_weight_updates for c in scaled] == [244, 81]  # x 325/1000
