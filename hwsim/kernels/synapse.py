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
#: a lane with events in at least 1 / BLOCKED of the columns adds them in blocks of four
#: consecutive columns (``_blocked``); a sparser lane adds its listed events four at a time
BLOCKED = 2


@inlined
def _blocked(events, cols):
    """Whether a lane with ``events`` of ``cols`` columns adds blocks of four consecutive
    columns (those without an event add exact zeros) rather than its listed events."""
    return BLOCKED * events >= cols


@entry
def _events(xv, ref, nnz, recompute, values_out, columns_out):
    """What each column adds to a lane's accumulator, 0.0 for a column without an event, and
    the accumulator's seen values brought up to date. Recomputing: every column its value;
    else every column its change. Returns (nonzero columns, effective ops over them). Counted
    without a branch (under delta coding whether a column has an event is as good as random,
    and a mispredicted branch costs more than the work), in a loop that vectorises; only a
    lane that adds its listed events (``_blocked``) has them listed in column order in
    ``columns_out``, in a second pass (a list written in the first kept it from vectorising:
    the pass took three times as long)."""
    k = 0
    e = 0
    for c in range(xv.shape[0]):
        v = xv[c] if recompute else xv[c] - ref[c]
        ref[c] = xv[c]
        values_out[c] = v
        event = np.int64(v != 0.0)
        k += event
        e += event * nnz[c]
    if not _blocked(k, xv.shape[0]):
        j = 0
        for c in range(xv.shape[0]):
            columns_out[j] = c
            j += np.int64(values_out[c] != 0.0)
    return k, e


@inlined
def _four_columns(sums, so, values, o, by_column, wo, rows):
    """One lane's four consecutive columns from ``values[o]``, weights from ``by_column[wo]``."""
    axpy4(sums, so, values[o], values[o + 1], values[o + 2], values[o + 3],
          by_column, wo, wo + rows, wo + 2 * rows, wo + 3 * rows, rows)


@kernel
def _group(g, lanes, first_lane, end_lane, dense, rows, cols, x0, x_step, y0, y_step, sums0, seen0, stale0, wo, bias,
           mem, sums, seen, stale, by_column, nnz, values, listed, nonzero, events, effective):
    """Lanes g * GROUP .. g * GROUP + GROUP - 1 of one matvec, those of them from ``first_lane``
    to ``end_lane`` - 1 (arena offsets: see ``run``): their accumulators brought up to date
    and y written; events and effective synaptic ops per lane into ``events``/``effective``
    (counted by ``run``). Each lane adds its columns in column order, in one of two ways.
    A lane with events in at least half the columns (``_blocked``) adds blocks of four
    consecutive columns (``axpy4``; a column without an event adds exact zeros, which change
    no bit: the sum, built from +0.0, is never -0.0), column block by column block for every
    such lane of the group, so a block of weights is read from memory once for the group
    while it is in L1, and two such neighbouring lanes go together (``axpy4_pair``: each
    weight loaded once for both). A sparser lane adds only its events, listed in column
    order, four at a time (``axpy4`` on four columns wherever they are): each accumulator
    value is loaded and stored once per four events, and no column without an event is
    read. (Deciding per block of four columns whether a lane had events there, as an earlier
    kernel did, cost a mispredicted branch in about every other block under delta coding and
    added a whole block for two events: its time fell 1.2x for 3.3x fewer synaptic ops.)
    A group without a blocked lane skips the blocks altogether (the feedback matvecs, whose
    errors are zero on steps without loss)."""
    width = values.shape[0] // lanes
    first, last = max(first_lane, g * GROUP), min(end_lane, g * GROUP + GROUP)
    blocked = 0  # lanes of the group that add blocks of columns
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
        if _blocked(k, cols):
            blocked += 1
    if blocked > 0:
        full = cols - cols % 4
        for c in range(0, full, 4):  # four columns per pass over a lane's accumulator
            for b in range(first, last, 2):  # two lanes per pass over the weights
                o = b * width + c
                own = _blocked(nonzero[b], cols)
                other = b + 1 < last and _blocked(nonzero[b + 1], cols)
                if own and other:
                    axpy4_pair(sums, sums0 + b * rows, sums0 + (b + 1) * rows, values[o], values[o + 1],
                               values[o + 2], values[o + 3], values[o + width], values[o + width + 1],
                               values[o + width + 2], values[o + width + 3], by_column, wo + c * rows, rows)
                elif own:
                    _four_columns(sums, sums0 + b * rows, values, o, by_column, wo + c * rows, rows)
                elif other:
                    _four_columns(sums, sums0 + (b + 1) * rows, values, o + width, by_column, wo + c * rows, rows)
        for c in range(full, cols):
            for b in range(first, last):
                v = values[b * width + c]
                if v != 0.0 and _blocked(nonzero[b], cols):
                    axpy(sums, sums0 + b * rows, v, by_column, wo + c * rows, rows)
    for b in range(first, last):  # a sparser lane: its listed events, four at a time
        k = nonzero[b]
        if _blocked(k, cols):
            continue
        so, lo = sums0 + b * rows, b * width
        fours = k - k % 4
        for j in range(0, fours, 4):
            c0, c1, c2, c3 = listed[lo + j], listed[lo + j + 1], listed[lo + j + 2], listed[lo + j + 3]
            axpy4(sums, so, values[lo + c0], values[lo + c1], values[lo + c2], values[lo + c3],
                  by_column, wo + c0 * rows, wo + c1 * rows, wo + c2 * rows, wo + c3 * rows, rows)
        for j in range(fours, k):
            c = listed[lo + j]
            axpy(sums, so, values[lo + c], by_column, wo + c * rows, rows)
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
