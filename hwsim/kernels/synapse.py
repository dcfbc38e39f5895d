"""Synaptic accumulation: ``matvec`` driven by the events arriving in its inbox (sigma-delta).

A ``matvec`` whose input is an inbox keeps a hidden sigma-delta accumulator ``acc = W @ x_ref``
per lane and processes only the inbox columns that changed since its last execution
(``acc += W[:, c] * (x[c] - x_ref[c])``): the cost follows the events, not the layer size.
After the weights change (``State.stale``) it recomputes once, densely. Effective synaptic
ops count the nonzero weights of the changed columns (``State.col_nonzero``); dense synaptic
ops count every synapse. docs/hwsim.md states what every counter counts.

Blocking for cache: delta rows and recomputations go four weight rows at a time
(``numeric.dot4``/``dot4x2``), so a weight row is read once for all lanes of a pass.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from compiler.ops import OPS
from hwsim.kernels.counts import MR, MW, NEURON, SYN_D, SYN_E, charge
from hwsim.kernels.numeric import dot, dot4, dot4x2, gathered_dot, store4
from hwsim.kernels.tables import INT_ACCUMULATOR, base, slot

FAMILY = "synapse"
IMPLEMENTS = ("matvec",)

MATVEC = OPS["matvec"].code
M_W, M_X, M_BIAS, M_Y = (slot("matvec", r) for r in ("w", "x", "bias", "y"))
GATHERED, DELTA_ROW, RECOMPUTE = range(3)  # how a lane's accumulator is brought up to date


@njit(cache=True)
def run(i, lanes, dense, tables, state, scratch):
    """y = W @ x (+ bias) through the hidden accumulator of (W, x), for every lane.

    Pass 1 per lane: the columns whose inbox value differs from the value the accumulator
    last saw are the events. Few of them (up to 1/8 of the columns) are applied at once
    (gathered columns); more go into a dense delta row; a stale accumulator (weights changed)
    or dense mode asks for a full recomputation. Pass 2 does delta rows and recomputations
    four weight rows at a time, so a weight row is read once for all lanes. Pass 3 writes y
    and the counts.
    """
    buffers, ins, accs = tables.buffers, tables.instructions, tables.accumulators
    mem, sacc, xs, stale, colnnz = state.mem, state.sums, state.seen, state.stale, state.col_nonzero
    dd, dval, icol = scratch.delta_rows, scratch.gathered_deltas, scratch.gathered_cols
    mode, eff, events = scratch.matvec_mode, scratch.matvec_effective, scratch.matvec_events
    a = ins.slots[i]
    core = ins.core[i]
    w, x, bias, y = a[M_W], a[M_X], a[M_BIAS], a[M_Y]
    ac = ins.ints[i, INT_ACCUMULATOR]
    rows, cols = accs.rows[ac], accs.cols[ac]
    sums0, seen0 = accs.sums[ac], accs.seen[ac]
    wo = buffers.off[w]
    nnz = colnnz[accs.w_nonzero[w]:accs.w_nonzero[w] + cols]
    width = dd.shape[0] // lanes
    wide = False
    for b in range(lanes):
        xo = base(buffers, x, b)
        xv = mem[xo:xo + cols]
        so = sums0 + b * rows
        xso = seen0 + b * cols
        ref = xs[xso:xso + cols]
        row = dd[b * width:b * width + cols]
        dc = ac * lanes + b
        if dense or stale[dc] != 0:
            stale[dc] = 0
            e = 0
            for c in range(cols):
                ref[c] = xv[c]
                if xv[c] != 0.0:
                    e += nnz[c]
            eff[b] = rows * cols if dense else e
            events[b] = cols
            mode[b] = RECOMPUTE
            wide = True
            continue
        m = 0
        e = 0
        for c in range(cols):
            d = xv[c] - ref[c]
            row[c] = d
            ref[c] = xv[c]
            if d != 0.0:
                m += 1
                e += nnz[c]
        eff[b] = e
        events[b] = m
        mode[b] = GATHERED
        if 8 * m > cols:  # measured break-even of gathering against a dense delta row
            mode[b] = DELTA_ROW
            wide = True
        elif m > 0:
            k = 0
            for c in range(cols):
                if row[c] != 0.0:
                    icol[k] = c
                    dval[k] = row[c]
                    k += 1
            cl, dv = icol[:k], dval[:k]
            acc = sacc[so:so + rows]
            for r in range(rows):
                acc[r] += gathered_dot(mem[wo + r * cols:wo + r * cols + cols], cl, dv)
    if wide:
        _wide_pass(lanes, rows, cols, wo, sums0, seen0, width, mem, sacc, xs, dd, mode)
    extra = rows if bias >= 0 else 0
    bo = buffers.off[bias] if bias >= 0 else 0
    for b in range(lanes):
        so = sums0 + b * rows
        acc = sacc[so:so + rows]
        yo = base(buffers, y, b)
        out = mem[yo:yo + rows]
        if bias >= 0:
            bv = mem[bo:bo + rows]
            for r in range(rows):
                out[r] = acc[r] + bv[r]
        else:
            for r in range(rows):
                out[r] = acc[r]
        charge(state, b, core, MATVEC, SYN_D, rows * cols + extra)
        charge(state, b, core, MATVEC, SYN_E, eff[b] + extra)
        charge(state, b, core, MATVEC, NEURON, rows)
        charge(state, b, core, MATVEC, MR, 2 * events[b])
        charge(state, b, core, MATVEC, MW, events[b])


@njit(cache=True)
def _wide_pass(lanes, rows, cols, wo, sums0, seen0, width, mem, sacc, xs, dd, mode):
    """Pass 2: delta rows added (DELTA_ROW) and full recomputations (RECOMPUTE), four weight
    rows at a time and two lanes of the same mode per pass over them."""
    pairs = np.empty((2, lanes), np.int64)
    count = np.zeros(2, np.int64)
    for b in range(lanes):
        if mode[b] != GATHERED:
            pairs[mode[b] - 1, count[mode[b] - 1]] = b
            count[mode[b] - 1] += 1
    r = 0
    while r < rows:
        if r + 4 <= rows:
            w0 = mem[wo + r * cols:wo + (r + 1) * cols]
            w1 = mem[wo + (r + 1) * cols:wo + (r + 2) * cols]
            w2 = mem[wo + (r + 2) * cols:wo + (r + 3) * cols]
            w3 = mem[wo + (r + 3) * cols:wo + (r + 4) * cols]
            for m in range(2):  # m = 0: delta rows added; m = 1: full recomputation
                n = count[m]
                for f in range(0, n, 2):
                    b = pairs[m, f]
                    xb = (dd[b * width:b * width + cols] if m == 0
                          else xs[seen0 + b * cols:seen0 + (b + 1) * cols])
                    if f + 1 < n:
                        c = pairs[m, f + 1]
                        xc = (dd[c * width:c * width + cols] if m == 0
                              else xs[seen0 + c * cols:seen0 + (c + 1) * cols])
                        s0, s1, s2, s3, t0, t1, t2, t3 = dot4x2(w0, w1, w2, w3, xb, xc)
                        store4(sacc, sums0 + c * rows + r, t0, t1, t2, t3, m == 0)
                    else:
                        s0, s1, s2, s3 = dot4(w0, w1, w2, w3, xb)
                    store4(sacc, sums0 + b * rows + r, s0, s1, s2, s3, m == 0)
            r += 4
        else:
            wrow = mem[wo + r * cols:wo + (r + 1) * cols]
            for b in range(lanes):
                so = sums0 + b * rows + r
                if mode[b] == DELTA_ROW:
                    sacc[so] += dot(wrow, dd[b * width:b * width + cols])
                elif mode[b] == RECOMPUTE:
                    xso = seen0 + b * cols
                    sacc[so] = dot(wrow, xs[xso:xso + cols])
            r += 1
