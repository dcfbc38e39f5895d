"""bench/machine.py's GEMM rate counts rows x inner x cols multiply-adds per product."""

from __future__ import annotations

import itertools
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from machine import gemm_rate  # noqa: E402


def test_gemm_rate_is_multiply_adds_per_second_of_the_timed_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """A clock that moves 1 s per reading: calibration stops at one product per run, the timed
    runs take four, so the rate is 4 x (2 x 3 x 5) multiply-adds per second."""
    clock = itertools.count()
    monkeypatch.setattr(time, "perf_counter", lambda: float(next(clock)))
    assert gemm_rate(2, 3, 5, np.float64) == pytest.approx(4 * 2 * 3 * 5 / 1e9)


def test_gemm_rate_on_this_machine_is_positive_for_both_formats() -> None:
    assert gemm_rate(4, 8, 8, np.float32, seconds=0.01) > 0
    assert gemm_rate(4, 8, 8, np.float64, seconds=0.01) > 0
