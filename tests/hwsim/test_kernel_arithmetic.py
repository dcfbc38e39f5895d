"""The compiled kernels' arithmetic follows the order ``compiler.op_semantics`` defines, to the
last bit: synaptic products column after column, lanes added in turn, tanh from expm1.
The conformance suite checks whole programs; these pin each primitive on its own, including
sparse event columns and accumulators that start from a previous sum."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from compiler.op_semantics import in_turn, ordered_matvec
from hwsim.encode import ACTIVATIONS
from hwsim.kernels import numeric, synapse
from neuropc.reference import activations

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False)
# inbox values: many exact zeros (columns without events) among finite values
inbox_value = st.one_of(st.just(0.0), st.just(-0.0), finite)


def by_the_rule(w: np.ndarray, x: np.ndarray, start: np.ndarray) -> np.ndarray:
    """The documented order, written as plainly as possible: each row from its start value,
    column 0, 1, 2 ... added in turn."""
    y = [float(v) for v in start]
    for r in range(w.shape[0]):
        for c in range(w.shape[1]):
            y[r] += float(w[r, c]) * float(x[c])
    return np.array(y)


def by_events(w: np.ndarray, x: np.ndarray, start: np.ndarray) -> np.ndarray:
    """The kernel's way: what each column adds (``synapse._events``, against a seen value of
    0), each column with an event added from the column-major copy (``numeric.axpy``)."""
    rows, cols = w.shape
    by_column = np.ascontiguousarray(w.T).ravel()
    nnz = (w != 0.0).sum(axis=0).astype(np.int64)
    values = np.full(cols, np.nan)
    seen = np.zeros(cols)
    listed = np.full(cols, -1, np.int64)
    events, _ = synapse._events(x, seen, nnz, False, values, listed)
    acc = start.copy()
    for c in range(cols):
        if values[c] != 0.0:
            numeric.axpy(acc, 0, values[c], by_column, c * rows, rows)
    assert np.array_equal(seen, x)
    assert events == np.count_nonzero(x)
    if synapse.BLOCKED * events < cols:  # a sparser lane's events, listed in column order
        assert listed[:events].tolist() == np.flatnonzero(x).tolist()
    return acc


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 4), st.integers(0, 9), st.data())
def test_synaptic_sums_follow_the_documented_order(rows: int, cols: int, data: st.DataObject) -> None:
    w = np.array(data.draw(st.lists(finite, min_size=rows * cols, max_size=rows * cols))).reshape(rows, cols)
    x = np.array(data.draw(st.lists(inbox_value, min_size=cols, max_size=cols)), dtype=np.float64)
    start = np.array(data.draw(st.lists(finite, min_size=rows, max_size=rows)))
    want = by_the_rule(w, x, start)
    assert np.array_equal(ordered_matvec(w, x, start=start), want)
    assert np.array_equal(by_events(w, x, start), want)
    assert np.array_equal(ordered_matvec(w, x), by_the_rule(w, x, np.zeros(rows)))


def test_the_order_is_observable() -> None:
    """A BLAS or four-partial-sum order gives other bits here, so the test above would catch
    a kernel that reassociated its sums."""
    w = np.array([[1.0, 1e-16, 1e-16, 1e-16, 1e-16]])
    x = np.ones(5)
    in_order = by_the_rule(w, x, np.zeros(1))[0]
    assert in_order == 1.0
    assert ordered_matvec(w, x)[0] == in_order != (1.0 + 1e-16) + (1e-16 + 1e-16) + 1e-16
    assert by_events(w, x, np.zeros(1))[0] == in_order


def test_skipping_zero_columns_changes_no_bit() -> None:
    """Columns without events add exact zeros: the sum from +0.0 is never -0.0, so adding a
    signed zero leaves it as it is."""
    w = np.array([[-3.0, 2.0, 5.0], [0.0, -1.0, 4.0]])
    x = np.array([0.0, -0.0, 0.0])
    assert np.array_equal(ordered_matvec(w, x), np.zeros(2))
    assert not np.signbit(ordered_matvec(w, x)).any()
    assert not np.signbit(by_events(w, x, np.zeros(2))).any()


def test_outer4x4_adds_lane_after_lane() -> None:
    rng = np.random.default_rng(3)
    acc = rng.normal(size=(4, 9)) * 1e3
    posts = [rng.normal(size=4) for _ in range(4)]
    pres = [rng.normal(size=9) * 10.0 ** rng.integers(-8, 8, size=9) for _ in range(4)]
    want = acc.copy()
    for p, q in zip(posts, pres, strict=True):
        want = want + np.outer(p, q)
    # one arena as the kernel has it: accumulator rows, then the post and pre vectors
    arena = np.concatenate([acc.ravel(), *posts, *pres])
    post_at = [36 + 4 * lane for lane in range(4)]
    pre_at = [52 + 9 * lane for lane in range(4)]
    numeric.outer4x4(arena, 0, 9, *post_at, *pre_at)
    assert np.array_equal(arena[:36].reshape(4, 9), want)
    row_by_row = np.concatenate([acc.ravel(), *posts, *pres])
    for lane in range(4):
        for r in range(4):
            numeric.axpy(row_by_row, 9 * r, posts[lane][r], row_by_row, pre_at[lane], 9)
    assert np.array_equal(row_by_row[:36].reshape(4, 9), want)


def test_in_turn_adds_elements_in_turn() -> None:
    values = np.array([[1.0, 1e-16, 1e-16, -1.0], [3.0, 0.5, 0.25, 0.125]])
    assert in_turn(values, axis=1).tolist() == [((1.0 + 1e-16) + 1e-16) + -1.0, 3.875]
    assert in_turn(np.zeros((2, 0)), axis=1).tolist() == [0.0, 0.0]


@pytest.mark.parametrize("scale", [1e-6, 1.0, 8.0, 40.0])
def test_tanh_is_one_formula_everywhere_and_close_to_the_library(scale: float) -> None:
    x = np.random.default_rng(0).normal(0.0, scale, 20_000)
    reference = activations.tanh(x)
    compiled = np.array([numeric.tanh(v) for v in x])
    assert np.array_equal(compiled, reference)
    library = np.array([math.tanh(v) for v in x])
    ulps = np.abs(reference - library) / np.spacing(np.abs(library))
    assert ulps.max() <= 3.0


def test_tanh_edges() -> None:
    x = np.array([0.0, 25.0, -25.0, np.inf, -np.inf])
    assert activations.tanh(x).tolist() == [0.0, 1.0, -1.0, 1.0, -1.0]
    assert np.isnan(activations.tanh(np.array([np.nan])))[0]
    assert [numeric.tanh(v) for v in x] == [0.0, 1.0, -1.0, 1.0, -1.0]


def test_four_columns_at_once_add_in_column_order() -> None:
    rng = np.random.default_rng(11)
    rows = 7
    columns = rng.normal(size=(4, rows)) * 10.0 ** rng.integers(-8, 8, size=(4, rows))
    values = np.array([0.5, 0.0, -3e-9, 2e7])  # one column without an event
    start = rng.normal(size=rows) * 1e3
    want = by_the_rule(columns.T, values, start)
    got = start.copy()
    numeric.axpy4(got, 0, *values, columns.ravel(), 0, rows, 2 * rows, 3 * rows, rows)
    assert np.array_equal(got, want)


def test_four_columns_anywhere_add_in_the_order_given() -> None:
    """A sparser lane's next four events: four columns wherever they lie in the weights."""
    rng = np.random.default_rng(13)
    rows = 5
    weights = rng.normal(size=(9, rows)) * 10.0 ** rng.integers(-8, 8, size=(9, rows))
    columns = [1, 4, 5, 8]
    values = np.array([2e7, -3e-9, 0.5, 1e-3])
    start = rng.normal(size=rows) * 1e3
    want = by_the_rule(weights[columns].T, values, start)
    got = start.copy()
    numeric.axpy4(got, 0, *values, weights.ravel(), *(c * rows for c in columns), rows)
    assert np.array_equal(got, want)


