"""The GPU scenarios: peak fp32, peak bf16 tensor and the roofline time model, by hand."""

from __future__ import annotations

from hwsim.conventional_time import conventional_time, flops, scenario_profile, scenarios_of
from hwsim.costs import load_profile, parse_profile
from hwsim.counters import ConventionalWork
from tests.approx import close

WORK = ConventionalWork(sequences=4, seq_len=3, forward_macs=1000, backward_macs=500, weight_gradient_macs=500,
                        elementwise_ops=100, optimizer_updates=10, weight_reads=0, gradient_bytes=0,
                        activation_bytes_written=0, activation_bytes_read=0, resident_bytes=0, history_slots=())


def test_scenarios_price_a_mac_at_fp32_peak_bf16_peak_or_dynamic_power_over_peak():
    gpu = load_profile("gpu-h100")
    assert scenarios_of(gpu) == ("peak fp32", "peak bf16 tensor", "time model")
    assert scenarios_of(load_profile("cpu-45nm")) == ("peak fp32",)
    assert scenario_profile(gpu, "peak fp32").joules("mac") == close(20.93e-12)
    bf16 = scenario_profile(gpu, "peak bf16 tensor").constant("mac")
    assert bf16.si == close(2 * 0.708e-12) and bf16.provenance == "assumed"
    timed = scenario_profile(gpu, "time model")
    assert timed.joules("mac") == close(2 * (700 - 70) / 66.9e12)
    assert timed.joules("elementwise_op") == close(2 * (700 - 70) / 66.9e12)  # a multiply-add's worth
    assert timed.joules_per_byte("offchip_access") == close(5.5e-12 * 8)


def test_flops_count_two_per_mac_one_per_elementwise_op_and_the_optimizer_as_priced():
    gpu = load_profile("gpu-h100")
    assert flops(WORK, gpu) == close(2 * 2000 + 100 + 10 * 2 * 293 / 20.93)


def test_the_time_model_takes_the_largest_of_compute_memory_and_launches_and_charges_idle_power():
    gpu = load_profile("gpu-h100")
    timing = conventional_time(WORK, offchip_bytes=3.35e6, kernels=5, profile=gpu, scenario="time model")
    compute = flops(WORK, gpu) / 66.9e12
    assert timing.compute_seconds == close(compute)
    assert timing.memory_seconds == close(1e-6)  # 3.35 MB at 3.35 TB/s
    assert timing.launch_seconds == close(20e-6)
    assert timing.seconds == close(20e-6) and timing.bound == "kernel launches"
    assert timing.utilisation == close(compute / 20e-6)
    assert timing.static_joules == close(70 * 20e-6)
    peak = conventional_time(WORK, 0, 5, gpu, "peak fp32")
    assert (peak.seconds, peak.static_joules) == (close(compute), 0.0)


def test_the_time_model_rescales_the_optimizer_update_with_the_mac():
    gpu = load_profile("gpu-h100")
    timed = scenario_profile(gpu, "time model")
    # the profile's 293 pJ update, scaled as its 20.93 pJ MAC is to the dynamic MAC
    assert timed.joules("optimizer_update") == close(293e-12 * (2 * (700 - 70) / 66.9e12) / 20.93e-12)


def test_a_free_mac_prices_the_optimizer_at_no_flops_and_no_energy():
    free = parse_profile("base: gpu-h100\nconstants:\n  mac: {value: 0.0, unit: pJ, source: x, provenance: assumed}\n")
    assert flops(WORK, free) == 2 * 2000 + 100
    assert scenario_profile(free, "time model").joules("optimizer_update") == 0.0


def test_bf16_tensor_cores_take_the_macs_and_fp32_the_rest():
    gpu = load_profile("gpu-h100")
    timing = conventional_time(WORK, 0, 5, gpu, "peak bf16 tensor")
    assert timing.compute_seconds == close(2 * 2000 / 989e12 + (flops(WORK, gpu) - 2 * 2000) / 66.9e12)
    assert timing.seconds == timing.compute_seconds and timing.static_joules == 0.0
