"""`neuropc simulate --energy-report` as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hwsim.counters import WorkCounts
from neuropc.cli import main
from neuropc.spec import dump_spec
from tests.conftest import small_spec


@pytest.fixture
def spec_file(copy_spec, tmp_path: Path) -> Path:
    path = tmp_path / "net.yaml"
    path.write_text(dump_spec(small_spec(copy_spec, **{"run.batch": 4, "run.eval_sequences": 4})))
    return path


def test_energy_report_prices_the_runs_own_counts(spec_file: Path, tmp_path: Path):
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["simulate", str(spec_file), "--steps", "2", "--out", str(out),
                                       "--energy-report", "--profile", "loihi", "--vs", "cpu-45nm"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "energy.json").read_text())
    counters = json.loads((out / "counters.json").read_text())
    training = report["training"]
    assert training["neuromorphic"]["profile"] == "loihi"
    assert training["conventional"]["profile"] == "cpu-45nm"
    assert training["conventional_over_neuromorphic"] == pytest.approx(
        training["conventional"]["joules"] / training["neuromorphic"]["joules"])
    assert report["settings"]["training_sequences"] == 8
    total = WorkCounts.from_dict(counters["training"]["total"])
    assert training["counts_per_unit"]["messages"] == pytest.approx(total.messages / 8)
    assert "BPTT / tPC-RTRL energy per training sequence" in result.output
    assert "[simulated]" in result.output and "[derived]" in result.output
    assert (out / "energy.png").read_bytes()[:4] == b"\x89PNG"


def test_bad_profile_fails_before_simulating(spec_file: Path, tmp_path: Path):
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["simulate", str(spec_file), "--out", str(out), "--energy-report",
                                       "--profile", "cpu-45nm"])
    assert result.exit_code == 2 and "neuromorphic" in result.output
    assert not out.exists()