def test_two_lanes_at_once_add_as_each_lane_alone() -> None:
    """The synapse's lane pair: each lane's accumulator gets exactly what ``axpy4`` gives it
    alone (and so what the rule's column order gives), from one pass over the weights."""
    rng = np.random.default_rng(12)
    rows = 9
    columns = rng.normal(size=(4, rows)) * 10.0 ** rng.integers(-8, 8, size=(4, rows))
    first = np.array([0.5, 0.0, -3e-9, 2e7])
    second = np.array([-1e-3, 4.0, 0.0, 7e-12])
    arena = rng.normal(size=3 * rows) * 1e3  # lane 0 at 0, lane 1 at 2 rows: a gap between
    want = arena.copy()
    want[:rows] = by_the_rule(columns.T, first, arena[:rows])
    want[2 * rows:] = by_the_rule(columns.T, second, arena[2 * rows:])
    got = arena.copy()
    numeric.axpy4_pair(got, 0, 2 * rows, *first, *second, columns.ravel(), 0, rows)
    assert np.array_equal(got, want)
    alone = arena.copy()
    numeric.axpy4(alone, 2 * rows, *second, columns.ravel(), 0, rows, 2 * rows, 3 * rows, rows)
    assert np.array_equal(got[2 * rows:], alone[2 * rows:])


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_every_derivative_is_the_same_at_both_zeros(name: str) -> None:
    """The gate's memo (``hwsim.kernels.elementwise``) reuses a derivative for a point that
    compares equal, and +0.0 equals -0.0: their derivatives must have the same bits (and
    the reference's)."""
    plus, minus = _derivative(ACTIVATIONS[name], 0.0), _derivative(ACTIVATIONS[name], -0.0)
    assert np.float64(plus).tobytes() == np.float64(minus).tobytes()
    for zero in (0.0, -0.0):
        assert activations.derivative(name, np.array([zero]))[0].tobytes() == np.float64(plus).tobytes()


@njit(cache=False)
def _derivative(fn: int, x: float) -> float:
    return numeric.act_derivative(fn, x)
