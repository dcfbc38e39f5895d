"""How kernels are compiled (``hwsim.kernels.jit``): numpy's error model, so that a loop with a
division vectorises and a division by zero gives what numpy gives."""

from __future__ import annotations

import math

import numpy as np

from hwsim.kernels import jit


def _divide(a: float, b: float) -> float:
    return a / b


def test_a_division_by_zero_gives_numpys_answer_not_an_exception() -> None:
    for decorator in (jit.entry, jit.record_entry):
        divide = decorator(_divide)
        assert divide(1.0, 0.0) == math.inf
        assert divide(-1.0, 0.0) == -math.inf
        assert math.isnan(divide(0.0, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        assert np.float64(1.0) / np.float64(0.0) == math.inf
