"""A profile prices only programs compiled for its own target; everything else is flagged."""

from __future__ import annotations

import pytest

from hwsim.costs import load_profile
from hwsim.feasibility import check_target, feasibility_flags
from neuropc.errors import NeuropcError

LOIHI2 = {"name": "loihi2", "constants": {"weight_bits": {"value": 8}, "trace_bits": {"value": 8},
                                          "accumulator_bits": {"value": 16}, "optimizer_adam": {"value": 1}}}
LOIHI = {"name": "loihi", "constants": {"optimizer_adam": {"value": 0}, "weight_bits": {"value": 8}}}


def test_a_loihi_1_profile_is_refused_for_a_loihi_2_program():
    with pytest.raises(NeuropcError, match="must come from a loihi compile"):
        check_target(load_profile("loihi"), LOIHI2)
    with pytest.raises(NeuropcError, match="--target loihi"):
        check_target(load_profile("loihi-sanafe"), LOIHI2)
    check_target(load_profile("loihi2-estimate"), LOIHI2)
    check_target(load_profile("loihi"), LOIHI)


def test_flags_name_unavailable_optimizers_float_counts_and_compiler_warnings():
    flags = feasibility_flags(load_profile("loihi"), LOIHI2, "adam", "float64", ["spikes are binary"])
    assert flags[0] == "compiler: spikes are binary"
    assert "loihi prices --target loihi programs; this one was compiled for loihi2" in flags
    assert any("counts come from a float64 run; loihi2 holds weight 8 bits, trace 8 bits, accumulator 16 bits"
               in flag for flag in flags)
    adam = feasibility_flags(load_profile("loihi"), LOIHI, "adam", "fixed")
    assert adam == ["optimizer adam is not available on loihi (the target table says 0)"]
