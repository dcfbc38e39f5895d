"""Apply: the optimizer step on shared parameters from their accumulated descent direction
(scaled by the host's ``scale``); it clears the accumulator and is charged to the shared row
(``lanes``) of the counters."""

from __future__ import annotations

import numpy as np

from compiler.ops import OPS
from hwsim.kernels.counts import LW, MR, MW, charge
from hwsim.kernels.jit import kernel
from hwsim.kernels.tables import FLOAT_BETA1, FLOAT_BETA2, FLOAT_EPSILON, FLOAT_LR, slot

FAMILY = "apply"
IMPLEMENTS = ("apply_sgd", "apply_adam")

APPLY_SGD = OPS["apply_sgd"].code
APPLY_ADAM = OPS["apply_adam"].code
SGD_PARAM, SGD_ACC = slot("apply_sgd", "param"), slot("apply_sgd", "acc")
ADAM_PARAM, ADAM_ACC, ADAM_M, ADAM_V = (slot("apply_adam", r) for r in ("param", "acc", "m", "v"))


@kernel
def run(op, i, lanes, scale, count, tables, state):
    """Instruction ``i``; ``count`` is the optimizer step number (Adam's bias correction)."""
    buffers, ins = tables.buffers, tables.instructions
    mem = state.mem
    a = ins.slots[i]
    core = ins.core[i]
    sgd = op == APPLY_SGD
    p = a[SGD_PARAM] if sgd else a[ADAM_PARAM]
    q = a[SGD_ACC] if sgd else a[ADAM_ACC]
    n = buffers.size[p]
    param = mem[buffers.off[p]:buffers.off[p] + n]
    acc = mem[buffers.off[q]:buffers.off[q] + n]
    lr = ins.floats[i, FLOAT_LR]
    if sgd:
        for j in range(n):
            d = acc[j] * scale
            param[j] += lr * d
            acc[j] = 0.0
        charge(state.counts, state.op_counts, lanes, core, op, MR, n)
        charge(state.counts, state.op_counts, lanes, core, op, MW, n)
    else:
        b1, b2, eps = ins.floats[i, FLOAT_BETA1], ins.floats[i, FLOAT_BETA2], ins.floats[i, FLOAT_EPSILON]
        mo, vo = buffers.off[a[ADAM_M]], buffers.off[a[ADAM_V]]
        mm = mem[mo:mo + n]
        vv = mem[vo:vo + n]
        c1 = 1.0 - b1 ** np.float64(count)
        c2 = 1.0 - b2 ** np.float64(count)
        for j in range(n):
            d = acc[j] * scale
            m = mm[j] * b1 + (1.0 - b1) * d
            v = vv[j] * b2 + (1.0 - b2) * (d * d)
            mm[j] = m
            vv[j] = v
            param[j] += lr * (m / c1) / (np.sqrt(v / c2) + eps)
            acc[j] = 0.0
        charge(state.counts, state.op_counts, lanes, core, op, MR, 3 * n)
        charge(state.counts, state.op_counts, lanes, core, op, MW, 3 * n)
    charge(state.counts, state.op_counts, lanes, core, op, LW, n)
