"""`neuropc simulate` as a user runs it: the same metrics as `neuropc train`, counters.json,
and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from hwsim.counters import FIELDS, WorkCounts
from hwsim.runner import evaluation_lanes
from neuropc.api import simulate
from neuropc.cli import main
from neuropc.cli.simulate import run_simulation
from neuropc.run_files import load_checkpoint
from neuropc.spec import dump_spec
from tests.conftest import small_spec


def _run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def _one_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for fragment in fragments:
        assert fragment in result.output, (fragment, result.output)


@pytest.fixture()
def spec_file(copy_spec, tmp_path: Path) -> Path:
    spec = small_spec(copy_spec, **{"run.steps": 4, "run.batch": 3, "run.eval_every": 2,
                                    "run.eval_sequences": 10})
    path = tmp_path / "net.yaml"
    path.write_text(dump_spec(spec))
    return path


def _rows(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]


def test_simulate_writes_the_run_and_matches_neuropc_train(spec_file: Path, tmp_path: Path):
    out = tmp_path / "sim"
    result = _run("simulate", spec_file, "--out", out)
    assert result.exit_code == 0, result.output
    for name in ("metrics.jsonl", "counters.json", "summary.json", "curve.png",
                 "checkpoint.npz", "spec.yaml"):
        assert (out / name).is_file(), name
    reference = _run("train", spec_file, "--out", tmp_path / "ref")
    assert reference.exit_code == 0, reference.output
    got, want = _rows(out), _rows(tmp_path / "ref")
    assert [r["step"] for r in got] == [r["step"] for r in want] == [0, 2, 4]
    for a, b in zip(got, want, strict=True):
        assert a["eval_accuracy"] == b["eval_accuracy"]
        assert abs(a["eval_loss"] - b["eval_loss"]) < 1e-9
        assert (a["train_loss"] is None) == (b["train_loss"] is None)
        if a["train_loss"] is not None:
            assert abs(a["train_loss"] - b["train_loss"]) < 1e-9
    _, params, step = load_checkpoint(out / "checkpoint.npz")
    _, ref_params, _ = load_checkpoint(tmp_path / "ref" / "checkpoint.npz")
    assert step == 4
    for name, value in ref_params.items():
        assert np.max(np.abs(params[name] - value)) < 1e-9, name


def test_counters_json_is_consistent(spec_file: Path, tmp_path: Path):
    out = tmp_path / "sim"
    result = _run("simulate", spec_file, "--out", out, "--threshold", "0.01")
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "counters.json").read_text())
    fields = doc["fields"]
    assert fields == list(WorkCounts.names())
    training = doc["training"]
    assert training["sequences"] == 4 * 3
    for field in fields:
        per_sequence = training["per_sequence"][field]
        assert len(per_sequence) == 12
        assert sum(per_sequence) == training["total"][field]
        assert sum(core[field] for core in training["per_core"]) == training["total"][field]
        assert sum(op[field] for op in training["by_op"].values()) == training["total"][field]
    WorkCounts.from_dict(training["total"])  # valid counts (effective <= dense, integers)
    assert training["total"]["synaptic_ops_effective"] < training["total"]["synaptic_ops_dense"]
    evaluations = doc["inference"]["evaluations"]
    assert [e["step"] for e in evaluations] == [0, 2, 4]
    steps = training["time_steps_per_sequence"]
    inference_total = {f: 0 for f in fields}
    for e in evaluations:
        assert e["sequences"] == 10
        for field in fields:
            assert sum(e["per_sequence"][field]) == e["total"][field]
            assert len(e["per_time_step"][field]) == steps
            assert sum(e["per_time_step"][field]) == e["total"][field]
            inference_total[field] += e["total"][field]
        assert e["total"]["learning_weight_updates"] == e["total"]["learning_trace_updates"] == 0
    for field in fields:
        assert sum(core[field] for core in doc["inference"]["per_core"]) == inference_total[field]
    assert doc["settings"]["threshold"] == {"activity": 0.01, "error": 0.01}
    assert doc["fixed_point"] is None
    summary = json.loads((out / "summary.json").read_text())
    assert summary["simulator"]["number_format"] == "float64"
    assert summary["training_per_sequence"]["messages"] == training["total"]["messages"] / 12


def test_simulate_runs_a_compiled_artifact_in_fixed_point(spec_file: Path, tmp_path: Path):
    artifact = tmp_path / "net.npc"
    compiled = _run("compile", spec_file, "-o", artifact)
    assert compiled.exit_code == 0, compiled.output
    out = tmp_path / "fixed"
    result = _run("simulate", artifact, "--out", out, "--format", "fixed", "--steps", "2",
                  "--sequential")
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "counters.json").read_text())
    assert doc["settings"]["number_format"] == "fixed" and doc["settings"]["lanes"] == 1
    formats = {tuple(f["group"]): f for f in doc["fixed_point"]["formats"]}
    assert formats[("param", "W0", "")]["bits"] == 8  # loihi2: 8-bit weights
    assert formats[("trace", "B", "")]["bits"] == 8
    assert [r["step"] for r in _rows(out)] == [0, 2]


def test_run_simulation_returns_work_counts_per_sequence(spec_file: Path, tmp_path: Path):
    result, path = run_simulation(spec_file, steps=2, out_dir=tmp_path / "api", progress=False,
                                  echo=lambda _: None, dense=True)
    assert path == tmp_path / "api"
    per_sequence = result.training_counts()
    assert len(per_sequence) == 2 * 3 and all(isinstance(c, WorkCounts) for c in per_sequence)
    # the per-sequence attribution adds up to what the cores counted (an independent tally)
    assert WorkCounts.total(per_sequence).as_dict() == dict(
        zip(FIELDS, (int(v) for v in result.training_per_core.sum(axis=0)), strict=True))
    final = result.evaluations[-1]
    assert len(final.sequence_counts()) == 10
    assert WorkCounts.total(final.time_step_counts()) == final.total
    # dense: every sequence does the same work, and effective == dense
    assert len({c.synaptic_ops_dense for c in final.sequence_counts()}) == 1
    assert final.total.synaptic_ops_effective == final.total.synaptic_ops_dense


def test_evaluation_chunks_divide_the_held_out_set(copy_spec) -> None:
    """No padding lanes: per-core and per-op inference totals equal the per-sequence ones."""
    assert [evaluation_lanes(n, 64) for n in (512, 10, 7, 100, 1)] == [64, 10, 7, 50, 1]
    assert evaluation_lanes(10, 4) == 2
    spec = small_spec(copy_spec, **{"run.steps": 2, "run.batch": 2, "run.eval_every": 1,
                                    "run.eval_sequences": 10})
    result = simulate(spec, eval_lanes=4, threshold=0.01)
    assert result.settings.eval_lanes == 2
    totals = sum(e.sequences.sum(axis=0) for e in result.evaluations)
    np.testing.assert_array_equal(result.inference_per_core.sum(axis=0), totals)
    np.testing.assert_array_equal(result.inference_by_op.sum(axis=0), totals)
    np.testing.assert_array_equal(result.training_per_core.sum(axis=0),
                                  result.training.sum(axis=0))
    reference = simulate(spec, threshold=0.01)  # 10 lanes at once: the same numbers
    assert [r["eval_loss"] for r in reference.metrics] == pytest.approx(
        [r["eval_loss"] for r in result.metrics], abs=1e-12)
    np.testing.assert_array_equal(reference.evaluations[-1].sequences,
                                  result.evaluations[-1].sequences)


def test_simulate_errors_are_one_line(spec_file: Path, tmp_path: Path, copy_spec):
    _one_error(_run("simulate", tmp_path / "missing.npc"), "missing.npc", "no such file")
    junk = tmp_path / "junk.npc"
    junk.write_bytes(b"not an artifact at all")
    _one_error(_run("simulate", junk), "junk.npc", "not a neuropc artifact")
    bptt = tmp_path / "bptt.yaml"
    data = yaml.safe_load(spec_file.read_text())
    data["rule"]["name"] = "bptt"
    bptt.write_text(yaml.safe_dump(data))
    _one_error(_run("simulate", bptt, "--out", tmp_path / "b"), "bptt")
    _one_error(_run("simulate", spec_file, "--format", "float16", "--out", tmp_path / "f"),
               "--format float16", "float64, float32, fixed")
    _one_error(_run("simulate", spec_file, "--threshold", "-0.5", "--out", tmp_path / "t"),
               "--threshold", ">= 0")
    _one_error(_run("simulate", spec_file, "--threshold", "activity=0.1,errors=0", "--out", tmp_path / "t"),
               "--threshold", "'errors' is not a population")
    _one_error(_run("simulate", spec_file, "--threshold", "error=tiny", "--out", tmp_path / "t"),
               "--threshold", "'tiny' is not a number")
    assert not (tmp_path / "t").exists()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    _one_error(_run("simulate", spec_file, "--out", busy, "--force"), "'notes.txt'", "did not write")
    assert (busy / "notes.txt").read_text() == "mine"
    assert _run("simulate", spec_file, "--out", tmp_path / "sim", "--steps", "1").exit_code == 0
    _one_error(_run("simulate", spec_file, "--out", tmp_path / "sim"), "not empty", "--force")
    online = tmp_path / "online.yaml"
    data = yaml.safe_load(spec_file.read_text())
    data["rule"]["update"] = "online"
    online.write_text(yaml.safe_dump(data))
    _one_error(_run("simulate", online, "--sequential", "--out", tmp_path / "o"), "lockstep")


def test_threshold_option_overrides_the_spec_per_population(spec_file: Path, tmp_path: Path):
    """The spec's thresholds stand unless --threshold names a population (or gives one number
    for both); counters.json records what the run used."""
    data = yaml.safe_load(spec_file.read_text())
    data["hardware"] = {"target": "loihi2", "event_threshold": {"activity": 0.1, "error": 0.01}}
    split = tmp_path / "split.yaml"
    split.write_text(yaml.safe_dump(data))
    for option, want in {(): {"activity": 0.1, "error": 0.01},
                         ("--threshold", "error=0"): {"activity": 0.1, "error": 0.0},
                         ("--threshold", "0.02"): {"activity": 0.02, "error": 0.02}}.items():
        out = tmp_path / f"run{len(list(tmp_path.iterdir()))}"
        result = _run("simulate", split, "--steps", "1", "--out", out, *option)
        assert result.exit_code == 0, result.output
        assert json.loads((out / "counters.json").read_text())["settings"]["threshold"] == want
        if want["activity"] == want["error"]:
            expected = "0.02"
        else:
            expected = f"activity {want['activity']:g}, error {want['error']:g}"
        assert f"threshold {expected}" in result.output


@pytest.mark.parametrize("threshold", ["0", "activity=0.2,error=0.002"])
def test_both_backends_print_and_write_the_same_run(spec_file: Path, tmp_path: Path,
                                                    threshold: str) -> None:
    """``--backend interpreter`` and ``--backend native``: the same console numbers, the same
    metrics to the last bit, identical counter totals (threshold 0 included: both follow one
    arithmetic order, so every send decision agrees), and every output names its backend."""
    outputs, rows, counters = {}, {}, {}
    for backend in ("native", "interpreter"):
        out = tmp_path / backend
        result = _run("simulate", spec_file, "--backend", backend, "--threshold", threshold,
                      "--out", out)
        assert result.exit_code == 0, result.output
        assert f"on the {backend} backend" in result.output
        outputs[backend] = [line for line in result.output.splitlines() if line.startswith("done in")]
        rows[backend] = _rows(out)
        counters[backend] = json.loads((out / "counters.json").read_text())
        assert counters[backend]["backend"] == backend
        assert json.loads((out / "summary.json").read_text())["backend"] == backend
    strip = [line.split(": ", 1)[1] for line in outputs["native"]]
    assert strip == [line.split(": ", 1)[1] for line in outputs["interpreter"]]
    for a, b in zip(rows["native"], rows["interpreter"], strict=True):
        assert {k: v for k, v in a.items() if k != "elapsed_s"} == {k: v for k, v in b.items() if k != "elapsed_s"}
    native, interp = counters["native"], counters["interpreter"]
    totals = [(native["training"]["total"], interp["training"]["total"])]
    totals += [(a["total"], b["total"]) for a, b in zip(native["inference"]["evaluations"],
                                                        interp["inference"]["evaluations"], strict=True)]
    for want, got in totals:
        assert got == want
    assert native["training"]["per_core"] == interp["training"]["per_core"]


def test_an_unknown_backend_is_one_error(spec_file: Path, tmp_path: Path) -> None:
    _one_error(_run("simulate", spec_file, "--backend", "gpu", "--out", tmp_path / "x"),
               "--backend gpu", "native", "interpreter")
    assert not (tmp_path / "x").exists()


def test_threads_change_the_speed_not_the_run(spec_file: Path, tmp_path: Path) -> None:
    """``--threads`` (the native engine's worker threads): the same metrics to the last bit and
    the same counters on one thread and on two."""
    rows, counters = {}, {}
    for threads in ("1", "2"):
        out = tmp_path / f"threads{threads}"
        result = _run("simulate", spec_file, "--threads", threads, "--out", out)
        assert result.exit_code == 0, result.output
        rows[threads] = [{k: v for k, v in row.items() if k != "elapsed_s"} for row in _rows(out)]
        counters[threads] = json.loads((out / "counters.json").read_text())
    assert rows["1"] == rows["2"]
    assert counters["1"] == counters["2"]


def test_bad_thread_counts_are_one_error(spec_file: Path, tmp_path: Path, monkeypatch) -> None:
    result = _run("simulate", spec_file, "--threads", "0", "--out", tmp_path / "x")
    assert result.exit_code == 2 and "--threads" in result.output and "Traceback" not in result.output
    monkeypatch.setenv("NEUROPC_THREADS", "many")
    _one_error(_run("simulate", spec_file, "--out", tmp_path / "x"), "NEUROPC_THREADS", "'many'")
    assert not (tmp_path / "x").exists()
