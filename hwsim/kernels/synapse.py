"""Synaptic accumulation: ``matvec`` driven by the events arriving in its inbox (sigma-delta).

A ``matvec`` whose input is an inbox keeps a hidden sigma-delta accumulator ``acc = W @ x_ref``
per lane and processes only the inbox columns that changed since its last execution: each
adds its column of weights times its change, ``acc += W[:, c] * (x[c] - x_ref[c])``, in
column order (``compiler.op_semantics.ordered_matvec``). After the weights change
(``State.stale``) it recomputes once from 0.0 over the nonzero columns. Effective synaptic
ops count the nonzero weights of the changed columns (``State.col_nonzero``); dense synaptic
ops count every synapse. docs/hwsim.md states what every counter counts.

The cost follows the events: a lane with no changed column does no synaptic work, and each
event reads one contiguous column of the weights' column-major copy (``State.by_column``),
an update over rows that vectorises with no sum to reassociate.
"""

from __future__ import annotations

from numba import njit

from compiler.ops import OPS
from hwsim.kernels.counts import MR, MW, NEURON, SYN_D, SYN_E, charge
from hwsim.kernels.numeric import axpy
from hwsim.kernels.tables import INT_ACCUMULATOR, base, slot

FAMILY = "synapse"
IMPLEMENTS = ("matvec",)

MATVEC = OPS["matvec"].code
M_W, M_X, M_BIAS, M_Y = (slot("matvec", r) for r in ("w", "x", "bias", "y"))


@njit(cache=True)
def _events(xv, ref, nnz, recompute, cols_out, values_out):
    """The columns lane's accumulator must add and what each adds, in column order; the
    accumulator's seen values brought up to date. Recomputing: every nonzero column with its
    value; else every changed column with its change. Returns (how many, effective ops)."""
    k = 0
    e = 0
    for c in range(xv.shape[0]):
        v = xv[c] if recompute else xv[c] - ref[c]
        ref[c] = xv[c]
        if v != 0.0:
            cols_out[k] = c
            values_out[k] = v
            k += 1
            e += nnz[c]
    return k, e


@njit(cache=True)
def run(i, lanes, dense, tables, state, scratch):
    """y = W @ x (+ bias) through the hidden accumulator of (W, x), for every lane."""
    buffers, ins, accs = tables.buffers, tables.instructions, tables.accumulators
    mem, sacc, xs, stale, colnnz = state.mem, state.sums, state.seen, state.stale, state.col_nonzero
    a = ins.slots[i]
    core = ins.core[i]
    w, x, bias, y = a[M_W], a[M_X], a[M_BIAS], a[M_Y]
    ac = ins.ints[i, INT_ACCUMULATOR]
    rows, cols = accs.rows[ac], accs.cols[ac]
    by_column, wo = state.by_column, accs.w_columns[w]
    nnz = colnnz[accs.w_nonzero[w]:accs.w_nonzero[w] + cols]
    width = scratch.event_cols.shape[0] // lanes
    extra = rows if bias >= 0 else 0
    bo = buffers.off[bias] if bias >= 0 else 0
    for b in range(lanes):
        xo = base(buffers, x, b)
        so = accs.sums[ac] + b * rows
        xso = accs.seen[ac] + b * cols
        acc = sacc[so:so + rows]
        dc = ac * lanes + b
        recompute = dense or stale[dc] != 0
        ecols = scratch.event_cols[b * width:b * width + cols]
        evals = scratch.event_values[b * width:b * width + cols]
        k, e = _events(mem[xo:xo + cols], xs[xso:xso + cols], nnz, recompute, ecols, evals)
        if recompute:
            stale[dc] = 0
            for r in range(rows):
                acc[r] = 0.0
        for j in range(k):
            axpy(sacc, so, evals[j], by_column, wo + ecols[j] * rows, rows)
        yo = base(buffers, y, b)
        out = mem[yo:yo + rows]
        if bias >= 0:
            for r in range(rows):
                out[r] = acc[r] + mem[bo + r]
        else:
            for r in range(rows):
                out[r] = acc[r]
        events = cols if recompute else k
        charge(state, b, core, MATVEC, SYN_D, rows * cols + extra)
        charge(state, b, core, MATVEC, SYN_E, (rows * cols if dense else e) + extra)
        charge(state, b, core, MATVEC, NEURON, rows)
        charge(state, b, core, MATVEC, MR, 2 * events)
        charge(state, b, core, MATVEC, MW, events)
