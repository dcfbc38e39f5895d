"""Counts of a made-up hwsim run, shared by the energy report's tests: round numbers, so every
priced line can be checked by hand."""

from __future__ import annotations

from hwsim.chip_time import ChipLayout
from hwsim.counters import WorkCounts
from hwsim.energy_sides import RunCounts
from neuropc.reference.network import Architecture
from neuropc.spec import NetworkSpec
from tests.conftest import small_spec

#: loihi2-estimate's time constants (ns): synaptic op, neuron update, learning update, message, barrier
T_SYN, T_NEURON, T_LEARN, T_MESSAGE, T_BARRIER = 3.5, 8.4, 6.1, 2.1, 113.0

COUNTS = WorkCounts(synaptic_ops_dense=1000, synaptic_ops_effective=400, neuron_updates=50,
                    learning_weight_updates=300, learning_trace_updates=200, messages=80, hops=160,
                    memory_reads=10, memory_writes=5)


def made_up_run(copy_spec: NetworkSpec) -> RunCounts:
    """8 training sequences of 9 steps at batch 4 on 2 cores (the first does three quarters of
    the work), one evaluation of 9 steps with COUNTS on one core."""
    arch = Architecture.from_spec(small_spec(copy_spec))
    layout = ChipLayout(cores=2, chips=1, stages_per_step=4, stages_per_sequence=2)
    return RunCounts(arch=arch, seq_len=9, batch=4, iterations=2, optimizer="adam", train=COUNTS.scale(8),
                     train_sequences=8, train_per_core=(COUNTS.scale(6), COUNTS.scale(2)),
                     train_batches=(COUNTS.scale(4), COUNTS.scale(4)), inference=COUNTS, inference_steps=9,
                     inference_per_core=(COUNTS,), train_layout=layout, inference_layout=layout,
                     core_layers=("lru", "output"), by_op={"matvec": COUNTS.scale(8)}, footprint_bytes=1234,
                     accuracy=0.5)
