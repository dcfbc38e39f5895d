"""Sweep files without running anything: expansion order, settings applied to the base spec,
trial names, and the Python form that bench scripts use."""

from __future__ import annotations

from pathlib import Path

import pytest

from neuropc.errors import NeuropcError
from neuropc.spec import load_spec
from neuropc.sweep import build_sweep, load_sweep
from neuropc.sweep.naming import MAX_NAME, trial_name
from tests.neuropc.sweep.sweep_helpers import tiny_spec_data, write_sweep

ROOT = Path(__file__).resolve().parents[3]


def test_the_grid_is_a_product_in_file_order_and_trials_follow(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, {"command": "train", "grid": {"rule.name": ["tpc", "bptt"], "run.seed": [0, 1, 2]},
                                  "trials": [{"rule.name": "spatial-bp"}], "overrides": {"run.steps": 2}})
    sweep = load_sweep(path)
    assert [t.name for t in sweep.trials] == [
        *(f"rule.name={r},run.seed={s}" for r in ("tpc", "bptt") for s in (0, 1, 2)), "rule.name=spatial-bp"]
    assert all(t.spec.run.steps == 2 for t in sweep.trials)
    assert [(t.spec.rule.name, t.spec.run.seed) for t in sweep.trials[:2]] == [("tpc", 0), ("tpc", 1)]
    assert sweep.varying == ("rule.name", "run.seed")


def test_settings_equal_the_command_lines_overrides(tmp_path: Path) -> None:
    """A trial's spec is the base with its settings, as `neuropc train --rule --seed` makes it."""
    path = write_sweep(tmp_path, {"command": "train", "grid": {"rule.name": ["bptt"], "run.seed": [7]}})
    (trial,) = load_sweep(path).trials
    assert trial.spec == load_spec(tmp_path / "net.yaml").with_overrides({"rule.name": "bptt", "run.seed": 7})


def test_a_section_the_base_leaves_out_is_made_and_a_trial_may_replace_an_override(tmp_path: Path) -> None:
    base = tiny_spec_data()
    del base["hardware"]
    path = write_sweep(tmp_path, {"command": "simulate", "grid": {"hardware.event_threshold.activity": [0.2]},
                                  "trials": [{"hardware.event_threshold": 0}],
                                  "overrides": {"hardware.event_threshold.error": 0.002}}, base=base)
    first, exact = load_sweep(path).trials
    assert (first.spec.hardware.event_threshold.activity, first.spec.hardware.event_threshold.error) == (0.2, 0.002)
    assert (exact.spec.hardware.event_threshold.activity, exact.spec.hardware.event_threshold.error) == (0, 0)
    assert first.spec.hardware.target == "loihi2"


def test_an_inline_base_and_simulate_options(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, {"command": "simulate", "base": tiny_spec_data(),
                                  "grid": {"simulate.format": ["float64", "float32"]},
                                  "overrides": {"simulate.dense": True}})
    sweep = load_sweep(path)
    assert [(t.options.format, t.options.dense, t.options.backend) for t in sweep.trials] == [
        ("float64", True, "native"), ("float32", True, "native")]
    assert sweep.trials[0].settings == (("simulate.format", "float64"),)


def test_profile_files_are_relative_to_the_sweep_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    profile = ROOT / "hwsim" / "profiles" / "loihi2-estimate.yaml"
    (tmp_path / "sub" / "chip.yaml").write_text(profile.read_text())
    write_sweep(tmp_path / "sub", {})
    path = write_sweep(tmp_path / "sub", {"command": "simulate", "energy_report": True, "grid": {"run.seed": [0]},
                                          "overrides": {"simulate.profile": "chip.yaml"}})
    (trial,) = load_sweep(path).trials
    assert trial.options.profile == str((tmp_path / "sub" / "chip.yaml").resolve())


def test_trial_names_are_stable_safe_and_distinct() -> None:
    assert trial_name([("rule.name", "bptt"), ("run.seed", 1)]) == "rule.name=bptt,run.seed=1"
    assert trial_name([("hardware.event_threshold.activity", 0.05)]) == "hardware.event_threshold.activity=0.05"
    assert trial_name([]) == "base"
    unsafe = trial_name([("task.data", "../corpus/a b.txt")])
    assert "/" not in unsafe and " " not in unsafe and unsafe.startswith("task.data=.._corpus_a_b.txt-")
    assert unsafe != trial_name([("task.data", "../corpus/a_b.txt")])
    assert trial_name([("task.data", "../corpus/a b.txt")]) == unsafe  # stable
    long = [(f"rule.optimizer.lr{i}", 0.001) for i in range(12)]
    assert len(trial_name(long)) <= MAX_NAME and trial_name(long) != trial_name(long[:-1] + [("x", 1)])
    assert trial_name([("hardware.event_threshold", {"activity": 0.2, "error": 0.002})]).count("-") == 1


def test_build_sweep_takes_a_spec_and_a_list_of_settings(tmp_path: Path) -> None:
    write_sweep(tmp_path, {})
    base = load_spec(tmp_path / "net.yaml")
    sweep = build_sweep(base, trials=[{"rule.name": "tpc"}, {"run.seed": 4}], overrides={"run.steps": 1})
    assert [t.name for t in sweep.trials] == ["rule.name=tpc", "run.seed=4"]
    assert sweep.trials[1].spec == base.with_overrides({"run.seed": 4, "run.steps": 1})
    with pytest.raises(NeuropcError, match=r"<sweep>: rule.nme: unknown key .* \(trial rule.nme=tpc\)"):
        build_sweep(base, trials=[{"rule.nme": "tpc"}])
    with pytest.raises(NeuropcError, match="nothing to sweep"):
        build_sweep(base)


def test_the_shipped_example_loads() -> None:
    sweep = load_sweep(ROOT / "examples" / "sweep_thresholds.yaml")
    assert sweep.command == "simulate" and sweep.energy_report
    thresholds = [(t.spec.hardware.event_threshold.activity, t.spec.hardware.event_threshold.error)
                  for t in sweep.trials]
    assert thresholds == [(0.002, 0.002), (0.02, 0.002), (0.05, 0.002), (0.2, 0.002), (0.0, 0.0)]
    assert {(t.spec.run.steps, t.spec.run.batch) for t in sweep.trials} == {(3000, 32)}
