"""Softmax and loss at the output layer: per-lane scalars (max, normaliser, loss) and the
output error. A softmax split over cores combines partial maxima and sums by messages; the
concat operands of ``max``/``log_sum`` are read from ``Instructions.list_ids``."""

from __future__ import annotations

import numpy as np

from compiler.ops import OPS
from hwsim.kernels.counts import NEURON, charge
from hwsim.kernels.jit import kernel
from hwsim.kernels.tables import FLOAT_OFFSET, INT_LIST_END, INT_LIST_FIRST, base, slot

FAMILY = "output"
IMPLEMENTS = ("max", "sum_exp", "log_sum", "xent_error", "xent_loss", "se_error", "se_loss")

MAX = OPS["max"].code
SUM_EXP = OPS["sum_exp"].code
LOG_SUM = OPS["log_sum"].code
XENT_ERROR = OPS["xent_error"].code
XENT_LOSS = OPS["xent_loss"].code
SE_ERROR = OPS["se_error"].code
SE_LOSS = OPS["se_loss"].code

MAX_Y, LOG_SUM_Y = slot("max", "y"), slot("log_sum", "y")
SUM_EXP_X, SUM_EXP_SHIFT, SUM_EXP_Y = (slot("sum_exp", r) for r in ("x", "shift", "y"))
X_LOGITS, X_SHIFT, X_LOGZ, X_TARGET, X_MASK = (
    slot("xent_error", r) for r in ("logits", "shift", "logz", "target", "mask"))
X_EPS, X_LOSS = slot("xent_error", "eps"), slot("xent_loss", "loss")
SE_PREDICTION, SE_TARGET, SE_MASK = (slot("se_error", r) for r in ("prediction", "target", "mask"))
SE_EPS, SE_LOSS_OUT = slot("se_error", "eps"), slot("se_loss", "loss")
for _name in ("xent_loss", "se_loss"):  # the loss ops read their operands where the error ops do
    _error = _name.replace("loss", "error")
    if any(slot(_name, r) != slot(_error, r) for r in OPS[_error].inputs):
        raise ValueError(f"{_name} and {_error} must share their input slots")


@kernel
def _reduce(op, i, first, end, tables, state):
    """max and log_sum over the concat list of buffers: one neuron update per lane."""
    buffers, ins = tables.buffers, tables.instructions
    mem = state.mem
    core = ins.core[i]
    y = ins.slots[i][MAX_Y] if op == MAX else ins.slots[i][LOG_SUM_Y]
    for b in range(first, end):
        if op == MAX:
            best = -np.inf
            for q in range(ins.ints[i, INT_LIST_FIRST], ins.ints[i, INT_LIST_END]):
                k = ins.list_ids[q]
                ko = base(buffers, k, b)
                for j in range(buffers.size[k]):
                    if mem[ko + j] > best:
                        best = mem[ko + j]
            mem[base(buffers, y, b)] = best
        else:
            total = 0.0
            for q in range(ins.ints[i, INT_LIST_FIRST], ins.ints[i, INT_LIST_END]):
                k = ins.list_ids[q]
                ko = base(buffers, k, b)
                for j in range(buffers.size[k]):
                    total += mem[ko + j]
            mem[base(buffers, y, b)] = np.log(total)
        charge(state.counts, state.op_counts, b, core, op, NEURON, 1)


@kernel
def _sum_exp(i, first, end, tables, state):
    buffers, a = tables.buffers, tables.instructions.slots[i]
    core = tables.instructions.core[i]
    mem = state.mem
    x, shift, y = a[SUM_EXP_X], a[SUM_EXP_SHIFT], a[SUM_EXP_Y]
    n = buffers.size[x]
    for b in range(first, end):
        xo, s = base(buffers, x, b), mem[base(buffers, shift, b)]
        total = 0.0
        for j in range(n):
            total += np.exp(mem[xo + j] - s)
        mem[base(buffers, y, b)] = total
        charge(state.counts, state.op_counts, b, core, SUM_EXP, NEURON, 1)


@kernel
def _cross_entropy(op, i, first, end, tables, state):
    buffers, ins = tables.buffers, tables.instructions
    a = ins.slots[i]
    core = ins.core[i]
    mem = state.mem
    lg, sh, lz, tg, mk = a[X_LOGITS], a[X_SHIFT], a[X_LOGZ], a[X_TARGET], a[X_MASK]
    out = a[X_EPS] if op == XENT_ERROR else a[X_LOSS]
    n = buffers.size[lg]
    offset = ins.floats[i, FLOAT_OFFSET]
    for b in range(first, end):
        lo = base(buffers, lg, b)
        shift, logz = mem[base(buffers, sh, b)], mem[base(buffers, lz, b)]
        mask = mem[base(buffers, mk, b)]
        k = int(mem[base(buffers, tg, b)] - offset)
        oo = base(buffers, out, b)
        if op == XENT_ERROR:
            for j in range(n):
                onehot = 1.0 if j == k else 0.0
                mem[oo + j] = (onehot - np.exp((mem[lo + j] - shift) - logz)) * mask
            charge(state.counts, state.op_counts, b, core, op, NEURON, n)
        else:
            if 0 <= k < n:
                mem[oo] = -((mem[lo + k] - shift) - logz) * mask
            else:
                mem[oo] = 0.0
            charge(state.counts, state.op_counts, b, core, op, NEURON, 1)


@kernel
def _squared_error(op, i, first, end, tables, state):
    buffers, a = tables.buffers, tables.instructions.slots[i]
    core = tables.instructions.core[i]
    mem = state.mem
    pr, tg, mk = a[SE_PREDICTION], a[SE_TARGET], a[SE_MASK]
    out = a[SE_EPS] if op == SE_ERROR else a[SE_LOSS_OUT]
    n = buffers.size[pr]
    for b in range(first, end):
        po, to, oo = base(buffers, pr, b), base(buffers, tg, b), base(buffers, out, b)
        mask = mem[base(buffers, mk, b)]
        if op == SE_ERROR:
            for j in range(n):
                mem[oo + j] = -(mem[po + j] - mem[to + j]) * mask
            charge(state.counts, state.op_counts, b, core, op, NEURON, n)
        else:
            total = 0.0
            for j in range(n):
                diff = mem[po + j] - mem[to + j]
                total += diff * diff
            mem[oo] = 0.5 * total * mask
            charge(state.counts, state.op_counts, b, core, op, NEURON, 1)


@kernel
def run(op, i, first, end, tables, state):
    """Instruction ``i`` (an output op) for lanes ``first`` .. ``end`` - 1."""
    if op == MAX or op == LOG_SUM:
        _reduce(op, i, first, end, tables, state)
    elif op == SUM_EXP:
        _sum_exp(i, first, end, tables, state)
    elif op == XENT_ERROR or op == XENT_LOSS:
        _cross_entropy(op, i, first, end, tables, state)
    else:  # SE_ERROR, SE_LOSS
        _squared_error(op, i, first, end, tables, state)
