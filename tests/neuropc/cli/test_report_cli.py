"""`neuropc report scaling`: BPTT's memory grows with T, tPC-RTRL's does not."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from neuropc.cli import main
from neuropc.spec import dump_spec
from tests.conftest import small_spec


def test_scaling_report_measures_each_length(copy_spec, tmp_path: Path):
    spec_path = tmp_path / "net.yaml"
    spec_path.write_text(dump_spec(small_spec(copy_spec)))
    result = CliRunner().invoke(main, ["report", "scaling", str(spec_path), "--lengths", "5,20,80",
                                       "--profile", "loihi", "--vs", "cpu-45nm", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "scaling.json").read_text())["rows"]
    assert [r["length"] for r in rows] == [5, 20, 80]
    assert len({r["rtrl_memory_bytes"] for r in rows}) == 1
    memory = [r["bptt_memory_bytes"] for r in rows]
    assert memory[0] < memory[1] < memory[2]
    energy = [r["rtrl_joules"] for r in rows]
    assert energy[0] < energy[1] < energy[2]  # measured work grows with the steps simulated
    assert (tmp_path / "scaling.png").read_bytes()[:4] == b"\x89PNG"


def test_bad_lengths_and_profiles_are_one_line_errors(copy_spec, tmp_path: Path):
    spec_path = tmp_path / "net.yaml"
    spec_path.write_text(dump_spec(small_spec(copy_spec)))
    runner = CliRunner()
    bad = runner.invoke(main, ["report", "scaling", str(spec_path), "--lengths", "10,x"])
    assert bad.exit_code == 2 and "--lengths" in bad.output
    short = runner.invoke(main, ["report", "scaling", str(spec_path), "--lengths", "2"])
    assert short.exit_code == 2 and "at least 3" in short.output
    profile = runner.invoke(main, ["report", "scaling", str(spec_path), "--lengths", "10", "--vs", "tpu-v9"])
    assert profile.exit_code == 2 and "tpu-v9" in profile.output
