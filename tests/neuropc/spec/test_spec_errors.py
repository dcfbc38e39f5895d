"""Bad specs exit non-zero with one clear message naming file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from neuropc.cli import main
from neuropc.spec import dump_spec, load_spec, parse_spec
from tests.conftest import ROOT

EXAMPLE = (ROOT / "examples" / "copy.yaml").read_text()


def edited(old: str, new: str) -> str:
    assert old in EXAMPLE, old
    return EXAMPLE.replace(old, new, 1)


def line_of(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


BAD_SPECS = {
    "missing field": (edited("  output: 9\n", ""), ["readout.output", "required field is missing"]),
    "wrong type": (edited("size: 128", "size: lots"), ["recurrent.size", "whole number", "'lots'"]),
    "negative size": (edited("size: 128", "size: -4"), ["recurrent.size", "greater than 0", "-4"]),
    "unknown rule": (edited("name: tpc-rtrl", "name: hebbian"), ["rule.name", "'tpc-rtrl'", "hebbian"]),
    "unknown key": (edited("  gamma: fixed", "  gamma: fixed\n  gama: 2"), ["recurrent.gama", "unknown key"]),
    "unstable radius": (edited("[0.9, 0.999]", "[0.9, 1.2]"), ["recurrent.radius", "< 1"]),
    "size disagrees with task": (edited("size: 11", "size: 12"), ["input.size", "feeds 11"]),
    "bptt online": (edited("name: tpc-rtrl", "name: bptt").replace("update: sequence", "update: online"),
                    ["rule.update", "bptt"]),
    "step out of range": (edited("step: 1.0", "step: 7.5"), ["rule.inference.step", "must be at most 2", "7.5"]),
    "precision zero": (edited("fixed_prediction: true", "fixed_prediction: true\n    output_precision: 0"),
                       ["rule.inference.output_precision", "must be at least 0.000001", "(got 0)"]),
    "precision above one": (edited("fixed_prediction: true", "fixed_prediction: true\n    output_precision: 2"),
                            ["rule.inference.output_precision", "at most 1", "2"]),
    "duplicate key": (edited("  complex: true", "  complex: true\n  complex: false"), ["duplicate key 'complex'"]),
    "malformed yaml": (edited("radius: [0.9, 0.999]", "radius: [0.9, 0.999"), ["malformed YAML"]),
    "empty file": ("", ["spec is empty"]),
    "negative threshold": (EXAMPLE + "hardware:\n  event_threshold: -0.1\n",
                           ["hardware.event_threshold", ">= 0", "-0.1"]),
    "threshold population": (EXAMPLE + "hardware:\n  event_threshold: {activity: 0.1, errors: 0.01}\n",
                             ["hardware.event_threshold.errors", "unknown key"]),
    "threshold not a number": (EXAMPLE + "hardware:\n  event_threshold: high\n",
                               ["hardware.event_threshold", "{activity: A, error: E}"]),
    "not a mapping": ("- 1\n- 2\n", ["must be a mapping"]),
    "unknown task": (edited("  name: copy\n", "  name: wordlm\n"),
                     ["task.name", "unknown task 'wordlm'", "known: charlm, copy, sysid"]),
    "task without a name": (edited("  name: copy\n", ""), ["task.name", "required field is missing", "copy"]),
    "bad task field": (edited("  delay: 10", "  delay: 0"), ["task.delay", "greater than 0"]),
}


@pytest.mark.parametrize("name", list(BAD_SPECS))
def test_bad_spec_gives_one_clear_message(tmp_path: Path, name: str):
    text, fragments = BAD_SPECS[name]
    path = tmp_path / "net.yaml"
    path.write_text(text)
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    message = result.output.strip()
    assert message.startswith(f"error: {path}")
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_errors_point_at_the_yaml_line(tmp_path: Path):
    text = edited("size: 128", "size: -4")
    with pytest.raises(Exception) as info:
        parse_spec(text, "net.yaml")
    assert f"net.yaml:{line_of(text, 'size: -4')}: recurrent.size" in str(info.value)


def test_missing_file_and_directory(tmp_path: Path):
    runner = CliRunner()
    missing = runner.invoke(main, ["check", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2 and "no such file" in missing.output
    folder = runner.invoke(main, ["check", str(tmp_path)])
    assert folder.exit_code == 2 and "is a folder" in folder.output


def test_check_prints_a_summary():
    result = CliRunner().invoke(main, ["check", str(ROOT / "examples" / "copy.yaml")])
    assert result.exit_code == 0, result.output
    assert "lru" in result.output and "37,129" in result.output and "tpc-rtrl" in result.output


def test_resolved_spec_round_trips():
    spec = load_spec(ROOT / "examples" / "copy.yaml")
    assert parse_spec(dump_spec(spec)) == spec


def test_bad_override_on_the_command_line(tmp_path: Path):
    path = tmp_path / "net.yaml"
    path.write_text(edited("update: sequence", "update: online"))
    result = CliRunner().invoke(main, ["train", str(path), "--rule", "bptt", "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert "overrides make the spec invalid" in result.output and "bptt" in result.output


@pytest.mark.parametrize(("written", "activity", "error"), [
    ("0.02", 0.02, 0.02), ("{activity: 0.05, error: 0.002}", 0.05, 0.002), ("{error: 0.001}", 0.0, 0.001),
])
def test_event_threshold_is_one_number_or_one_per_population(written: str, activity: float, error: float):
    spec = parse_spec(EXAMPLE + f"hardware:\n  event_threshold: {written}\n")
    assert spec.hardware.event_threshold.activity == activity
    assert spec.hardware.event_threshold.error == error
    assert parse_spec(dump_spec(spec)) == spec


def test_unknown_task_points_at_its_name_line_and_lists_the_known_tasks():
    text = edited("  name: copy\n", "  name: quadrotor\n")
    with pytest.raises(Exception) as info:
        parse_spec(text, "net.yaml")
    assert str(info.value) == (f"net.yaml:{line_of(text, 'name: quadrotor')}: task.name: unknown task "
                               "'quadrotor'; known: charlm, copy, sysid")


def test_compiler_refuses_an_output_precision_hwsim_does_not_run(tmp_path: Path):
    text = edited("fixed_prediction: true", "fixed_prediction: true\n    output_precision: 0.1")
    path = tmp_path / "net.yaml"
    path.write_text(text)
    assert CliRunner().invoke(main, ["check", str(path)]).exit_code == 0  # the reference runs it
    result = CliRunner().invoke(main, ["compile", str(path), "-o", str(tmp_path / "net.npc")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert f"{path}:{line_of(text, 'output_precision')}: rule.inference.output_precision" in result.output
    assert not (tmp_path / "net.npc").exists()
