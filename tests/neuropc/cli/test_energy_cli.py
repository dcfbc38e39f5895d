"""`neuropc simulate --energy-report` as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hwsim.counters import WorkCounts
from neuropc.cli import main
from neuropc.spec import dump_spec
from tests.approx import close
from tests.conftest import small_spec


@pytest.fixture
def spec_file(copy_spec, tmp_path: Path) -> Path:
    path = tmp_path / "net.yaml"
    path.write_text(dump_spec(small_spec(copy_spec, **{"run.batch": 4, "run.eval_sequences": 4})))
    return path


def test_energy_report_prices_the_runs_own_counts(spec_file: Path, tmp_path: Path):
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["simulate", str(spec_file), "--steps", "2", "--out", str(out),
                                       "--energy-report", "--vs", "gpu-h100"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "energy.json").read_text())
    counters = json.loads((out / "counters.json").read_text())
    training = report["training"]
    assert report["settings"]["chip_profile"] == "loihi2-estimate"  # the target's own profile
    assert training["conventional"]["hardware"].startswith("gpu-h100 (whole board) [peak fp32]")
    assert training["ratio"]["value"] == close(
        training["conventional"]["joules"] / training["chip"]["joules"])
    assert training["ratio"]["low"] <= training["ratio"]["value"] <= training["ratio"]["high"]
    assert report["settings"]["training_sequences"] == 8
    total = WorkCounts.from_dict(counters["training"]["total"])
    messages = next(line for line in training["chip"]["lines"] if line["constant"] == "message")
    assert messages["count"] == close(total.messages / 8)
    chip_time = training["chip"]["time"]
    assert training["chip"]["static_joules"] == close(chip_time["static_j_whole_chips"])
    assert training["chip"]["edp_joule_seconds"] == close(training["chip"]["joules"] * chip_time["seconds"])
    for fragment in ("== settings ==", "time per step", "static power:", "EDP", training["sentence"],
                     "provenance of these joules:", "% assumed"):
        assert fragment in result.output, fragment
    assert (out / "energy.png").read_bytes()[:4] == b"\x89PNG"
    spread = report["counts_over_the_run"]  # the two training batches, each priced per sequence
    assert spread["batches"] == 2
    assert 0 < spread["min"] <= spread["dynamic_joules_per_sequence_mean"] <= spread["max"]
    assert {spread["first"], spread["last"]} == {spread["min"], spread["max"]}


def test_a_loihi_1_profile_is_refused_for_a_loihi_2_program_before_simulating(spec_file: Path, tmp_path: Path):
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["simulate", str(spec_file), "--out", str(out), "--energy-report",
                                       "--profile", "loihi"])
    assert result.exit_code == 2
    assert "a loihi row must come from a loihi compile" in result.output
    assert "Traceback" not in result.output and not out.exists()


def test_bad_profile_fails_before_simulating(spec_file: Path, tmp_path: Path):
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["simulate", str(spec_file), "--out", str(out), "--energy-report",
                                       "--profile", "cpu-45nm"])
    assert result.exit_code == 2 and "neuromorphic" in result.output
    assert not out.exists()
