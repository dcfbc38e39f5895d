"""The synapse kernel's lane groups give every lane exactly the documented sums
(``compiler.op_semantics.ordered_matvec`` over its changes, in column order), whichever way
the kernel adds a lane: blocks of four consecutive columns, two lanes at once, or a sparser
lane's listed events four at a time and the rest one by one; only the lanes of the worker's
range change; events and effective ops as the counters define them."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from compiler.op_semantics import ordered_matvec
from hwsim.kernels import synapse


@njit(cache=False)
def _run(lanes, first, end, dense, rows, cols, bias, mem, sums, seen, stale, by_column, nnz, values, listed,
         nonzero, events, effective):
    """``synapse.run``'s loop over lane groups, on one matvec laid out as below."""
    for g in range(first // synapse.GROUP, (end + synapse.GROUP - 1) // synapse.GROUP):
        synapse._group(g, lanes, first, end, dense, rows, cols, 0, cols, lanes * cols, rows, 0, 0, 0, 0, bias,
                       mem, sums, seen, stale, by_column, nnz, values, listed, nonzero, events, effective)


#: how many of a lane's columns change: none, a few, under half, half or more, all
DENSITIES = (0.0, 0.1, 0.3, 0.5, 0.8, 1.0)


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 9), cols=st.integers(0, 40), lanes=st.integers(1, 20), dense=st.booleans(),
       with_bias=st.booleans(), data=st.data())
def test_every_lane_gets_its_changes_in_column_order(rows: int, cols: int, lanes: int, dense: bool,
                                                     with_bias: bool, data: st.DataObject) -> None:
    first = data.draw(st.integers(0, lanes - 1))
    end = data.draw(st.integers(first + 1, lanes))
    densities = data.draw(st.lists(st.sampled_from(DENSITIES), min_size=lanes, max_size=lanes))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    w = rng.normal(size=(rows, cols)) * 10.0 ** rng.integers(-6, 6, size=(rows, cols))
    w[rng.random((rows, cols)) < 0.2] = 0.0  # some synapses absent: effective ops skip them
    seen = rng.normal(size=(lanes, cols))
    x = seen.copy()
    for b, density in enumerate(densities):
        changed = rng.permutation(cols)[:round(density * cols)]
        x[b, changed] += rng.normal(size=changed.size) * 10.0 ** rng.integers(-8, 4, size=changed.size)
    start = rng.normal(size=(lanes, rows)) * 1e3
    stale = (rng.random(lanes) < 0.2).astype(np.int64)
    bias = rng.normal(size=rows)
    # the arena: x of every lane, then y of every lane, then the bias
    mem = np.concatenate([x.ravel(), np.full(lanes * rows, np.nan), bias])
    got = dict(sums=start.ravel().copy(), seen=seen.ravel().copy(), stale=stale.copy())
    nnz = (w != 0.0).sum(axis=0).astype(np.int64)
    width = max(cols, 1)
    scratch = dict(values=np.full(lanes * width, np.nan), listed=np.full(lanes * width, -1, np.int64),
                   nonzero=np.full(lanes, -1, np.int64), events=np.full(lanes, -1, np.int64),
                   effective=np.full(lanes, -1, np.int64))
    _run(lanes, first, end, dense, rows, cols, lanes * (cols + rows) if with_bias else -1, mem, got["sums"],
         got["seen"], got["stale"], np.ascontiguousarray(w.T).ravel(), nnz, scratch["values"], scratch["listed"],
         scratch["nonzero"], scratch["events"], scratch["effective"])
    sums, ys = got["sums"].reshape(lanes, rows), mem[lanes * cols:lanes * (cols + rows)].reshape(lanes, rows)
    for b in range(lanes):
        if not first <= b < end:  # another worker's lane: untouched
            assert np.array_equal(sums[b], start[b]) and np.isnan(ys[b]).all()
            assert np.array_equal(got["seen"][b * cols:(b + 1) * cols], seen[b]) and got["stale"][b] == stale[b]
            continue
        recompute = dense or stale[b] != 0
        want = ordered_matvec(w, x[b]) if recompute else ordered_matvec(w, x[b] - seen[b], start=start[b])
        assert np.array_equal(sums[b], want), (b, densities[b])
        assert np.array_equal(ys[b], want + bias if with_bias else want)
        assert np.array_equal(got["seen"][b * cols:(b + 1) * cols], x[b]) and got["stale"][b] == 0
        adds = x[b] if recompute else x[b] - seen[b]
        assert scratch["events"][b] == (cols if recompute else np.count_nonzero(adds))
        assert scratch["effective"][b] == (rows * cols if dense else nnz[adds != 0.0].sum())
