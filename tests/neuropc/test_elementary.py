"""The reference's elementary functions are the C library's, element for element, on every
machine (numpy's own vectorised exp, expm1 and log differ from it in the last bit on CPUs with
AVX-512, where the backends would then stop agreeing with the reference bit for bit)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neuropc import elementary

FUNCTIONS = [(elementary.exp, math.exp, 700.0), (elementary.expm1, math.expm1, 700.0),
             (elementary.log, math.log, None), (elementary.log1p, math.log1p, None), (elementary.cos, math.cos, 1e4),
             (elementary.sin, math.sin, 1e4)]


@pytest.mark.parametrize(("ours", "library", "bound"), FUNCTIONS, ids=lambda f: getattr(f, "__name__", ""))
@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), scale=st.sampled_from([1e-8, 1e-3, 1.0, 30.0]))
def test_every_element_is_the_c_librarys(ours, library, bound, seed: int, scale: float) -> None:
    x = np.random.default_rng(seed).normal(0.0, scale, 4096)
    x = np.abs(x) if bound is None else np.clip(x, -bound, bound)
    got = ours(x)
    assert got.dtype == np.float64 and got.shape == x.shape
    assert np.array_equal(got, [library(v) for v in x])


def test_edges_and_inputs_numpy_would_take() -> None:
    assert elementary.exp(np.array([-np.inf, 0.0, np.inf])).tolist() == [0.0, 1.0, np.inf]
    with np.errstate(invalid="ignore", divide="ignore"):  # numpy's warnings, numpy's values
        assert np.isnan(elementary.log(np.array([-1.0])))[0]
        assert elementary.log(np.array([0.0]))[0] == -np.inf
    assert elementary.exp(np.arange(3)).tolist() == [math.exp(k) for k in range(3)]  # ints cast
    assert elementary.exp(np.ones((2, 3))).shape == (2, 3)


def test_polar_is_magnitude_times_cos_and_sin() -> None:
    magnitude, angle = np.array([0.5, 2.0, 0.0]), np.array([0.3, -1.0, 4.0])
    z = elementary.polar(magnitude, angle)
    assert z.dtype == np.complex128
    assert z.real.tolist() == [m * math.cos(a) for m, a in zip(magnitude, angle, strict=True)]
    assert z.imag.tolist() == [m * math.sin(a) for m, a in zip(magnitude, angle, strict=True)]
