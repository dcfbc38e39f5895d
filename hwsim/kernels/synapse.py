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

import numpy as np

from compiler.ops import OPS
from hwsim.kernels.counts import MR, MW, NEURON, SYN_D, SYN_E, charge
from hwsim.kernels.jit import entry, inlined, kernel
from hwsim.kernels.numeric import axpy, axpy4, axpy4_pair
from hwsim.kernels.tables import INT_ACCUMULATOR, base, slot

FAMILY = "synapse"
IMPLEMENTS = ("matvec",)

MATVEC = OPS["matvec"].code
M_W, M_X, M_BIAS, M_Y = (slot("matvec", r) for r in ("w", "x", "bias", "y"))
#: lanes whose accumulators take a weight column in turn while it is in L1
GROUP = 8
#: a lane with events in at most 1 / SPARSE of the columns adds them one by one (``_sparse``)
SPARSE = 4


@inlined
def _sparse(events, cols):
    """Whether a lane with ``events`` of ``cols`` columns goes through its events one by one."""
    return SPARSE * events <= cols


@entry
def _events(xv, ref, nnz, recompute, values_out, columns_out):
    """What each column adds to a lane's accumulator, 0.0 for a column without an event, and
    the accumulator's seen values brought up to date. Recomputing: every column its value;
    else every column its change. Returns (nonzero columns, effective ops over them). Counted
    without a branch (under delta coding whether a column has an event is as good as random,
    and a mispredicted branch costs more than the work), in a loop that vectorises; only a
    sparse lane, which goes through its events one by one (``SPARSE``), has them listed in
    column order in ``columns_out``, in a second pass (a list written in the first kept it
    from vectorising: the pass took three times as long)."""
    k = 0
    e = 0
    for c in range(xv.shape[0]):
        v = xv[c] if recompute else xv[c] - ref[c]
        ref[c] = xv[c]
        values_out[c] = v
        event = np.int64(v != 0.0)
        k += event
        e += event * nnz[c]
    if _sparse(k, xv.shape[0]):
        j = 0
        for c in range(xv.shape[0]):
            columns_out[j] = c
            j += np.int64(values_out[c] != 0.0)
    return k, e


@inlined
def _count4(values, o):
    """Events among the four columns at ``values[o]``."""
    return ((values[o] != 0.0) + (values[o + 1] != 0.0)) + ((values[o + 2] != 0.0) + (values[o + 3] != 0.0))


@inlined
def _lane4(events, sums, so, values, o, by_column, wo, rows):
    """One lane's ``events`` events among four columns: a lone event adds its one column
    (a quarter of the loads of four), more add all four (the others add exact zeros)."""
    if events == 1:
        for k in range(4):
            if values[o + k] != 0.0:
                axpy(sums, so, values[o + k], by_column, wo + k * rows, rows)
    elif events > 1:
        axpy4(sums, so, values[o], values[o + 1], values[o + 2], values[o + 3], by_column, wo, rows)


