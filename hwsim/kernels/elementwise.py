"""Elementwise neuron ops: one value per neuron in, one out, per lane (docs/compiler.md).

A gate keeps, per lane and value, the last point it took the activation's derivative at and
that derivative (``State.derivative_at``, ``derivative``), and takes it again only at a new
point: with fixed prediction the inference iterations gate at the same point, and the
derivative (GELU's through the C library's expm1, about 13 ns a value) was computed once per
iteration. The derivative is a function of the point alone, so the memo gives the bits the
computation gives; at +0.0 and -0.0, which compare equal, every activation's derivative is the
same (tested).
"""

from __future__ import annotations

from compiler.ops import OPS
from hwsim.kernels.counts import MW, NEURON, charge
from hwsim.kernels.jit import kernel
from hwsim.kernels.numeric import act_derivative, act_value
from hwsim.kernels.tables import FLOAT_STEP, INT_ACTIVATION, INT_DERIVATIVES, base, slot

FAMILY = "elementwise"
IMPLEMENTS = ("zero", "copy", "activate", "gate", "error", "relax")

ZERO = OPS["zero"].code
COPY = OPS["copy"].code
ACTIVATE = OPS["activate"].code
GATE = OPS["gate"].code
ERROR = OPS["error"].code
RELAX = OPS["relax"].code

ZERO_Y = slot("zero", "y")
COPY_X, COPY_Y = slot("copy", "x"), slot("copy", "y")
ACTIVATE_X, ACTIVATE_Y = slot("activate", "x"), slot("activate", "y")
GATE_X, GATE_POINT, GATE_Y = slot("gate", "x"), slot("gate", "point"), slot("gate", "y")
ERROR_VALUE, ERROR_PREDICTION, ERROR_EPS = (slot("error", "value"), slot("error", "prediction"),
                                            slot("error", "eps"))
RELAX_VALUE, RELAX_EPS, RELAX_DRIVE = slot("relax", "value"), slot("relax", "eps"), slot("relax", "drive")


@kernel
def run(op, i, first, end, tables, state):
    """Instruction ``i`` (an elementwise op) for lanes ``first`` .. ``end`` - 1; one neuron update per value
    (``zero``: one memory write per value)."""
    buffers, ins = tables.buffers, tables.instructions
    a = ins.slots[i]
    core = ins.core[i]
    mem = state.mem
    if op == ZERO:
        n = buffers.size[a[ZERO_Y]]
        for b in range(first, end):
            yo = base(buffers, a[ZERO_Y], b)
            y = mem[yo:yo + n]
            for j in range(n):
                y[j] = 0.0
            charge(state.counts, state.op_counts, b, core, op, MW, n)
        return
    for b in range(first, end):
        if op == COPY:
            n = buffers.size[a[COPY_X]]
            xo, yo = base(buffers, a[COPY_X], b), base(buffers, a[COPY_Y], b)
            x, y = mem[xo:xo + n], mem[yo:yo + n]
            for j in range(n):
                y[j] = x[j]
        elif op == ACTIVATE:
            n = buffers.size[a[ACTIVATE_X]]
            fn = ins.ints[i, INT_ACTIVATION]
            xo, yo = base(buffers, a[ACTIVATE_X], b), base(buffers, a[ACTIVATE_Y], b)
            x, y = mem[xo:xo + n], mem[yo:yo + n]
            for j in range(n):
                y[j] = act_value(fn, x[j])
        elif op == GATE:
            n = buffers.size[a[GATE_X]]
            fn = ins.ints[i, INT_ACTIVATION]
            xo, po, yo = (base(buffers, a[GATE_X], b), base(buffers, a[GATE_POINT], b),
                          base(buffers, a[GATE_Y], b))
            x, point, y = mem[xo:xo + n], mem[po:po + n], mem[yo:yo + n]
            mo = ins.ints[i, INT_DERIVATIVES] + b * n
            at, derivative = state.derivative_at[mo:mo + n], state.derivative[mo:mo + n]
            for j in range(n):  # no derivative needed where the gated value is 0
                if x[j] != 0.0:
                    p = point[j]
                    if p != at[j]:  # a new point (NaN never equals: computed each time)
                        at[j] = p
                        derivative[j] = act_derivative(fn, p)
                    y[j] = derivative[j] * x[j]
                else:
                    y[j] = 0.0
        elif op == ERROR:
            n = buffers.size[a[ERROR_VALUE]]
            vo, po, eo = (base(buffers, a[ERROR_VALUE], b), base(buffers, a[ERROR_PREDICTION], b),
                          base(buffers, a[ERROR_EPS], b))
            value, prediction, eps = mem[vo:vo + n], mem[po:po + n], mem[eo:eo + n]
            for j in range(n):
                eps[j] = value[j] - prediction[j]
        else:  # RELAX
            n = buffers.size[a[RELAX_VALUE]]
            step = ins.floats[i, FLOAT_STEP]
            vo, eo, do = (base(buffers, a[RELAX_VALUE], b), base(buffers, a[RELAX_EPS], b),
                          base(buffers, a[RELAX_DRIVE], b))
            value, eps, drive = mem[vo:vo + n], mem[eo:eo + n], mem[do:do + n]
            for j in range(n):
                value[j] = value[j] - step * (eps[j] - drive[j])
        charge(state.counts, state.op_counts, b, core, op, NEURON, n)
