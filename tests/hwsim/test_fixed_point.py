"""Fixed point: rounding (to nearest, ties to even), saturation, the range rule, and a
fixed-point engine whose every stored value lies on its buffer's grid."""

from __future__ import annotations

import math

import numpy as np
import pytest

from compiler.pipeline import compile_artifact as artifact_from_spec
from hwsim.engine import Engine
from hwsim.kernels import numeric
from hwsim.number_format import FixedFormat, fractional_bits, group_key, quantize
from hwsim.runner import calibrate, train_batch
from neuropc.tasks import task_from_spec
from tests.conformance.cases import tiny


def _kernel(values: np.ndarray, fmt: FixedFormat) -> np.ndarray:
    return np.array([numeric.quantize(float(v), fmt.scale, float(fmt.lo), float(fmt.hi))
                     for v in values])


def test_ties_round_to_even() -> None:
    whole = FixedFormat(bits=8, frac=0)
    values = np.array([0.5, 1.5, 2.5, 3.5, -0.5, -1.5, -2.5, 0.49999, 0.50001])
    want = np.array([0.0, 2.0, 2.0, 4.0, -0.0, -2.0, -2.0, 0.0, 1.0])
    np.testing.assert_array_equal(quantize(values, whole), want)
    np.testing.assert_array_equal(_kernel(values, whole), want)
    quarter = FixedFormat(bits=8, frac=2)  # steps of 0.25: ties at odd multiples of 0.125
    values = np.array([0.125, 0.375, 0.625, -0.125, -0.375, 1.1])
    want = np.array([0.0, 0.5, 0.5, -0.0, -0.5, 1.0])
    np.testing.assert_array_equal(quantize(values, quarter), want)
    np.testing.assert_array_equal(_kernel(values, quarter), want)


def test_saturation_at_the_twos_complement_range() -> None:
    fmt = FixedFormat(bits=8, frac=4)
    assert (fmt.lo, fmt.hi, fmt.step) == (-128, 127, 1 / 16)
    assert (fmt.min_value, fmt.max_value) == (-8.0, 127 / 16)
    values = np.array([100.0, -100.0, 7.96, -8.03, 7.9375, -8.0, np.inf, -np.inf])
    want = np.array([127 / 16, -8.0, 127 / 16, -8.0, 127 / 16, -8.0, 127 / 16, -8.0])
    np.testing.assert_array_equal(quantize(values, fmt), want)
    np.testing.assert_array_equal(_kernel(values, fmt), want)
    # a negative fractional count is a coarse grid (a scaled integer), still saturating
    coarse = FixedFormat(bits=4, frac=-2)
    np.testing.assert_array_equal(quantize(np.array([5.0, 6.0, 100.0, -100.0]), coarse),
                                  [4.0, 8.0, 28.0, -32.0])


def test_numpy_and_kernel_quantizers_agree_on_random_values() -> None:
    rng = np.random.default_rng(0)
    for bits, frac in [(8, 6), (16, 12), (24, 21), (8, 11), (16, -3)]:
        fmt = FixedFormat(bits, frac)
        values = rng.normal(scale=2.0 * fmt.max_value / 3, size=500)
        values[:50] = (rng.integers(-200, 200, 50) + 0.5) * fmt.step  # exact ties
        got = quantize(values, fmt)
        np.testing.assert_array_equal(got, _kernel(values, fmt))
        on_grid = got * fmt.scale
        np.testing.assert_array_equal(on_grid, np.round(on_grid))
        inside = np.abs(values) < fmt.max_value
        assert np.all(np.abs(got - values)[inside] <= fmt.step / 2)


@pytest.mark.parametrize("bits,max_abs,frac", [
    (16, 3.0, 12), (16, 0.75, 14), (16, 1.0, 14), (8, 0.2, 8), (8, 0.0, 7), (24, 40.0, 16),
    (16, 1e-3, 23),
])
def test_range_rule_leaves_one_bit_of_headroom(bits: int, max_abs: float, frac: int) -> None:
    assert fractional_bits(bits, max_abs) == frac
    fmt = FixedFormat(bits, frac)
    assert fmt.max_value >= 2 * max_abs - fmt.step
    if max_abs > 0:
        assert fmt.max_value < 4 * max_abs  # and not more than needed
    with pytest.raises(ValueError):
        fractional_bits(16, math.nan)


def test_fixed_point_engine_stores_every_value_on_its_grid() -> None:
    spec = tiny(batch=4, hidden=(5,), split=True, vocab=6)
    artifact = artifact_from_spec(spec)
    formats = calibrate(artifact, sequences=8)
    engine = Engine(artifact, 4, number_format="fixed", formats=formats)
    for core, buf in engine.enc.buffers:  # the calibration rule, with the table's widths
        fmt = formats[group_key(artifact.program.cores[core].layer, buf)]
        assert fmt.bits == buf.bits
    exact = Engine(artifact, 4)
    task = task_from_spec(spec.task)
    rng = np.random.default_rng(6)
    for _ in range(2):
        batch = task.sample(rng, 4)
        loss, _ = train_batch(engine, batch)
        loss_exact, _ = train_batch(exact, batch)
        assert np.isfinite(loss) and loss != loss_exact
    for core, buf in engine.enc.buffers:
        fmt = formats[group_key(artifact.program.cores[core].layer, buf)]
        values = engine.buffer(core, buf.name)
        steps = values * fmt.scale
        np.testing.assert_array_equal(steps, np.round(steps), err_msg=buf.name)
        assert steps.min() >= fmt.lo and steps.max() <= fmt.hi, buf.name
    params = engine.parameters()
    for name, value in params.items():  # feedback copies stay bit-identical to primaries
        if name.startswith("W"):
            np.testing.assert_array_equal(engine.gather("param", name, value.shape, copy=True),
                                          value)
    # 8-bit weights: few distinct levels; the exact engine's weights are not on that grid
    w = params["W0"]
    assert len(np.unique(w)) <= 256
    assert len(np.unique(exact.parameters()["W0"])) == w.size
