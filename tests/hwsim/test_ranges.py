"""Range propagation: swings one constant at a time, exact extremes at the corners."""

from __future__ import annotations

import pytest

from hwsim.costs import parse_profile
from hwsim.ranges import range_text, span
from tests.approx import close

CHIP = """name: chip
kind: neuromorphic
constants:
  synaptic_op: {value: 10.0, low: 5.0, high: 20.0, unit: pJ, source: t, provenance: assumed}
  neuron_update: {value: 1.0, unit: pJ, source: t, provenance: assumed}
  learning_weight_update: {value: 2.0, low: 1.0, high: 3.0, unit: pJ, source: t, provenance: assumed}
  learning_trace_update: {value: 1.0, unit: pJ, source: t, provenance: assumed}
  message: {value: 1.0, unit: pJ, source: t, provenance: assumed}
  hop: {value: 1.0, unit: pJ, source: t, provenance: assumed}
  memory_read: {value: 1.0, unit: pJ, source: t, provenance: assumed}
  memory_write: {value: 1.0, unit: pJ, source: t, provenance: assumed}
"""
GPU = """base: cpu-45nm
name: gpu
constants:
  mac: {value: 4.0, low: 1.0, high: 8.0, unit: pJ, source: t, provenance: assumed}
"""


def test_a_ratio_spans_its_corners_and_names_the_constant_that_moves_it_most():
    chip, gpu = parse_profile(CHIP), parse_profile(GPU)

    def ratio(p):  # 100 MACs over (3 synops + 10 weight updates)
        return 100 * p["conventional"].joules("mac") / (3 * p["chip"].joules("synaptic_op")
                                                        + 10 * p["chip"].joules("learning_weight_update"))

    result = span(ratio, {"chip": chip, "conventional": gpu})
    assert result.value == close(400 / 50)
    assert result.low == close(100 / (60 + 30))  # mac low, chip constants high
    assert result.high == close(800 / (15 + 10))
    assert [(s.profile, s.key) for s in result.swings] == [
        ("gpu", "mac"), ("chip", "synaptic_op"), ("chip", "learning_weight_update")]  # widths 14, 6.4, 3.3
    top = result.driver
    assert (top.at_low, top.at_high) == (close(2.0), close(16.0))
    assert range_text(result) == "8x (1.11x-32x)"


def test_a_decreasing_dependence_takes_the_other_end_at_each_corner():
    gpu = parse_profile(GPU)
    result = span(lambda p: 1.0 / p["g"].joules("mac"), {"g": gpu})
    assert (result.low, result.high) == (close(1 / 8e-12), close(1 / 1e-12))


def test_a_constant_the_result_does_not_depend_on_drives_nothing():
    chip = parse_profile(CHIP)
    flat = span(lambda p: 1.0 + 0.0 * p["chip"].joules("synaptic_op"), {"chip": chip})
    assert [s.width for s in flat.swings] == [0.0, 0.0]  # synaptic_op and learning_weight_update have ranges
    assert flat.driver is None and flat.as_dict()["tornado"] == []
    one = span(lambda p: p["chip"].joules("synaptic_op") * 1e12, {"chip": chip})
    assert one.driver.key == "synaptic_op"
    assert [row["constant"] for row in one.as_dict()["tornado"]] == ["chip.synaptic_op"]


def test_a_range_must_hold_its_value():
    from neuropc.errors import NeuropcError

    with pytest.raises(NeuropcError, match="range must hold the value"):
        parse_profile(GPU.replace("low: 1.0", "low: 5.0"))
