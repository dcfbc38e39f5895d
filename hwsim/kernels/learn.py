"""Readout learning: accumulate outer(post, pre) and vectors into the shared accumulators.

Every lane adds into the same accumulator, so the work is blocked for cache: four
accumulator rows stay in L1 while every lane adds to them, and lanes whose pre-synaptic
vector is at least a quarter nonzero go four at a time through ``numeric.outer4x4`` (each
pre value loaded once for four rows). Only nonzero pre columns and nonzero post rows are
learning work (adding 0 * pre changes no value), whichever way the kernel adds them;
dense mode counts every update.
"""

from __future__ import annotations

import numpy as np

from compiler.ops import OPS
from hwsim.kernels.counts import LW, charge
from hwsim.kernels.jit import inlined, kernel
from hwsim.kernels.numeric import axpy, outer4x4
from hwsim.kernels.tables import base, slot

FAMILY = "learn"
IMPLEMENTS = ("outer_accumulate", "accumulate")

OUTER_ACCUMULATE = OPS["outer_accumulate"].code
ACCUMULATE = OPS["accumulate"].code

O_POST, O_PRE, O_ACC = (slot("outer_accumulate", r) for r in ("post", "pre", "acc"))
A_X, A_ACC = slot("accumulate", "x"), slot("accumulate", "acc")


@inlined
def _wide(nonzero, cols):
    """Whether a lane whose pre vector has ``nonzero`` of ``cols`` values nonzero adds whole
    rows (its zero columns add exact zeros, cheaper than gathering the others); a sparser
    lane adds its listed nonzero columns only."""
    return 4 * nonzero >= cols


@kernel
def _outer_accumulate(i, lanes, dense, tables, state, scratch):
    buffers, a = tables.buffers, tables.instructions.slots[i]
    core = tables.instructions.core[i]
    mem, icol = state.mem, scratch.learn_cols
    nzc, active, po, qo = scratch.learn_nonzero, scratch.learn_rows, scratch.learn_post, scratch.learn_pre
    post, pre, acc = a[O_POST], a[O_PRE], a[O_ACC]
    rows, cols = buffers.rows[acc], buffers.cols[acc]
    ao = buffers.off[acc]
    width = icol.shape[0] // lanes
    for b in range(lanes):
        qo[b] = base(buffers, pre, b)
        po[b] = base(buffers, post, b)
        active[b] = 0
        q = mem[qo[b]:qo[b] + cols]
        k = cols
        if not dense:
            k = 0
            for c in range(cols):  # a count, which vectorises; the list only where it is used
                if q[c] != 0.0:
                    k += 1
        if not _wide(k, cols):  # listed only for a lane that adds its nonzero columns only
            k = 0
            for c in range(cols):
                if q[c] != 0.0:
                    icol[b * width + k] = c
                    k += 1
        nzc[b] = k
        # rows whose post value is nonzero do work (adding 0 * pre changes nothing)
        p = mem[po[b]:po[b] + rows]
        if k > 0:
            for r in range(rows):
                if dense or p[r] != 0.0:
                    active[b] += 1
        charge(state.counts, state.op_counts, b, core, OUTER_ACCUMULATE, LW, active[b] * k)
    # blocks of four accumulator rows stay in L1 while every lane, in lane order, adds to them
    for blk in range((rows + 3) // 4):
        _block(blk, lanes, ao, rows, cols, width, mem, po, qo, nzc, active, icol)


@kernel
def _block(blk, lanes, ao, rows, cols, width, mem, po, qo, nzc, active, icol):
    """Accumulator rows 4 blk .. 4 blk + 3, every lane in lane order: wide lanes (``_wide``)
    add whole rows, runs of four of them through outer4x4; a sparser lane adds its listed
    nonzero columns only."""
    r = 4 * blk
    block = min(4, rows - r)
    start = ao + r * cols
    run0 = run1 = run2 = np.int64(-1)  # typed, not literals: one specialisation of _flush
    n = np.int64(0)
    for b in range(lanes):
        if nzc[b] == 0 or active[b] == 0:
            continue
        wide = _wide(nzc[b], cols)
        if block == 4 and wide:
            if n == 3:
                outer4x4(mem, start, cols, po[run0] + r, po[run1] + r, po[run2] + r, po[b] + r,
                         qo[run0], qo[run1], qo[run2], qo[b])
                n = np.int64(0)
            else:
                if n == 0:
                    run0 = b
                elif n == 1:
                    run1 = b
                else:
                    run2 = b
                n += 1
            continue
        _flush(n, run0, run1, run2, mem, start, block, cols, r, po, qo, icol, width)
        n = np.int64(0)
        _add_lane(mem, start, block, cols, r, po[b], qo[b], icol, width, b, cols if wide else nzc[b])
    _flush(n, run0, run1, run2, mem, start, block, cols, r, po, qo, icol, width)


@kernel
def _flush(n, run0, run1, run2, mem, start, block, cols, r, po, qo, icol, width):
    """The first n pending wide lanes (run0, run1, run2), one after the other."""
    if n > 0:
        _add_lane(mem, start, block, cols, r, po[run0], qo[run0], icol, width, run0, cols)
    if n > 1:
        _add_lane(mem, start, block, cols, r, po[run1], qo[run1], icol, width, run1, cols)
    if n > 2:
        _add_lane(mem, start, block, cols, r, po[run2], qo[run2], icol, width, run2, cols)


@kernel
def _add_lane(mem, start, block, cols, r, post, pre, icol, width, b, k):
    """One lane into ``block`` accumulator rows: rows with a zero post value and zero pre
    columns (k of the cols are nonzero, listed in icol) would only add exact zeros."""
    for rr in range(block):
        pv = mem[post + r + rr]
        if pv == 0.0:
            continue
        row = start + rr * cols
        if k == cols:
            axpy(mem, row, pv, mem, pre, cols)
        else:
            for j in range(k):
                c = icol[b * width + j]
                mem[row + c] += pv * mem[pre + c]


@kernel
def _accumulate(i, lanes, dense, tables, state):
    buffers, a = tables.buffers, tables.instructions.slots[i]
    core = tables.instructions.core[i]
    mem = state.mem
    x, acc = a[A_X], a[A_ACC]
    n = buffers.size[acc]
    ao = buffers.off[acc]
    for b in range(lanes):
        xo = base(buffers, x, b)
        xv = mem[xo:xo + n]
        k = 0
        for j in range(n):
            if dense or xv[j] != 0.0:
                k += 1
        charge(state.counts, state.op_counts, b, core, ACCUMULATE, LW, k)
    for j in range(n):
        s = 0.0
        for b in range(lanes):
            s += mem[base(buffers, x, b) + j]
        mem[ao + j] += s


@kernel
def run(op, i, lanes, dense, tables, state, scratch):
    """Instruction ``i`` (a learn op) for every lane, into the shared accumulator."""
    if op == OUTER_ACCUMULATE:
        _outer_accumulate(i, lanes, dense, tables, state, scratch)
    else:  # ACCUMULATE
        _accumulate(i, lanes, dense, tables, state)
