"""Readout learning: accumulate outer(post, pre) and vectors into the shared accumulators.

Every lane adds into the same accumulator, so the work is blocked for cache: four
accumulator rows stay in L1 while every lane adds to them, and lanes whose pre-synaptic
vector has no zero go four at a time through ``numeric.outer4x4`` (each pre value loaded
once for four rows). Only nonzero pre columns and nonzero post rows are learning work
(adding 0 * pre changes nothing); dense mode counts every update.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from compiler.ops import OPS
from hwsim.kernels.counts import LW, charge
from hwsim.kernels.numeric import axpy, outer4x4
from hwsim.kernels.tables import base, slot

FAMILY = "learn"
IMPLEMENTS = ("outer_accumulate", "accumulate")

OUTER_ACCUMULATE = OPS["outer_accumulate"].code
ACCUMULATE = OPS["accumulate"].code

O_POST, O_PRE, O_ACC = (slot("outer_accumulate", r) for r in ("post", "pre", "acc"))
A_X, A_ACC = slot("accumulate", "x"), slot("accumulate", "acc")


@njit(cache=True)
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
        k = 0
        for c in range(cols):
            if dense or q[c] != 0.0:
                icol[b * width + k] = c
                k += 1
        nzc[b] = k
        # rows whose post value is nonzero do work (adding 0 * pre changes nothing)
        p = mem[po[b]:po[b] + rows]
        if k > 0:
            for r in range(rows):
                if dense or p[r] != 0.0:
                    active[b] += 1
        charge(state, b, core, OUTER_ACCUMULATE, LW, active[b] * k)
    # lanes whose pre-synaptic vector has no zero go four at a time through outer4x4
    # (their rows with a zero post value add exact zeros); the rest lane by lane below
    full = np.empty(lanes, np.int64)
    nfull = 0
    for b in range(lanes):
        if nzc[b] == cols and active[b] > 0:
            full[nfull] = b
            nfull += 1
    quads = nfull // 4 * 4
    in_quad = np.zeros(lanes, np.bool_)
    for f in range(quads):
        in_quad[full[f]] = True
    # blocks of four accumulator rows stay in L1 while every lane adds to them
    r = 0
    while r < rows:
        block = min(4, rows - r)
        start = ao + r * cols
        if block == 4:
            a0 = mem[start:start + cols]
            a1 = mem[start + cols:start + 2 * cols]
            a2 = mem[start + 2 * cols:start + 3 * cols]
            a3 = mem[start + 3 * cols:start + 4 * cols]
            for f in range(0, quads, 4):
                b0, b1, b2, b3 = full[f], full[f + 1], full[f + 2], full[f + 3]
                outer4x4(a0, a1, a2, a3,
                         mem[po[b0] + r:po[b0] + r + 4], mem[po[b1] + r:po[b1] + r + 4],
                         mem[po[b2] + r:po[b2] + r + 4], mem[po[b3] + r:po[b3] + r + 4],
                         mem[qo[b0]:qo[b0] + cols], mem[qo[b1]:qo[b1] + cols],
                         mem[qo[b2]:qo[b2] + cols], mem[qo[b3]:qo[b3] + cols])
        for b in range(lanes):
            k = nzc[b]
            if k == 0 or active[b] == 0:
                continue
            if block == 4 and in_quad[b]:
                continue  # done above
            silent = True
            for rr in range(block):
                if mem[po[b] + r + rr] != 0.0:
                    silent = False
            if silent:
                continue
            q = mem[qo[b]:qo[b] + cols]
            nz = icol[b * width:b * width + k]
            for rr in range(block):
                pv = mem[po[b] + r + rr]
                if pv == 0.0:
                    continue
                arow = mem[start + rr * cols:start + rr * cols + cols]
                if k == cols:
                    axpy(arow, pv, q)
                else:
                    for j in range(k):
                        arow[nz[j]] += pv * q[nz[j]]
        r += block


@njit(cache=True)
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
        charge(state, b, core, ACCUMULATE, LW, k)
    for j in range(n):
        s = 0.0
        for b in range(lanes):
            s += mem[base(buffers, x, b) + j]
        mem[ao + j] += s


@njit(cache=True)
def run(op, i, lanes, dense, tables, state, scratch):
    """Instruction ``i`` (a learn op) for every lane, into the shared accumulator."""
    if op == OUTER_ACCUMULATE:
        _outer_accumulate(i, lanes, dense, tables, state, scratch)
    else:  # ACCUMULATE
        _accumulate(i, lanes, dense, tables, state)
