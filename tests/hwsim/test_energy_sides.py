"""Each side of the energy report by hand: the chip's inference step (its time and leakage per
step), the conventional sides under the time model (per sequence of a batch, their kernel
launches), where the joules come from, and the ratio's sentence at its boundaries."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hwsim.bptt_work import inference_work_closed_form
from hwsim.conventional_time import scenario_profile
from hwsim.costs import load_profile
from hwsim.counters import WorkCounts
from hwsim.energy import conventional_energy, neuromorphic_energy
from hwsim.energy_sides import (
    Ratio,
    RunCounts,
    Side,
    chip_inference,
    chip_training,
    gpu_bptt,
    gpu_inference,
    gpu_rtrl,
    grouped_kinds,
)
from hwsim.ranges import Span
from hwsim.rtrl_gpu_work import rtrl_kernels
from tests.approx import close
from tests.hwsim.energy_helpers import COUNTS, T_BARRIER, T_LEARN, T_MESSAGE, T_NEURON, T_SYN, made_up_run


@pytest.fixture
def run(copy_spec) -> RunCounts:
    return made_up_run(copy_spec)


def test_an_inference_step_takes_the_step_time_and_leaks_for_it(run):
    l2 = load_profile("loihi2-estimate")
    side = chip_inference(run, l2)
    # one evaluation: COUNTS on one core over 9 steps of one sequence; 4 barriers per step
    events = (400 * T_SYN + 50 * T_NEURON + (300 + 200) * T_LEARN + 80 * T_MESSAGE) * 1e-9 / 9
    step = events + 4 * T_BARRIER * 1e-9
    assert side.seconds == close(step, rel=1e-12)
    assert side.static_joules == close(l2.watts("static_power_chip") * step, rel=1e-12)
    per_step = neuromorphic_energy(COUNTS, l2, 9).joules_per_sequence
    assert side.dynamic.joules_per_sequence == close(per_step, rel=1e-12)
    assert side.joules == close(per_step + side.static_joules, rel=1e-12)


def test_hardware_without_a_time_model_has_no_time_and_no_separate_leakage(run):
    for side in (chip_training(run, load_profile("spinnaker2-estimate")),
                 chip_inference(run, load_profile("spinnaker2-estimate")),
                 gpu_rtrl(run, load_profile("cpu-45nm"), "peak fp32")):
        assert side.seconds is None and side.edp is None
        assert (side.static_joules, side.static_provenance, side.time) == (0.0, "assumed", {})
        assert "static" not in side.by_kind()
        assert side.joules == side.dynamic.joules_per_sequence > 0


def test_an_evaluations_sequences_default_to_its_steps_over_the_sequence_length(run):
    l2 = load_profile("loihi2-estimate")
    one = chip_inference(run, l2)  # 9 steps: one sequence
    two = chip_inference(replace(run, inference_steps=18, inference_per_core=(COUNTS.scale(2),)), l2)
    assert two.seconds == close(one.seconds, rel=1e-12)


def test_a_run_prices_every_learning_product_unless_told_its_epoch(run):
    l2 = load_profile("loihi2-estimate")
    products = replace(run, by_op={"outer_accumulate": COUNTS.scale(8)})  # every weight update a per-step product

    def weight_updates(r: RunCounts) -> float:
        side = chip_training(r, l2)
        return next(line.count for line in side.dynamic.lines if line.kind == "learning: weights") / 8

    assert weight_updates(products) == 300  # the exact per-step products that ran
    # an epoch of 3 steps: 2400 products become ceil(2400 / 3) = 800, 100 per sequence
    assert weight_updates(replace(products, learning_epoch=3)) == 100


def test_every_joule_has_one_provenance(run):
    l2 = load_profile("loihi2-estimate")
    for side in (chip_training(run, l2), chip_inference(run, l2)):
        split = side.by_provenance()
        assert sum(split.values()) == close(side.joules, rel=1e-12)
        assert split[side.static_provenance] >= side.static_joules > 0
        assert sum(side.by_kind().values()) == close(side.joules, rel=1e-12)
        assert side.by_kind()["static"] == side.static_joules


def test_under_the_time_model_a_small_network_waits_on_its_kernel_launches(run):
    gpu = load_profile("gpu-h100")
    launch, idle = gpu.seconds("kernel_launch"), gpu.watts("idle_power")
    rtrl = gpu_rtrl(run, gpu, "time model")
    kernels = 9 * rtrl_kernels(run.arch, 2) + 1  # per step, and one optimizer step per batch
    assert (rtrl.time["kernels_per_batch"], rtrl.time["batch"], rtrl.time["bound"]) == (kernels, 4, "kernel launches")
    assert rtrl.seconds == close(kernels * launch / 4, rel=1e-12)  # the batch's 4 sequences share it
    assert rtrl.static_joules == close(idle * kernels * launch / 4, rel=1e-12)
    assert rtrl.static_provenance == gpu.constant("idle_power").provenance
    bptt = gpu_bptt(run, gpu, "time model", "time-batched")
    assert bptt.seconds == close(bptt.time["kernels_per_batch"] * launch / 4, rel=1e-12)
    assert bptt.static_joules == close(idle * bptt.seconds, rel=1e-12)


def test_at_peak_the_conventional_sides_keep_static_power_inside_the_per_op_figures(run):
    gpu = load_profile("gpu-h100")
    for side in (gpu_rtrl(run, gpu, "peak fp32"), gpu_bptt(run, gpu, "peak fp32", "time-batched"),
                 gpu_inference(run, gpu, "peak fp32")):
        assert side.static_joules == 0.0 and side.seconds > 0
        assert side.time["idle_w"] == side.time["launch_s"] == 0.0


def test_the_conventional_forward_pass_is_one_step_of_one_sequence(run):
    gpu = load_profile("gpu-h100")
    side = gpu_inference(run, gpu, "time model")
    work = inference_work_closed_form(run.arch, steps=1, batch=1)
    expected = conventional_energy(work, scenario_profile(gpu, "time model"), None).joules_per_sequence
    assert side.dynamic.joules_per_sequence == close(expected, rel=1e-12)
    kernels = 2 * run.arch.readout_layers + 2
    assert (side.time["kernels_per_batch"], side.time["batch"]) == (kernels, 1)
    assert side.seconds == close(kernels * gpu.seconds("kernel_launch"), rel=1e-12)
    assert side.hardware.endswith(", batch 1")


def ratio(value: float) -> Ratio:
    """A ratio of ``value`` between two sides that did nothing (the sentence reads only its span)."""
    nothing = neuromorphic_energy(WorkCounts(), load_profile("loihi"), 1)
    gpu, chip = (Side(rule, hardware, nothing, None, 0.0, "assumed") for rule, hardware in
                 (("BPTT", "a GPU"), ("tPC-RTRL", "a chip")))
    return Ratio("training sequence", gpu, chip, Span(value, value, value, ()))


@pytest.mark.parametrize(("value", "verdict"), [
    (1.0, "the chip is 0% cheaper"), (1.5, "the chip is 33% cheaper"), (2.0, "the chip is 2x cheaper"),
    (0.8, "the chip is 25% more expensive"), (0.6, "the chip is 67% more expensive"),
    (0.51, "the chip is 96% more expensive"),
    (0.5, "the chip is 2x more expensive"),
    (0.25, "the chip is 4x more expensive"),
])
def test_the_ratio_says_cheaper_or_more_expensive_in_percent_near_one_and_as_a_factor_beyond(value, verdict):
    assert ratio(value).sentence() == (f"BPTT on a GPU costs {value:.3g}x (range {value:.3g}x-{value:.3g}x) what "
                                       f"tPC-RTRL on a chip costs per training sequence: {verdict}.")


def test_the_three_mac_lines_are_one_kind_when_looking_for_the_largest():
    kinds = {"MACs (forward)": 1.0, "MACs (backward)": 2.0, "MACs (weight gradient)": 0.5, "static": 3.0}
    assert grouped_kinds(kinds) == {"MACs (forward, backward, weight gradient)": 3.5, "static": 3.0}


def test_the_drivers_name_each_sides_largest_share_of_its_energy():
    loihi = load_profile("loihi")
    work = neuromorphic_energy(WorkCounts(synaptic_ops_dense=100, synaptic_ops_effective=100, neuron_updates=10),
                               loihi, 2)
    synaptic, neurons = 100 * loihi.joules("synaptic_op") / 2, 10 * loihi.joules("neuron_update") / 2
    gpu = Side("BPTT", "a GPU", work, None, 0.0, "assumed")
    leaky = Side("tPC-RTRL", "a chip", work, 1e-6, 4 * (synaptic + neurons), "assumed")
    no_range = Span(1.0, 1.0, 1.0, ())
    share = round(100 * synaptic / (synaptic + neurons))
    assert Ratio("training sequence", gpu, leaky, no_range).drivers() == [
        f"{share}% of BPTT's energy on a GPU is synaptic ops", "80% of tPC-RTRL's energy on a chip is static"]
    measured = Side("tPC-RTRL", "a chip", work, 1e-6, 1e-9, "a provenance of its own")
    assert sum(measured.by_provenance().values()) == close(measured.joules, rel=1e-12)
    assert measured.by_provenance()["a provenance of its own"] == 1e-9
    idle = Side("BPTT", "a GPU", neuromorphic_energy(WorkCounts(), loihi, 1), None, 0.0, "assumed")
    assert Ratio("training sequence", idle, leaky, no_range).drivers() == [
        "80% of tPC-RTRL's energy on a chip is static"]
