"""The report prices given counts on both sides, inside one boundary, and says where every number comes from."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from hwsim.bptt_variants import bptt_variant
from hwsim.costs import load_profile
from hwsim.energy import conventional_energy, neuromorphic_energy
from hwsim.energy_render import plot, render
from hwsim.energy_report import LEFT_OUT, RunCounts, build_report
from neuropc.errors import NeuropcError
from neuropc.reference.network import Architecture
from tests.approx import close
from tests.conftest import small_spec
from tests.hwsim.energy_helpers import COUNTS, T_BARRIER, T_LEARN, T_MESSAGE, T_NEURON, T_SYN, made_up_run

SETTINGS = {"chip_profile": "loihi2-estimate", "target": "loihi2", "conventional_profile": "gpu-h100",
            "rule": "tpc-rtrl", "number_format": "float64", "event_threshold": 0.0, "dense": False, "batch": 4,
            "lanes": "lockstep lanes", "training_sequences": 8, "inference_steps": 9, "accuracy": 0.5,
            "bptt_variant": "time-batched", "scenario": "peak fp32"}


@pytest.fixture
def run(copy_spec) -> RunCounts:
    return made_up_run(copy_spec)


@pytest.fixture
def report(run):
    return build_report(run, load_profile("loihi2-estimate"), load_profile("gpu-h100"), SETTINGS)


def test_chip_total_is_dynamic_counts_times_constants_plus_static_power_times_time(run, report):
    chip = report.headline.denominator
    l2 = load_profile("loihi2-estimate")
    dynamic = (400 * 11.8 + 50 * 40.5 + 300 * 60 + 200 * 60 + 80 * 0.85 + 160 * 1.75 + 15 * 1.08) * 1e-12
    assert chip.dynamic.joules_per_sequence == close(dynamic, rel=1e-12)
    # busiest core: 6 sequences' worth of counts over 8 x 9 steps; 4 barriers per step, 2 per sequence
    events = (400 * T_SYN + 50 * T_NEURON + 500 * T_LEARN + 80 * T_MESSAGE) * 1e-9 * 6 / (8 * 9)
    seconds = 9 * (events + 4 * T_BARRIER * 1e-9) + 2 * T_BARRIER * 1e-9
    assert chip.seconds == close(seconds)
    assert chip.static_joules == close(l2.watts("static_power_chip") * seconds)
    assert chip.joules == close(dynamic + chip.static_joules)
    assert chip.edp == close(chip.joules * seconds)


def test_the_conventional_side_is_the_headline_variant_and_the_ratio_says_which_is_cheaper(run, report):
    gpu = load_profile("gpu-h100")
    v = bptt_variant(run.arch, "time-batched", 9, 4)
    expected = conventional_energy(v.work, gpu, v.live_history_bytes).joules_per_sequence
    h = report.headline
    assert h.numerator.joules == close(expected)  # peak scenario: static inside the per-op figures
    assert h.span.value == close(h.numerator.joules / h.denominator.joules)
    assert h.span.low <= h.span.value <= h.span.high
    sentence = h.sentence()
    assert sentence.startswith(f"BPTT on gpu-h100 (whole board) [peak fp32], time-batched, batch 4 costs "
                               f"{h.span.value:.3g}x (range {h.span.low:.3g}x-{h.span.high:.3g}x) what tPC-RTRL on "
                               f"loihi2-estimate costs per training sequence: the chip is")
    verdict = "cheaper" if h.span.value >= 1 else "more expensive"
    assert sentence.endswith(f"{verdict}.")
    assert h.drivers()[0].startswith("the range is set mostly by ")


def test_report_text_and_json_carry_settings_time_static_edp_provenance_and_the_2x2(report, tmp_path):
    text = render(report)
    for fragment in ("== settings ==", "held-out accuracy 0.500 at float64", "time per step", "static power:",
                     "EDP", "provenance of these joules:", "2 x 2 (rule x hardware)", "BPTT on loihi2-estimate",
                     "not compiled", "online batch-1 learning", "from sequence length", "synop_sparsity_training",
                     "(priced at 0:", " ops ", " MACs ", " bytes ", "memory: resident"):
        assert fragment in text, fragment
    data = report.as_dict()
    json.dumps(data)
    assert data["training"]["sentence"] == report.headline.sentence()
    assert data["training"]["chip"]["static_joules"] > 0
    assert data["training"]["ratio"]["tornado"]
    assert set(data["two_by_two"]) >= {"tPC-RTRL on loihi2-estimate", "BPTT on loihi2-estimate",
                                       "tPC-RTRL on gpu-h100 [time model]", "BPTT on gpu-h100 [time model]"}
    assert data["two_by_two"]["BPTT on loihi2-estimate"] is None
    assert data["neurobench"]["synop_sparsity_training"] == close(0.6)
    assert data["neurobench"]["synop_sparsity_inference"] == close(0.6)
    assert data["left_out"] == list(LEFT_OUT)
    assert data["per_layer_joules_per_sequence"]["lru"] == close(
        3 * data["per_layer_joules_per_sequence"]["output"])
    plot(report, tmp_path / "energy.png")
    assert (tmp_path / "energy.png").read_bytes()[:4] == b"\x89PNG"


def test_the_footprints_count_the_same_sets_and_give_the_break_even_length(run, report):
    from hwsim.bptt_work import bptt_history_bytes, rtrl_state_bytes

    f = report.footprints
    t = f["break_even_sequence_length"]
    rtrl = rtrl_state_bytes(run.arch).total
    assert bptt_history_bytes(run.arch, t).total >= rtrl > bptt_history_bytes(run.arch, t - 1).total
    shared = f["parameters_bytes"] + f["accumulators_bytes"] + f["optimizer_state_bytes"]
    assert f["optimizer_state_bytes"] == 2 * f["parameters_bytes"]  # Adam's two moments
    assert f["bptt_bytes"] == shared + f["bptt_history_bytes_per_sequence"]
    assert f["tpc_rtrl_conventional_bytes"] == shared + rtrl
    # readout 12 -> 5 -> 3: 83 weights and biases; complex N = 6: parameters nu, theta, gamma (18)
    # and B (6 x 5 complex, 60); accumulators for the readout and the credits of lambda (12),
    # gamma (12) and B (60); fp32
    assert f["parameters_bytes"] == (18 + 60 + 83) * 4
    assert f["accumulators_bytes"] == (83 + 12 + 12 + 60) * 4


def test_without_adam_there_are_no_moments_to_keep(run):
    report = build_report(replace(run, optimizer="sgd"), load_profile("loihi2-estimate"), load_profile("gpu-h100"),
                          SETTINGS)
    assert report.footprints["optimizer_state_bytes"] == 0


def test_a_scenario_the_conventional_profile_cannot_price_falls_back_to_its_first(run):
    report = build_report(run, load_profile("loihi2-estimate"), load_profile("cpu-45nm"), SETTINGS,
                          scenario="time model")
    assert "[peak fp32]" in report.headline.numerator.hardware


def test_the_footprint_is_every_buffers_bits_rounded_up_to_bytes():
    from types import SimpleNamespace as Namespace

    from hwsim.energy_report import footprint_bytes

    def buffer(size, bits, per_lane):
        return Namespace(size=size, bits=bits, per_lane=per_lane)

    # 3 x 8 bits shared, 2 x 12 bits in each of 4 lanes, 1 x 8 bits: 24 + 96 + 8 = 128 bits
    program = Namespace(lanes=4, cores=[Namespace(buffers={"a": buffer(3, 8, False), "b": buffer(2, 12, True)}),
                                        Namespace(buffers={"c": buffer(1, 8, False)})])
    assert footprint_bytes(program) == 16
    program.cores[1].buffers["d"] = buffer(1, 1, False)  # one more bit takes one more byte
    assert footprint_bytes(program) == 17


def test_activation_sparsity_counts_exact_zeros_among_the_lru_features_and_hidden_activities():
    import numpy as np

    from hwsim.bptt_work import synthetic_batch
    from hwsim.energy_report import activation_sparsity
    from neuropc.reference.network import init_params

    arch = Architecture(complex=True, state=4, inputs=3, hidden=(5,), outputs=2, activation="gelu",
                        loss="cross_entropy", learn_gamma=False)
    rng = np.random.default_rng(0)
    params = init_params(arch, (0.9, 0.999), 0.2 * np.pi, rng)
    params["B_re"][:] = 0.0
    params["B_im"][:] = 0.0  # no drive: the state, so the 8 LRU features, stay exactly 0
    params["b0"][:] = 1.0  # the 5 hidden activities are gelu(1) != 0
    assert activation_sparsity(arch, params, synthetic_batch(arch, 6, 2, rng)) == close(8 / 13)
    # driven: no LRU feature is exactly 0 after a step (the initial state, which is, is not counted)
    driven = init_params(arch, (0.9, 0.999), 0.2 * np.pi, rng)
    assert activation_sparsity(arch, driven, synthetic_batch(arch, 6, 2, rng)) == 0.0


def test_inference_time_divides_the_per_core_counts_of_every_evaluation_by_all_their_sequences(run):
    from hwsim.energy_sides import chip_inference

    l2 = load_profile("loihi2-estimate")
    one = chip_inference(run, l2)  # per-core counts of one evaluation of 1 sequence (9 steps)
    two = chip_inference(replace(run, inference_per_core=(COUNTS.scale(2),), inference_core_sequences=2), l2)
    assert two.seconds == close(one.seconds)  # two evaluations' counts over their two sequences


def test_streaming_prices_one_step_of_batch_one_learning_on_each_side(run, report):
    from hwsim.energy_sides import chip_training, gpu_bptt, gpu_rtrl

    gpu = load_profile("gpu-h100")
    sides = [chip_training(run, load_profile("loihi2-estimate")), gpu_rtrl(run, gpu, "time model", batch=1),
             gpu_bptt(run, gpu, "time model", "truncated", batch=1, window=1),
             gpu_bptt(run, gpu, "time model", "time-batched", batch=1)]
    assert [row["hardware"] for row in report.streaming] == [side.hardware for side in sides]
    assert all(", batch 1" in row["hardware"] for row in report.streaming[1:])
    for row, side in zip(report.streaming, sides, strict=True):
        assert row["rule"] == side.rule
        assert row["joules_per_step"] == close(side.joules / 9)
        assert row["seconds_per_step"] == close(side.seconds / 9)
    assert [row["note"] for row in report.streaming] == ["", "", "", "a step's update waits for the whole sequence"]


def test_the_spread_over_the_run_prices_each_training_batch_per_sequence(run):
    # two batches of 4 sequences, the second with three times the counts of the first
    uneven = replace(run, train_batches=(COUNTS.scale(4), COUNTS.scale(12)))
    l2 = load_profile("loihi2-estimate")
    spread = build_report(uneven, l2, load_profile("gpu-h100"), SETTINGS).spread
    one = neuromorphic_energy(COUNTS, l2, 1).joules_per_sequence
    assert spread == {"batches": 2, "dynamic_joules_per_sequence_mean": close(2 * one), "min": close(one),
                      "max": close(3 * one), "first": close(one), "last": close(3 * one)}
    assert build_report(replace(run, train_batches=()), l2, load_profile("gpu-h100"), SETTINGS).spread == {}
    for sequences in (1, 2):  # a run of one batch
        single = replace(run, train_sequences=sequences, train_batches=(COUNTS.scale(sequences),))
        spread = build_report(single, l2, load_profile("gpu-h100"), SETTINGS).spread
        assert (spread["batches"], spread["first"]) == (1, close(one))


def test_the_chip_layout_counts_every_phases_stages_and_inference_skips_training_only_ones():
    from types import SimpleNamespace as Namespace

    from hwsim.energy_report import _layout

    def phase(when, stages, repeat, train_only):
        return Namespace(when=when, stages=stages, repeat=repeat, train_only=train_only)

    program = Namespace(cores=[0, 1, 2], phases=[
        phase("step", 3, 2, False), phase("step", 4, 1, True), phase("sequence", 5, 3, False),
        phase("sequence", 7, 1, True)])
    train, infer = _layout(program, 2, training=True), _layout(program, 2, training=False)
    assert (train.cores, train.chips, train.stages_per_step, train.stages_per_sequence) == (3, 2, 3 * 2 + 4, 5 * 3 + 7)
    assert (infer.stages_per_step, infer.stages_per_sequence) == (3 * 2, 5 * 3)


@pytest.mark.parametrize("arch", [
    Architecture(complex=True, state=6, inputs=5, hidden=(5,), outputs=3, activation="gelu", loss="cross_entropy",
                 learn_gamma=True),
    Architecture(complex=False, state=2, inputs=1, hidden=(), outputs=1, activation="gelu", loss="squared_error",
                 learn_gamma=False),
    Architecture(complex=True, state=64, inputs=11, hidden=(32, 16), outputs=9, activation="gelu",
                 loss="cross_entropy", learn_gamma=False),
])
def test_the_break_even_length_is_the_first_at_which_the_history_holds_the_rtrl_state(run, arch):
    from hwsim.bptt_work import bptt_history_bytes, rtrl_state_bytes
    from hwsim.energy_report import _footprints

    t = _footprints(replace(run, arch=arch))["break_even_sequence_length"]
    rtrl = rtrl_state_bytes(arch).total
    assert bptt_history_bytes(arch, t).total >= rtrl
    assert t == 1 or rtrl > bptt_history_bytes(arch, t - 1).total


def test_the_grid_prices_every_scenario_and_variant_with_a_window_of_a_third_of_the_sequence(report):
    # gpu-h100 has three scenarios; the 9-step sequence gives truncation and checkpoints every 3 steps
    labels = [ratio.numerator.hardware for ratio in report.grid]
    assert len(labels) == 3 * 4
    for scenario in ("peak fp32", "peak bf16 tensor", "time model"):
        for variant in ("per-step", "time-batched", "truncated k=3", "checkpointed (every 3 steps)"):
            assert f"gpu-h100 (whole board) [{scenario}], {variant}, batch 4" in labels


def test_a_short_sequence_is_truncated_to_windows_of_one_step(run):
    short = build_report(replace(run, seq_len=5), load_profile("loihi2-estimate"), load_profile("gpu-h100"), SETTINGS)
    assert any(", truncated k=1, batch 4" in ratio.numerator.hardware for ratio in short.grid)


def test_a_simulation_maps_into_the_counts_the_report_prices(copy_spec):
    from compiler.pipeline import compile_artifact
    from hwsim.counters import WORK_KINDS, WorkCounts
    from hwsim.energy_report import report_from_simulation, run_counts
    from hwsim.routes import artifact_route_split
    from hwsim.runner import simulate

    artifact = compile_artifact(small_spec(copy_spec, **{"run.batch": 4, "run.eval_sequences": 4,
                                                         "run.eval_every": 1, "task.delay": 4}))
    result = simulate(artifact, steps=2)
    run = run_counts(result, artifact)
    assert (run.batch, run.train_sequences, len(run.train_batches)) == (4, 8, 2)  # 2 batches of 4
    assert WorkCounts.total(run.train_batches) == run.train == WorkCounts.total(result.training_counts())
    assert run.train_batches[0] == WorkCounts.total(result.training_counts()[:4])
    last = result.evaluations[-1]
    assert run.inference == last.total
    assert run.seq_len == 10  # 3 digits, a delay of 4, 3 recalled: not the 9 counters of a row
    assert run.inference_steps == last.time_steps.shape[0] * len(last.sequences) == run.seq_len * 4
    assert len(result.evaluations) > 1  # an evaluation after each batch: per-core counts cover them all
    assert run.inference_core_sequences == sum(len(e.sequences) for e in result.evaluations)
    assert run.by_op and set(run.by_op) <= set(WORK_KINDS) and all(c != WorkCounts() for c in run.by_op.values())
    assert run.train_layout.chips == run.inference_layout.chips == int(artifact.placement.get("chips", 1))
    assert run.routes == artifact_route_split(artifact)
    assert 0.0 <= run.activation_sparsity <= 1.0
    assert run_counts(replace(result, training=result.training[:1]), artifact).train_sequences == 1
    earlier = replace(last, sequences=2 * last.sequences)
    assert run_counts(replace(result, evaluations=[last, earlier, last]), artifact).inference == last.total
    for empty in (replace(result, evaluations=[]), replace(result, training=result.training[:0])):
        with pytest.raises(NeuropcError, match="needs at least one training step and one evaluation"):
            run_counts(empty, artifact)
    settings = report_from_simulation(result, artifact, load_profile("loihi2-estimate"),
                                      load_profile("gpu-h100")).settings
    assert settings["lanes"] == "lockstep lanes"
    assert settings["routes"] == (None if run.routes is None else run.routes.as_dict())