@kernel
def _group(g, lanes, first_lane, end_lane, dense, rows, cols, x0, x_step, y0, y_step, sums0, seen0, stale0, wo, bias,
           mem, sums, seen, stale, by_column, nnz, values, listed, nonzero, events, effective):
    """Lanes g * GROUP .. g * GROUP + GROUP - 1 of one matvec, those of them from ``first_lane``
    to ``end_lane`` - 1 (arena offsets: see ``run``):
    their accumulators brought up to date and y written; events and effective synaptic ops
    per lane into ``events``/``effective`` (counted by ``run``). Column by column, every lane
    of the group with an event there adds it, so a weight column is read from memory once
    for the group and the group's accumulators stay in L1; each lane still adds its columns
    in column order. Columns go four at a time (``axpy4``) for a lane with an event among
    them: a column without one adds exact zeros, which change no bit (the sum, built from
    +0.0, is never -0.0). Neighbouring lanes that both have two or more go together
    (``axpy4_pair``), so each weight is loaded once for the two; a lane with a lone event
    among the four adds that column only, and a lane without one does no work. A sparse lane
    (events in at most a quarter of the columns) skips the blocks of four and adds its listed
    event columns one by one: deciding block by block where events fall as good as randomly
    cost a mispredicted branch in about every other block, so its time did not fall with
    its events."""
    width = values.shape[0] // lanes
    first, last = max(first_lane, g * GROUP), min(end_lane, g * GROUP + GROUP)
    for b in range(first, last):
        xo = x0 + b * x_step
        xso = seen0 + b * cols
        so = sums0 + b * rows
        recompute = dense or stale[stale0 + b] != 0
        k, e = _events(mem[xo:xo + cols], seen[xso:xso + cols], nnz, recompute,
                       values[b * width:b * width + cols], listed[b * width:b * width + cols])
        if recompute:
            stale[stale0 + b] = 0
            for r in range(rows):
                sums[so + r] = 0.0
        nonzero[b] = k
        events[b] = cols if recompute else k
        effective[b] = rows * cols if dense else e
    full = cols - cols % 4
    for c in range(0, full, 4):  # four columns per pass over a lane's accumulator
        for b in range(first, last, 2):  # two lanes per pass over the weights
            o = b * width + c
            # the columns without an event add exact zeros; a sparse lane goes below
            own = 0 if _sparse(nonzero[b], cols) else _count4(values, o)
            other = 0 if b + 1 >= last or _sparse(nonzero[b + 1], cols) else _count4(values, o + width)
            if own > 1 and other > 1:
                axpy4_pair(sums, sums0 + b * rows, sums0 + (b + 1) * rows, values[o], values[o + 1],
                           values[o + 2], values[o + 3], values[o + width], values[o + width + 1],
                           values[o + width + 2], values[o + width + 3], by_column, wo + c * rows, rows)
            else:
                _lane4(own, sums, sums0 + b * rows, values, o, by_column, wo + c * rows, rows)
                _lane4(other, sums, sums0 + (b + 1) * rows, values, o + width, by_column, wo + c * rows, rows)
    for c in range(full, cols):
        for b in range(first, last):
            v = values[b * width + c]
            if v != 0.0 and not _sparse(nonzero[b], cols):
                axpy(sums, sums0 + b * rows, v, by_column, wo + c * rows, rows)
    for b in range(first, last):  # a sparse lane: its events one by one, in column order
        if _sparse(nonzero[b], cols):
            for j in range(nonzero[b]):
                c = listed[b * width + j]
                axpy(sums, sums0 + b * rows, values[b * width + c], by_column, wo + c * rows, rows)
    for b in range(first, last):
        so = sums0 + b * rows
        yo = y0 + b * y_step
        if bias >= 0:
            for r in range(rows):
                mem[yo + r] = sums[so + r] + mem[bias + r]
        else:
            for r in range(rows):
                mem[yo + r] = sums[so + r]


@kernel
def run(i, first, end, lanes, dense, tables, state, scratch):
    """y = W @ x (+ bias) through the hidden accumulator of (W, x), for lanes ``first`` ..
    ``end`` - 1 of ``lanes`` (which lay out the stale flags and the scratch arrays)."""
    buffers, accs, ins = tables.buffers, tables.accumulators, tables.instructions
    a = ins.slots[i]
    w, x, bias, y = a[M_W], a[M_X], a[M_BIAS], a[M_Y]
    ac = ins.ints[i, INT_ACCUMULATOR]
    rows, cols = accs.rows[ac], accs.cols[ac]
    # the arena offsets of lane 0 and the strides per lane: x, y, sums, seen values, stale
    # flags; the column-major weights and the bias (-1 if none)
    x0, x_step = base(buffers, x, 0), buffers.size[x] * buffers.lane[x]
    y0, y_step = base(buffers, y, 0), buffers.size[y] * buffers.lane[y]
    sums0, seen0, stale0, wo = accs.sums[ac], accs.seen[ac], ac * lanes, accs.w_columns[w]
    bo = buffers.off[bias] if bias >= 0 else -1
    nnz = state.col_nonzero[accs.w_nonzero[w]:accs.w_nonzero[w] + cols]
    for g in range(first // GROUP, (end + GROUP - 1) // GROUP):
        _group(g, lanes, first, end, dense, rows, cols, x0, x_step, y0, y_step, sums0, seen0, stale0, wo, bo,
               state.mem, state.sums, state.seen, state.stale, state.by_column, nnz,
               scratch.event_values, scratch.event_columns, scratch.matvec_nonzero, scratch.matvec_events,
               scratch.matvec_effective)
    core = ins.core[i]
    extra = rows if bias >= 0 else 0
    for b in range(first, end):
        events = scratch.matvec_events[b]
        charge(state.counts, state.op_counts, b, core, MATVEC, SYN_D, rows * cols + extra)
        charge(state.counts, state.op_counts, b, core, MATVEC, SYN_E, scratch.matvec_effective[b] + extra)
        charge(state.counts, state.op_counts, b, core, MATVEC, NEURON, rows)
        charge(state.counts, state.op_counts, b, core, MATVEC, MR, 2 * events)
        charge(state.counts, state.op_counts, b, core, MATVEC, MW, events)
