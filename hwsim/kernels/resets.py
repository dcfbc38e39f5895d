"""The engine's own bookkeeping outside any program op: the sequence-start reset, the
per-step restart of the error channels, and the tables derived from the parameters."""

from __future__ import annotations

import numpy as np

from hwsim.kernels.counts import MW, SEQUENCE_RESET, STEP_RESET, charge
from hwsim.kernels.jit import kernel, record_entry
from hwsim.kernels.tables import base


@record_entry
def refresh(tables, state):
    """After the weights or LRU parameters changed: LRU coefficients, per-column nonzero
    counts and the column-major copy of every matvec weight (the events of a synapse read
    whole columns), and every sigma-delta accumulator marked stale."""
    buffers, lru, accs = tables.buffers, tables.lru, tables.accumulators
    mem, ex, lre, lim = state.mem, state.exp, state.lam_re, state.lam_im
    stale, colnnz, by_column = state.stale, state.col_nonzero, state.by_column
    b_off, b_size = buffers.off, buffers.size
    for q in range(lru.nu.shape[0]):
        nuo, glo = b_off[lru.nu[q]], b_off[lru.gamma_log[q]]
        th = lru.theta[q]
        for j in range(b_size[lru.nu[q]]):
            decay = np.exp(mem[nuo + j])
            ex[nuo + j] = decay
            ex[glo + j] = np.exp(mem[glo + j])
            if th >= 0:
                rot = np.exp(mem[b_off[th] + j])
                ex[b_off[th] + j] = rot
                magnitude = np.exp(-decay)
                lre[nuo + j] = magnitude * np.cos(rot)
                lim[nuo + j] = magnitude * np.sin(rot)
            else:
                lre[nuo + j] = np.exp(-decay)
                lim[nuo + j] = 0.0
    for ac in range(accs.w.shape[0]):
        w = accs.w[ac]
        done = False
        for earlier in range(ac):  # a weight read by several accumulators, once
            done = done or accs.w[earlier] == w
        if done:
            continue
        rows, cols, wo, no = buffers.rows[w], buffers.cols[w], b_off[w], accs.w_nonzero[w]
        nnz = colnnz[no:no + cols]
        wt = by_column[accs.w_columns[w]:accs.w_columns[w] + rows * cols]
        for c in range(cols):
            nnz[c] = 0
        for r in range(rows):
            wrow = mem[wo + r * cols:wo + (r + 1) * cols]
            for c in range(cols):
                wt[c * rows + r] = wrow[c]
                if wrow[c] != 0.0:
                    nnz[c] += 1
    for j in range(stale.shape[0]):
        stale[j] = 1


@kernel
def _clear(first, end, tables, state, inboxes, errors_only, kind):
    """Zero ``inboxes``, the delta-coding references and the sigma-delta accumulators (all of
    them, or only the error channels' when ``errors_only``) of lanes ``first`` .. ``end`` - 1,
    counting the writes as ``kind``."""
    buffers, refs, accs = tables.buffers, tables.references, tables.accumulators
    mem, ref, sacc, xs = state.mem, state.ref, state.sums, state.seen
    for q in range(inboxes.shape[0]):
        k = inboxes[q]
        n = buffers.size[k]
        for b in range(first, end):
            o = base(buffers, k, b)
            box = mem[o:o + n]
            for j in range(n):
                box[j] = 0.0
            charge(state.counts, state.op_counts, b, buffers.core[k], kind, MW, n)
    for g in range(refs.off.shape[0]):
        if errors_only and refs.per_step[g] == 0:
            continue
        n = refs.length[g]
        block = ref[refs.off[g] + first * n:refs.off[g] + end * n]
        for j in range(block.shape[0]):
            block[j] = 0.0
        for b in range(first, end):
            charge(state.counts, state.op_counts, b, refs.core[g], kind, MW, n)
    for ac in range(accs.w.shape[0]):
        if errors_only and accs.per_step[ac] == 0:
            continue
        rows, cols = accs.rows[ac], accs.cols[ac]
        acc = sacc[accs.sums[ac] + first * rows:accs.sums[ac] + end * rows]
        for j in range(acc.shape[0]):
            acc[j] = 0.0
        seen = xs[accs.seen[ac] + first * cols:accs.seen[ac] + end * cols]
        for j in range(seen.shape[0]):
            seen[j] = 0.0
        for b in range(first, end):
            charge(state.counts, state.op_counts, b, buffers.core[accs.w[ac]], kind, MW, rows + cols)


@kernel
def sequence_reset(first, end, lanes, tables, state):
    """Sequence start for lanes ``first`` .. ``end`` - 1: zero inboxes, delta-coding
    references and sigma-delta accumulators, so that what a sequence costs does not depend on
    what ran before it."""
    _clear(first, end, tables, state, tables.inboxes.every, np.bool_(False), np.int64(SEQUENCE_RESET))
    stale = state.stale
    for ac in range(stale.shape[0] // lanes):
        for b in range(first, end):
            stale[ac * lanes + b] = 0


@kernel
def step_reset(first, end, tables, state):
    """Training step start, lanes ``first`` .. ``end`` - 1: error channels restart at 0 on
    both ends (``hwsim.encode.per_step_source`` says why), so no events are spent on carrying
    last step's errors back to 0. Their inboxes, delta references and the accumulators
    reading them are zeroed."""
    _clear(first, end, tables, state, tables.inboxes.per_step, np.bool_(True), np.int64(STEP_RESET))
