"""Energy = counts x constants: hand-computed cases, breakdowns, provenance on every line."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hwsim.bptt_work import bptt_work
from hwsim.costs import load_profile, parse_profile
from hwsim.counters import ConventionalWork, SlotRun, WorkCounts
from hwsim.energy import conventional_energy, neuromorphic_energy
from neuropc.errors import NeuropcError
from neuropc.reference.network import Architecture
from tests.approx import close

PJ = 1e-12

COUNTS = WorkCounts(synaptic_ops_dense=4000, synaptic_ops_effective=1000, neuron_updates=200,
                    learning_weight_updates=50, learning_trace_updates=300, messages=40, hops=90,
                    memory_reads=10, memory_writes=5)


def test_neuromorphic_energy_on_loihi_by_hand():
    breakdown = neuromorphic_energy(COUNTS, load_profile("loihi"))
    expected = {
        "synaptic ops": 1000 * 23.6,  # effective ops only
        "neuron updates": 200 * 81.0,
        "learning: weights": 50 * 120.0,
        "learning: traces": 300 * 120.0,
        "messages": 40 * 1.7,
        "hops": 90 * 3.5,
        "memory": (10 + 5) * 2.16,
    }
    got = breakdown.by_kind()
    assert list(got) == list(expected)
    for kind, picojoules in expected.items():
        assert got[kind] == close(picojoules * PJ), kind
    assert breakdown.total_joules == close(82215.4 * PJ)


def test_a_breakdown_over_several_sequences_reports_per_sequence():
    loihi = load_profile("loihi")
    one, four = neuromorphic_energy(COUNTS, loihi), neuromorphic_energy(COUNTS, loihi, 4)
    assert one.joules_per_sequence == one.total_joules == four.total_joules == close(4 * four.joules_per_sequence)
    synaptic = next(line for line in one.lines if line.kind == "synaptic ops")
    assert synaptic.row()["count"] == 1000 and synaptic.row()["joules"] == close(1000 * 23.6 * PJ)
    assert synaptic.row(4)["count"] == 250 and synaptic.row(4)["joules"] == close(250 * 23.6 * PJ)
    assert synaptic.row(2)["count"] == 500
    assert [row["count"] for row in four.rows()] == [line.count / 4 for line in four.lines]
    assert [row["count"] for row in four.rows(per_sequence=False)] == [line.count for line in four.lines]


def test_dense_synaptic_ops_are_reported_but_not_priced():
    profile = load_profile("loihi")
    denser = WorkCounts(**{**COUNTS.as_dict(), "synaptic_ops_dense": 10**9})
    assert neuromorphic_energy(denser, profile).total_joules == neuromorphic_energy(COUNTS, profile).total_joules


def test_every_line_carries_its_constant_source_and_provenance():
    breakdown = neuromorphic_energy(COUNTS, load_profile("spinnaker2-estimate"), sequences=4)
    rows = breakdown.rows()
    assert [row["constant"] for row in rows] == ["synaptic_op", "neuron_update", "learning_weight_update",
                                                  "learning_trace_update", "message", "hop", "memory_read",
                                                  "memory_write"]
    message = rows[4]
    assert (message["value"], message["unit"], message["provenance"]) == (0.8, "nJ", "assumed")
    assert "SpiNNaker 1" in message["source"]
    assert message["count"] == 10  # 40 messages over 4 sequences
    assert message["joules"] == close(10 * 0.8e-9)
    assert breakdown.joules_per_sequence == close(breakdown.total_joules / 4)
    assert breakdown.by_provenance()["assumed"] == close(breakdown.total_joules)


def test_a_user_override_changes_the_price_and_the_printed_provenance():
    profile = parse_profile("base: loihi\nconstants:\n"
                            "  synaptic_op: {value: 10.0, unit: pJ, source: our bench, provenance: measured}\n")
    breakdown = neuromorphic_energy(COUNTS, profile)
    line = breakdown.lines[0]
    assert (line.constant.value, line.constant.provenance, line.constant.source) == (10.0, "measured", "our bench")
    assert line.joules == close(1000 * 10.0 * PJ)
    baseline = neuromorphic_energy(COUNTS, load_profile("loihi")).total_joules
    assert breakdown.total_joules == close(baseline - 1000 * 13.6 * PJ)
    assert breakdown.by_provenance()["measured"] == close(line.joules)


def hand_work() -> ConventionalWork:
    # two sequences; history: initial slot 100 B, then 3 slots of 1000 B written, 1200 read, 1000 distinct
    return ConventionalWork(
        sequences=2, seq_len=3, forward_macs=1000, backward_macs=600, weight_gradient_macs=800,
        elementwise_ops=300, optimizer_updates=50, weight_reads=4000, gradient_bytes=2400,
        activation_bytes_written=3100, activation_bytes_read=3700, resident_bytes=1000,
        history_slots=(SlotRun(1, 100, 100, 100), SlotRun(3, 1000, 1200, 1000)),
    )


def cpu_with_capacity(capacity_bytes: int):
    return parse_profile("base: cpu-45nm\nconstants:\n  onchip_capacity:\n"
                         f"    {{value: {capacity_bytes}, unit: B, source: test, provenance: assumed}}\n")


def test_conventional_energy_on_cpu_by_hand():
    # 1000 B of weights and gradients fit in 3500 B; the history (3100 B alive) gets the other
    # 2500 B, so 1 - 2500/3100 of its off-chip cost (each slot written once, its distinct bytes
    # read back once: 200 + 3 x 2000 = 6200 B) goes to DRAM: 1200 B
    breakdown = conventional_energy(hand_work(), cpu_with_capacity(3500))
    sram, dram = 10.0 / 8, 1950.0 / 8  # pJ per byte
    expected = {
        "MACs forward": 1000 * 4.6,
        "MACs backward": 600 * 4.6,
        "MACs weight-gradient": 800 * 4.6,
        "elementwise": 300 * 4.6,
        "optimizer": 50 * 99.4,
        "weight reads on-chip": 4000 * sram,
        "weight reads off-chip": 0.0,
        "gradient traffic on-chip": 2400 * sram,
        "gradient traffic off-chip": 0.0,
        "trace traffic on-chip": 0.0,
        "trace traffic off-chip": 0.0,
        "activation history on-chip": (3100 + 3700 - 1200) * sram,
        "activation history off-chip": 1200 * dram,
    }
    got = breakdown.by_kind()
    assert list(got) == list(expected)
    for kind, picojoules in expected.items():
        assert got[kind] == close(picojoules * PJ), kind
    assert breakdown.sequences == 2
    assert breakdown.by_kind(per_sequence=True)["optimizer"] == close(25 * 99.4 * PJ)
    assert breakdown.residency.history_offchip_fraction == close(600 / 3100)


def test_parameters_that_do_not_fit_spill_in_proportion_not_all_at_once():
    # 1000 B swept every step, 900 B on chip: an optimal cache keeps 900 B resident, so 10 % of
    # the weight and gradient traffic goes off chip (the reuse model, not an all-or-nothing cliff);
    # nothing is left for the history, which spills whole
    breakdown = conventional_energy(hand_work(), cpu_with_capacity(900))
    sram, dram = 10.0 / 8 * PJ, 1950.0 / 8 * PJ
    got = breakdown.by_kind()
    assert got["weight reads off-chip"] == close(400 * dram)
    assert got["weight reads on-chip"] == close(3600 * sram)
    assert got["gradient traffic off-chip"] == close(240 * dram)
    assert got["gradient traffic on-chip"] == close(2160 * sram)
    # every slot written out and its distinct bytes read back; repeated reads (200 B per step slot) on chip
    assert got["activation history off-chip"] == close((200 + 3 * 2000) * dram)
    assert got["activation history on-chip"] == close(3 * 200 * sram)
    assert breakdown.residency.text() == "resident 0.001 MB (+ live history 0.0031 MB) vs on-chip 0.0009 MB"
    assert breakdown.offchip_bytes == 400 + 240 + (200 + 3 * 2000)  # what the memory roofline reads


def test_eligibility_traces_spill_with_the_parameters():
    # tPC-RTRL keeps no history but reads and writes its traces every step: 10 % off chip, as above
    work = dataclasses.replace(hand_work(), activation_bytes_written=0, activation_bytes_read=0, history_slots=(),
                               trace_bytes=5000)
    got = conventional_energy(work, cpu_with_capacity(900)).by_kind()
    assert got["trace traffic off-chip"] == close(500 * 1950.0 / 8 * PJ)
    assert got["trace traffic on-chip"] == close(4500 * 10.0 / 8 * PJ)
    assert got["activation history on-chip"] == got["activation history off-chip"] == 0.0


def test_gpu_prices_on_chip_traffic_inside_its_whole_board_flop_energy():
    network = Architecture(complex=True, state=16, inputs=11, hidden=(16,), outputs=9, activation="gelu",
                           loss="cross_entropy", learn_gamma=False)
    gpu = load_profile("gpu-h100")
    work = bptt_work(network, 50, 4, gpu)
    breakdown = conventional_energy(work, gpu)
    got = breakdown.by_kind()
    assert got["activation history on-chip"] == 0.0 and got["activation history off-chip"] == 0.0
    assert got["MACs forward"] == close(work.forward_macs * 20.93 * PJ)
    # the same work counted without a profile is placed when priced
    assert conventional_energy(bptt_work(network, 50, 4), gpu).total_joules == breakdown.total_joules


def test_profiles_of_the_wrong_kind_are_refused():
    with pytest.raises(NeuropcError, match="'cpu-45nm' is conventional"):
        neuromorphic_energy(COUNTS, load_profile("cpu-45nm"))
    with pytest.raises(NeuropcError, match="'loihi' is neuromorphic"):
        conventional_energy(hand_work(), load_profile("loihi"))


# --- the count contracts -------------------------------------------------------------------

def test_work_counts_add_scale_and_round_trip():
    doubled = COUNTS + COUNTS
    assert doubled == COUNTS.scale(2)
    assert WorkCounts.total([COUNTS, COUNTS, WorkCounts()]) == doubled
    assert WorkCounts.from_dict(COUNTS.as_dict()) == COUNTS
    assert COUNTS.per_sequence(4)["hops"] == 22.5
    assert COUNTS.effective_fraction == 0.25
    assert WorkCounts(messages=np.int64(3)).messages == 3  # numpy integers are exact too


@pytest.mark.parametrize(("data", "message"), [
    ({**COUNTS.as_dict(), "spikes": 1}, "unknown count.*spikes"),
    ({k: v for k, v in COUNTS.as_dict().items() if k != "hops"}, "missing count.*hops"),
    ({**COUNTS.as_dict(), "hops": 1.5}, "hops must be an exact integer"),
    ({**COUNTS.as_dict(), "hops": -1}, "hops must not be negative"),
    ({**COUNTS.as_dict(), "synaptic_ops_effective": 5000}, "exceed dense"),
])
def test_bad_counts_are_refused(data, message):
    with pytest.raises(NeuropcError, match=message):
        WorkCounts.from_dict(data, "run/counters.json")


def test_conventional_work_round_trips_and_checks_its_slots():
    work = hand_work().placed(3500)
    assert ConventionalWork.from_dict(work.as_dict()) == work
    assert work.per_sequence()["forward_macs"] == 500
    with pytest.raises(ValueError, match="history slots hold 3100 bytes written"):
        dataclasses.replace(hand_work(), activation_bytes_written=3000)
