"""The report prices given counts on both sides and says where every number comes from."""

from __future__ import annotations

import json

import pytest

from hwsim.bptt_work import bptt_work, inference_work_closed_form
from hwsim.costs import load_profile
from hwsim.counters import WorkCounts
from hwsim.energy_report import LEFT_OUT, build_report, plot, render
from neuropc.reference.network import Architecture
from tests.conftest import small_spec

COUNTS = WorkCounts(synaptic_ops_dense=1000, synaptic_ops_effective=400, neuron_updates=50,
                    learning_weight_updates=300, learning_trace_updates=200, messages=80, hops=160,
                    memory_reads=10, memory_writes=5)


@pytest.fixture
def report(copy_spec):
    arch = Architecture.from_spec(small_spec(copy_spec))
    return arch, build_report(arch, seq_len=9, batch=4, train_counts=COUNTS.scale(2), train_sequences=2,
                              inference_counts=COUNTS, inference_steps=1, chip=load_profile("loihi"),
                              conventional=load_profile("cpu-45nm"), footprint_bytes=1234,
                              settings={"spec": "test"})


def test_neuromorphic_side_is_counts_times_constants(report):
    _, rep = report
    loihi = load_profile("loihi")
    expected = (400 * 23.6 + 50 * 81.0 + 300 * 120.0 + 200 * 120.0 + 80 * 1.7) * 1e-12
    expected += 160 * loihi.joules("hop") + 10 * loihi.joules("memory_read") + 5 * loihi.joules("memory_write")
    assert rep.train.neuromorphic.joules_per_sequence == pytest.approx(expected, rel=1e-12)


def test_conventional_side_is_bptt_per_sequence_and_forward_per_step(report):
    arch, rep = report
    cpu = load_profile("cpu-45nm")
    work = bptt_work(arch, 9, 4, cpu)
    assert rep.train.conventional_work == work
    assert rep.train.conventional.sequences == 4
    forward = inference_work_closed_form(arch)
    assert rep.inference.conventional_work.forward_macs == forward.forward_macs
    assert rep.inference.conventional_work.backward_macs == 0
    assert rep.train.ratio == pytest.approx(
        rep.train.conventional.joules_per_sequence / rep.train.neuromorphic.joules_per_sequence)


def test_report_names_the_provenance_of_every_constant(report, tmp_path):
    _, rep = report
    text = render(rep)
    data = rep.as_dict()
    json.dumps(data)
    for comparison in ("training", "inference"):
        for side in ("neuromorphic", "conventional"):
            for line in data[comparison][side]["lines"]:
                assert line["provenance"] in ("measured", "simulated", "derived", "assumed")
                assert line["source"]
                assert f"{data[comparison][side]['profile']}.{line['constant']}" in text
    assert data["neurobench"]["activation_sparsity_training"] == pytest.approx(0.6)
    assert data["left_out"] == list(LEFT_OUT)
    plot(rep, tmp_path / "energy.png")
    assert (tmp_path / "energy.png").read_bytes()[:4] == b"\x89PNG"
