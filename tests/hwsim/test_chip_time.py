"""The chip's time model and the static energy it charges, against hand-computed cases."""

from __future__ import annotations

import pytest

from hwsim.chip_time import ChipLayout, chip_time, core_step_seconds
from hwsim.costs import load_profile, parse_profile
from hwsim.counters import WorkCounts
from tests.approx import close

NS = 1e-9


def test_a_cores_time_is_the_sum_of_its_events_latencies():
    loihi = load_profile("loihi")  # Davies et al. 2018 Table 2: 3.5, 8.4, 6.1, 2.1 ns; memory overlapped (0)
    counts = WorkCounts(synaptic_ops_dense=200, synaptic_ops_effective=100, neuron_updates=10,
                        learning_weight_updates=20, learning_trace_updates=5, messages=3, hops=99,
                        memory_reads=7, memory_writes=7)
    expected = (100 * 3.5 + 10 * 8.4 + 25 * 6.1 + 3 * 2.1) * NS  # hops travel in the network: no core time
    assert core_step_seconds(counts, loihi) == close(expected)


def test_step_time_is_the_busiest_core_plus_a_barrier_per_stage_and_static_is_power_times_time():
    loihi = load_profile("loihi")
    # two cores over 4 sequences of 5 steps: per step core 0 does 10 synops, core 1 does 2 neuron updates
    per_core = (WorkCounts(synaptic_ops_dense=200, synaptic_ops_effective=200),
                WorkCounts(neuron_updates=40))
    layout = ChipLayout(cores=2, chips=1, stages_per_step=3, stages_per_sequence=2)
    timing = chip_time(per_core, units=4, steps=5, layout=layout, profile=loihi)
    assert timing.busiest_core == 0
    assert timing.compute_seconds_per_step == close(10 * 3.5 * NS)
    assert timing.barrier_seconds_per_step == close(3 * 113 * NS)
    assert timing.step_seconds == close((35 + 339) * NS)
    assert timing.seconds == close(5 * (35 + 339) * NS + 2 * 113 * NS)
    # Frady et al. 2020: 104 mW per chip (charged), 0.81 mW per used core (shown)
    assert timing.static_joules() == close(0.104 * timing.seconds)
    assert timing.static_joules(whole_chips=False) == close(2 * 0.81e-3 * timing.seconds)


@pytest.mark.parametrize("chips", [2, 3])
def test_a_program_on_several_chips_pays_the_multi_chip_barrier(chips):
    loihi = load_profile("loihi")
    layout = ChipLayout(cores=300, chips=chips, stages_per_step=2, stages_per_sequence=0)
    timing = chip_time((WorkCounts(),), units=1, steps=1, layout=layout, profile=loihi)
    assert timing.barrier_seconds_per_step == close(2 * 14.3e-6)
    assert timing.static_watts_whole_chips == close(chips * 0.104)


@pytest.mark.parametrize("fields", [
    {"cores": 0}, {"chips": 0}, {"stages_per_step": 0}, {"stages_per_sequence": -1},
])
def test_a_layout_needs_a_core_a_chip_and_a_stage_per_step(fields):
    with pytest.raises(ValueError, match="at least one core, chip and stage per step"):
        ChipLayout(**{"cores": 2, "chips": 1, "stages_per_step": 1, "stages_per_sequence": 0, **fields})


@pytest.mark.parametrize(("units", "steps"), [(0, 1), (1, 0)])
def test_time_needs_a_unit_of_at_least_one_step(units, steps):
    layout = ChipLayout(cores=1, chips=1, stages_per_step=1, stages_per_sequence=0)
    with pytest.raises(ValueError, match="units and steps must be at least 1"):
        chip_time((WorkCounts(),), units=units, steps=steps, layout=layout, profile=load_profile("loihi"))
    with pytest.raises(ValueError, match="needs per-core counts"):
        chip_time((), units=1, steps=1, layout=layout, profile=load_profile("loihi"))


def test_a_profile_without_latencies_has_no_time_model():
    bare = parse_profile("name: bare\nkind: neuromorphic\nconstants:\n" + "".join(
        f"  {key}: {{value: 1.0, unit: pJ, source: test, provenance: assumed}}\n"
        for key in ("synaptic_op", "neuron_update", "learning_weight_update", "learning_trace_update",
                    "message", "hop", "memory_read", "memory_write")))
    layout = ChipLayout(cores=1, chips=1, stages_per_step=1, stages_per_sequence=0)
    assert chip_time((WorkCounts(),), 1, 1, layout, bare) is None
