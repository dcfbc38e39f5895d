"""Counter columns and work kinds as the kernels index them (``hwsim.counters``)."""

from __future__ import annotations

from hwsim.counters import FIELDS, WORK_KINDS
from hwsim.kernels.jit import inlined

SYN_D = FIELDS.index("synaptic_ops_dense")
SYN_E = FIELDS.index("synaptic_ops_effective")
NEURON = FIELDS.index("neuron_updates")
LW = FIELDS.index("learning_weight_updates")
LT = FIELDS.index("learning_trace_updates")
MSG = FIELDS.index("messages")
HOPS = FIELDS.index("hops")
MR = FIELDS.index("memory_reads")
MW = FIELDS.index("memory_writes")
FIELD_COUNT = len(FIELDS)

# work outside any program op: inbox writes at the receiver, host input writes, the
# sequence-start reset and the step-start restart of the error channels
DELIVER = WORK_KINDS.index("deliver")
HOST_INPUT = WORK_KINDS.index("host_input")
SEQUENCE_RESET = WORK_KINDS.index("sequence_reset")
STEP_RESET = WORK_KINDS.index("step_reset")
WORK_KIND_COUNT = len(WORK_KINDS)


@inlined
def charge(counts, op_counts, row, core, kind, field, n):
    """Add ``n`` to counter ``field`` of lane row ``row`` on ``core`` and of work ``kind``
    (``State.counts``, ``State.op_counts``). Callers pass the kind and field as constants, so
    as a kernel of its own numba compiled it once per pair of them (24 times); inlined, it is
    typed in each caller instead."""
    counts[row, core, field] += n
    op_counts[kind, field] += n
