"""The compiled kernels' arithmetic follows the order ``compiler.op_semantics`` defines, to the
last bit: synaptic dot products (four partial sums), lanes added in turn, tanh from expm1.
The conformance suite checks whole programs; these pin each primitive on its own, including
lengths that are not multiples of four and sparse (gathered) event columns."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.op_semantics import PARTIAL_SUMS, in_turn, ordered_matvec
from hwsim.kernels import numeric
from neuropc.reference import activations

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False)


def by_the_rule(w: np.ndarray, x: np.ndarray) -> float:
    """The documented order, written as plainly as possible."""
    partial = [0.0] * PARTIAL_SUMS
    for c in range(len(x)):
        partial[c % PARTIAL_SUMS] += float(w[c]) * float(x[c])
    return (partial[0] + partial[1]) + (partial[2] + partial[3])


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 13).flatmap(lambda n: st.tuples(st.lists(finite, min_size=n, max_size=n),
                                                      st.lists(finite, min_size=n, max_size=n))))
def test_dot_products_follow_the_documented_order(pair: tuple[list[float], list[float]]) -> None:
    w, x = (np.array(v, dtype=np.float64) for v in pair)
    want = by_the_rule(w, x)
    assert ordered_matvec(w[None, :], x)[0] == want
    assert numeric.dot(w, x) == want
    assert numeric.dot4(w, -w, 2 * w, w, x) == (want, by_the_rule(-w, x), by_the_rule(2 * w, x), want)
    cols = np.flatnonzero(x).astype(np.int64)
    assert numeric.gathered_dot(w, cols, x[cols]) == want


def test_dot_differs_from_a_plain_running_sum() -> None:
    """The order is observable: the test above would catch a kernel that summed in turn."""
    w = np.array([1.0, 1e-16, 1e-16, 1e-16, 1e-16])
    x = np.ones(5)
    running = 0.0
    for c in range(5):
        running += w[c] * x[c]
    assert numeric.dot(w, x) == by_the_rule(w, x) != running


def test_outer4x4_adds_lane_after_lane() -> None:
    rng = np.random.default_rng(3)
    acc = rng.normal(size=(4, 9)) * 1e3
    posts = [rng.normal(size=4) for _ in range(4)]
    pres = [rng.normal(size=9) * 10.0 ** rng.integers(-8, 8, size=9) for _ in range(4)]
    want = acc.copy()
    for p, q in zip(posts, pres, strict=True):
        want = want + np.outer(p, q)
    got = acc.copy()
    numeric.outer4x4(got[0], got[1], got[2], got[3], *posts, *pres)
    assert np.array_equal(got, want)


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
