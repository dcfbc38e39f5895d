"""Bad sweep files and options, refused as every bad input is (tests/neuropc/cli/test_bad_inputs.py):
exit status 2, no traceback, at most 3 lines naming the file, line and field, nothing created
or changed, and no cluster started (every trial is validated first)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.neuropc.cli.bad_input_helpers import assert_refused, run, snapshot, write_yaml
from tests.neuropc.sweep.sweep_helpers import tiny_spec_data, write_sweep

TRAIN = {"command": "train", "grid": {"run.seed": [0, 1]}}
SIMULATE = {"command": "simulate", "grid": {"run.seed": [0, 1]}}


@dataclass(frozen=True)
class Case:
    id: str
    sweep: dict | str  # the sweep file (a mapping, or its text)
    fragments: tuple[str, ...]
    args: tuple[str, ...] = ()
    prepare: Callable[[Path], None] | None = field(default=None)


def case(id: str, sweep: dict | str, *fragments: str, args: tuple[str, ...] = (),
         prepare: Callable[[Path], None] | None = None) -> Case:
    return Case(id, sweep, fragments, args, prepare)


def _user_folder(folder: Path) -> None:
    (folder / "mine").mkdir()
    (folder / "mine" / "thesis.tex").write_text("mine")


def _user_file_in_a_trial_folder(folder: Path) -> None:
    trial = folder / "out" / "runs" / "run.seed=0"
    trial.mkdir(parents=True)
    (folder / "out" / "sweep.json").write_text('{"source": "sweep.yaml", "trials": {}}')
    (trial / "notes.txt").write_text("mine")


CASES = [
    case("grid-value-invalid", {**TRAIN, "grid": {"rule.name": ["tpc", "nope"]}},
         "sweep.yaml:6:", "rule.name", "trial rule.name=nope"),
    case("grid-path-unknown", {**TRAIN, "grid": {"rule.nme": ["tpc"]}}, "sweep.yaml:5:", "unknown key"),
    case("top-key-unknown", {**TRAIN, "gird": {"run.seed": [1]}}, "sweep.yaml:7:", "gird", "sweep file"),
    case("base-missing", {"command": "train", "grid": {"run.seed": [0]}, "base": None}, "base"),
    case("base-file-missing", {**TRAIN, "base": "nowhere.yaml"}, "nowhere.yaml", "no such file"),
    case("command-unknown", {**TRAIN, "command": "compile"}, "sweep.yaml:2:", "command"),
    case("grid-not-a-list", {**TRAIN, "grid": {"rule.name": "bptt"}}, "sweep.yaml:4:", "must be a list"),
    case("grid-empty-list", {**TRAIN, "grid": {"rule.name": []}}, "sweep.yaml:4:", "at least 1"),
    case("nothing-to-sweep", {"command": "train"}, "nothing to sweep"),
    case("trials-entry-not-a-mapping", {"command": "train", "trials": ["bptt"]}, "sweep.yaml:4:", "trials.0"),
    case("grid-path-in-overrides", {**TRAIN, "overrides": {"run.seed": 3}}, "run.seed", "also set by"),
    case("section-inside-overridden-section", {**TRAIN, "overrides": {"run": {"steps": 2}, "run.steps": 3}},
         "also set by"),
    case("trial-written-twice", {**TRAIN, "trials": [{"run.seed": 1}]}, "sweep.yaml:8:", "written twice"),
    case("path-not-dotted", {**TRAIN, "grid": {"run..seed": [1]}}, "not a dotted path"),
    case("path-through-a-number", {**TRAIN, "grid": {"run.seed.x": [1]}}, "sweep.yaml:5:", "not a section"),
    case("simulate-option-with-train", {**TRAIN, "overrides": {"simulate.format": "float32"}},
         "simulate options apply to command: simulate"),
    case("simulate-option-unknown", {**SIMULATE, "overrides": {"simulate.formt": "float32"}},
         "sweep.yaml:", "simulate.formt", "unknown key"),
    case("number-format-unknown", {**SIMULATE, "grid": {"simulate.format": ["float16"]}},
         "sweep.yaml:5:", "simulate.format", "unknown number format"),
    case("backend-unknown", {**SIMULATE, "overrides": {"simulate.backend": "gpu"}}, "simulate.backend",
         "unknown backend"),
    case("profile-without-energy-report", {**SIMULATE, "overrides": {"simulate.profile": "loihi"}},
         "simulate.profile", "energy_report"),
    case("profile-of-the-wrong-kind",
         {**SIMULATE, "energy_report": True, "overrides": {"simulate.profile": "gpu-h100"}},
         "simulate.profile", "conventional"),
    case("energy-report-with-train", {**TRAIN, "energy_report": True}, "sweep.yaml:7:", "command: simulate"),
    case("energy-report-of-no-training", {**SIMULATE, "energy_report": True, "overrides": {"run.steps": 0}},
         "run.steps", "is 0"),
    case("trial-beyond-memory", {**TRAIN, "grid": {"recurrent.size": [999_999], "run.batch": [1_000_000]}},
         "sweep.yaml:", "run.batch", "memory", "trial recurrent.size=999999"),
    case("sizes-that-disagree", {**TRAIN, "grid": {"task.vocab": [4]}}, "sweep.yaml:", "input.size",
         "trial task.vocab=4"),
    case("target-table-override-unknown", {**SIMULATE, "overrides": {"hardware.overrides": {"warp_bits": 3}}},
         "sweep.yaml:", "warp_bits"),
    case("inline-base-invalid", {**TRAIN, "base": {**tiny_spec_data(), "recurrent": {"size": -4}}},
         "sweep.yaml:", "recurrent.size", "greater than 0"),
    case("a-network-spec", "spec", "this is a network spec, not a sweep file"),
    case("malformed-yaml", "base: [net.yaml\ncommand: train\n", "sweep.yaml:", "malformed YAML"),
    case("out-is-a-user-folder", TRAIN, "not a sweep folder", args=("--out", "mine"), prepare=_user_folder),
    case("user-file-in-a-trial-folder", TRAIN, "notes.txt", "did not write", args=("--out", "out"),
         prepare=_user_file_in_a_trial_folder),
    case("workers-with-a-scheduler", TRAIN, "--workers", args=("--scheduler", "tcp://127.0.0.1:1", "--workers", "2")),
    case("scheduler-empty", TRAIN, "--scheduler is empty", args=("--scheduler", " ")),
]


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 30
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_bad_sweep_is_one_message_and_touches_nothing(case: Case, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    if case.sweep == "spec":
        write_yaml(tmp_path / "sweep.yaml", tiny_spec_data())
    elif isinstance(case.sweep, str):
        (tmp_path / "sweep.yaml").write_text(case.sweep)
    else:
        write_sweep(tmp_path, {key: value for key, value in case.sweep.items() if key != "base"})
        data = {"base": case.sweep.get("base", "net.yaml"), **case.sweep}
        write_yaml(tmp_path / "sweep.yaml", {k: v for k, v in data.items() if v is not None})
    if case.prepare is not None:
        case.prepare(tmp_path)
    before = snapshot(tmp_path)
    assert_refused(run(["sweep", "sweep.yaml", *case.args]), case.fragments, before, tmp_path)


def test_check_names_a_sweep_file_given_as_a_spec(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, TRAIN)
    assert_refused(run(["check", path]), ["this is a sweep file, not a network spec"])
