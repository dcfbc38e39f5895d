"""Every kind of bad input a user can give, each refused the same way: exit status 2, no
traceback, at most 3 lines naming the problem, and nothing the user had created, changed or
removed (every file in the working folder is hashed before and after).

The cases stand for classes (issue 15): sizes without bounds or beyond memory, non-finite
numbers, pydantic internals, hardware-table errors without a line, YAML files of the wrong
kind, malformed members of a checksummed artifact, options that would silently mean
something else, and output paths that would replace a user's file. Nothing here simulates:
every refusal happens before the engine is touched, which is the point.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from compiler.program import FORMAT_VERSION
from tests.neuropc.cli.bad_input_helpers import (
    DELETE,
    ROOT,
    assert_refused,
    rewrite_member,
    run,
    small_spec_data,
    snapshot,
    with_payload,
    with_value,
    write_yaml,
)

NAN, INF = float("nan"), float("inf")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> Path:
    """One compiled artifact of the small spec, copied into every case's folder."""
    folder = tmp_path_factory.mktemp("compiled")
    spec = write_yaml(folder / "net.yaml", small_spec_data())
    result = run(["compile", spec, "-o", folder / "net.npc"])
    assert result.exit_code == 0, result.output
    return folder / "net.npc"


@dataclass(frozen=True)
class Case:
    id: str
    setup: Callable[[Path], list[object]]  # writes its inputs into the folder, returns argv
    fragments: tuple[str, ...]


def spec_case(id: str, path: str, value: object, *fragments: str, command: str = "check") -> Case:
    """``command`` on net.yaml with one field of the small spec set to ``value``."""
    def setup(folder: Path) -> list[object]:
        write_yaml(folder / "net.yaml", with_value(small_spec_data(), path, value))
        return [command, "net.yaml"]
    return Case(id, setup, fragments)


def text_case(id: str, text: str | bytes, *fragments: str, command: str = "check") -> Case:
    def setup(folder: Path) -> list[object]:
        target = folder / "net.yaml"
        target.write_bytes(text if isinstance(text, bytes) else text.encode())
        return [command, "net.yaml"]
    return Case(id, setup, fragments)


def profile_case(id: str, data: object, *fragments: str, option: str = "--profile") -> Case:
    """``simulate --energy-report`` with a cost profile file (profiles load before simulating)."""
    def setup(folder: Path) -> list[object]:
        write_yaml(folder / "profile.yaml", data)
        return ["simulate", "net.npc", "--energy-report", option, "profile.yaml"]
    return Case(id, setup, fragments)


def table_case(id: str, mutate: Callable[[dict], object], *fragments: str) -> Case:
    """``compile --target table.yaml`` with a mutated copy of the loihi2 table."""
    import yaml

    def setup(folder: Path) -> list[object]:
        table = yaml.safe_load((ROOT / "compiler" / "targets" / "loihi2.yaml").read_text())
        write_yaml(folder / "table.yaml", mutate(table))
        return ["compile", "net.yaml", "-o", "out.npc", "--target", "table.yaml"]
    return Case(id, setup, fragments)


def args_case(id: str, args: list[object], *fragments: str,
              prepare: Callable[[Path], None] | None = None) -> Case:
    def setup(folder: Path) -> list[object]:
        if prepare is not None:
            prepare(folder)
        return args
    return Case(id, setup, fragments)


def member_case(id: str, name: str, content: bytes | None, *fragments: str) -> Case:
    """``inspect`` of an artifact whose member was rewritten with the checksum fixed."""
    def setup(folder: Path) -> list[object]:
        rewrite_member(folder / "net.npc", folder / "bad.npc", name, content)
        return ["inspect", "bad.npc"]
    return Case(id, setup, fragments)


def _table(mutation: Callable[[dict], None]) -> Callable[[dict], dict]:
    def mutate(table: dict) -> dict:
        mutation(table)
        return table
    return mutate


def _bytes(folder: Path, name: str, mutate: Callable[[bytes], bytes]) -> None:
    (folder / name).write_bytes(mutate((folder / "net.npc").read_bytes()))


def _flip(data: bytes) -> bytes:
    out = bytearray(data)
    out[len(out) // 2] ^= 0xFF
    return bytes(out)


def _newer(data: bytes) -> bytes:
    out = bytearray(data)
    out[8:12] = (FORMAT_VERSION + 1).to_bytes(4, "little")
    return bytes(out)


def _user_file(name: str, text: str = "my notes\n") -> Callable[[Path], None]:
    def prepare(folder: Path) -> None:
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return prepare


def _dot_written(folder: Path) -> None:
    assert run(["inspect", folder / "net.npc", "--dot", folder / "graph.dot"]).exit_code == 0


def _run_folder(folder: Path) -> None:
    (folder / "old").mkdir()
    (folder / "old" / "metrics.jsonl").write_text("")
    (folder / "old" / "spec.yaml").write_text("name: x\n")


def _other_kind(source: Path) -> Callable[[Path], list[object]]:
    def setup(folder: Path) -> list[object]:
        shutil.copy(source, folder / "net.yaml")
        return ["check", "net.yaml"]
    return setup


PROFILE_OK = {"base": "loihi", "name": "mine",
              "constants": {"synaptic_op": {"value": 20.0, "unit": "pJ", "source": "bench", "provenance": "measured"}}}
HUGE = {"recurrent.size": 1_000_000, "readout.hidden": [1_000_000]}

CASES = [
    # -- specs: sizes, numbers, internals ------------------------------------------------
    spec_case("size-1e21", "recurrent.size", 1e21, "recurrent.size", "too large"),
    spec_case("batch-1e15", "run.batch", 1e15, "run.batch", "at most"),
    spec_case("eval-sequences-1e15", "run.eval_sequences", 1e15, "run.eval_sequences", "at most"),
    spec_case("hidden-1e12", "readout.hidden", [1e12], "readout.hidden", "at most"),
    spec_case("input-size-huge", "input.size", 10**9, "input.size", "at most"),
    spec_case("steps-huge", "run.steps", 10**12, "run.steps", "at most"),
    spec_case("too-many-layers", "readout.hidden", [4] * 100, "readout.hidden", "at most 64"),
    spec_case("memory-at-check", "readout.hidden", [1_000_000, 1_000_000], "memory", "net.yaml:", "available"),
    spec_case("memory-at-train", "readout.hidden", [1_000_000, 1_000_000], "memory", "lower", command="train"),
    spec_case("lr-nan", "rule.optimizer.lr", NAN, "rule.optimizer.lr", "must be a finite number"),
    spec_case("lr-inf", "rule.optimizer.lr", INF, "rule.optimizer.lr", "must be a finite number"),
    spec_case("step-minus-inf", "rule.inference.step", -INF, "rule.inference.step", "finite"),
    spec_case("radius-nan", "recurrent.radius", [NAN, 0.9], "recurrent.radius", "finite"),
    spec_case("max-phase-nan", "recurrent.max_phase", NAN, "recurrent.max_phase", "finite"),
    spec_case("size-nan", "recurrent.size", NAN, "recurrent.size", "finite"),
    spec_case("threshold-inf", "hardware.event_threshold", INF, "hardware.event_threshold", "finite"),
    spec_case("rule-not-mapping", "rule", "fast", "rule", "must be a mapping"),
    spec_case("run-is-list", "run", [1, 2], "run", "must be a mapping"),
    spec_case("unknown-rule", "rule.name", "backprop", "rule.name"),
    spec_case("unknown-key", "recurrent.sise", 8, "recurrent.sise", "unknown key"),
    spec_case("missing-section", "recurrent", DELETE, "recurrent", "required field is missing"),
    spec_case("unknown-task", "task.name", "sorting", "unknown task", "copy"),
    spec_case("negative-steps", "run.steps", -1, "run.steps", "at least 0"),
    spec_case("negative-checkpoint", "run.checkpoint_every", -5, "run.checkpoint_every"),
    spec_case("size-text", "recurrent.size", "big", "recurrent.size", "whole number"),
    spec_case("size-fraction", "recurrent.size", 6.5, "recurrent.size", "whole number"),
    # -- specs: the hardware section, with file:line -------------------------------------
    spec_case("override-nan", "hardware.overrides", {"weight_bits": NAN},
              "net.yaml:", "hardware.overrides.weight_bits", "must be a finite number"),
    spec_case("override-inf", "hardware.overrides", {"weight_bits": INF}, "weight_bits", "finite"),
    spec_case("override-fraction", "hardware.overrides", {"weight_bits": 2.5}, "weight_bits", "whole number"),
    spec_case("override-text", "hardware.overrides", {"weight_bits": "eight"}, "weight_bits", "whole number"),
    spec_case("override-unknown", "hardware.overrides", {"wieght_bits": 8},
              "net.yaml:", "hardware.overrides.wieght_bits", "unknown constant"),
    spec_case("override-huge", "hardware.overrides", {"weight_bits": 10**15}, "weight_bits", "at most"),
    spec_case("override-mesh", "hardware.overrides", {"mesh_rows": 3}, "net.yaml:", "mesh_rows x mesh_cols"),
    spec_case("unknown-target", "hardware.target", "truenorth", "net.yaml:", "hardware.target", "known targets"),
    spec_case("unknown-target-compile", "hardware.target", "truenorth", "hardware.target", command="compile"),
    # -- spec files: kinds, encodings, YAML ----------------------------------------------
    Case("spec-is-a-profile", _other_kind(ROOT / "hwsim" / "profiles" / "loihi.yaml"),
         ("this is a cost profile, not a network spec",)),
    Case("spec-is-a-target-table", _other_kind(ROOT / "compiler" / "targets" / "loihi2.yaml"),
         ("this is a hardware target table, not a network spec",)),
    text_case("empty-spec", "", "empty"),
    text_case("list-spec", "- 1\n- 2\n", "mapping"),
    text_case("malformed-yaml", "name: [unclosed\n", "malformed YAML"),
    text_case("duplicate-key", "name: a\nname: b\n", "duplicate key"),
    text_case("binary-spec", b"\x00\x01\x02PK", "binary"),
    text_case("latin1-spec", "name: caf\xe9\n".encode("latin-1"), "UTF-8"),
    args_case("spec-is-a-folder", ["check", "somewhere"], "is a folder",
              prepare=lambda folder: (folder / "somewhere").mkdir()),
    args_case("spec-missing", ["check", "absent.yaml"], "no such file"),
    # -- cost profiles -------------------------------------------------------------------
    Case("profile-is-a-spec", lambda folder: ["simulate", "net.npc", "--energy-report", "--profile", "net.yaml"],
         ("network spec, not a cost profile",)),
    profile_case("profile-base-is-a-spec", {**PROFILE_OK, "base": "net.yaml"}, "network spec, not a cost profile"),
    Case("profile-is-a-table",
         lambda folder: ["simulate", "net.npc", "--energy-report", "--profile",
                         str(ROOT / "compiler" / "targets" / "loihi2.yaml")],
         ("hardware target table, not a cost profile",)),
    args_case("profile-empty", ["simulate", "net.npc", "--energy-report", "--profile", ""], "--profile is empty"),
    args_case("vs-empty", ["simulate", "net.npc", "--energy-report", "--vs", " "], "--vs is empty"),
    profile_case("profile-value-nan",
                 with_value(PROFILE_OK, "constants.synaptic_op.value", NAN), "synaptic_op", "finite number"),
    profile_case("profile-unknown-unit",
                 with_value(PROFILE_OK, "constants.synaptic_op.unit", "furlongs"), "unknown unit"),
    profile_case("profile-no-source", with_value(PROFILE_OK, "constants.synaptic_op.source", DELETE), "source"),
    profile_case("profile-negative",
                 with_value(PROFILE_OK, "constants.synaptic_op.value", -1.0), "negative energy"),
    profile_case("profile-not-mapping", with_value(PROFILE_OK, "constants", [1, 2]), "constants"),
    args_case("profile-folder", ["simulate", "net.npc", "--energy-report", "--profile", "pdir/"], "is a folder",
              prepare=lambda folder: (folder / "pdir").mkdir()),
    args_case("profile-conventional-as-chip", ["simulate", "net.npc", "--energy-report", "--profile", "gpu-h100"],
              "conventional profile"),
    args_case("profile-unknown-name", ["simulate", "net.npc", "--energy-report", "--profile", "loihi9"],
              "unknown cost profile"),
    # -- hardware target tables (--target FILE) ------------------------------------------
    table_case("table-value-nan", _table(lambda t: t["constants"]["weight_bits"].update(value=NAN)),
               "table.yaml:", "weight_bits", "finite number"),
    table_case("table-value-huge", _table(lambda t: t["constants"]["weight_bits"].update(value=10**30)),
               "table.yaml:", "between 0"),
    table_case("table-missing-constant", _table(lambda t: t["constants"].pop("mesh_rows")), "missing constants"),
    table_case("table-bad-provenance", _table(lambda t: t["constants"]["mesh_rows"].update(provenance="rumour")),
               "provenance"),
    table_case("table-no-constants", _table(lambda t: t.pop("constants")), "constants"),
    table_case("table-is-a-profile", lambda t: PROFILE_OK, "cost profile, not a hardware target table"),
    args_case("target-empty", ["compile", "net.yaml", "-o", "out.npc", "--target", ""], "--target is empty"),
    args_case("target-unknown", ["compile", "net.yaml", "-o", "out.npc", "--target", "truenorth"],
              "--target", "known targets"),
    # -- command-line options ------------------------------------------------------------
    args_case("lengths-empty-item", ["report", "scaling", "net.yaml", "--lengths", "10,,100"], "empty item"),
    args_case("lengths-zero", ["report", "scaling", "net.yaml", "--lengths", "0,10"], "positive"),
    args_case("lengths-text", ["report", "scaling", "net.yaml", "--lengths", "ten"], "whole numbers"),
    args_case("scaling-threshold-nan", ["report", "scaling", "net.yaml", "--lengths", "10", "--threshold", "nan"],
              "threshold"),
    args_case("steps-0-energy", ["simulate", "net.npc", "--steps", "0", "--energy-report"], "--steps 0"),
    args_case("batch-1e12", ["simulate", "net.npc", "--batch", "1000000000000"], "--batch"),
    args_case("threshold-text", ["simulate", "net.npc", "--threshold", "abc"], "not a number"),
    args_case("threshold-negative", ["simulate", "net.npc", "--threshold", "-1"], "threshold"),
    args_case("threshold-nan", ["simulate", "net.npc", "--threshold", "nan"], "finite"),
    args_case("threshold-population", ["simulate", "net.npc", "--threshold", "spikes=1"], "not a population"),
    args_case("format-unknown", ["simulate", "net.npc", "--format", "bfloat16"], "--format"),
    args_case("backend-unknown", ["simulate", "net.npc", "--backend", "gpu"], "--backend"),
    args_case("train-steps-negative", ["train", "net.yaml", "--steps", "-1"], "--steps"),
    args_case("inspect-core-range", ["inspect", "net.npc", "--core", "999"], "--core 999"),
    args_case("resume-missing", ["train", "--resume", "nowhere"], "no such run folder"),
    args_case("resume-with-spec", ["train", "net.yaml", "--resume", "old"], "--resume DIR continues",
              prepare=_run_folder),
    args_case("resume-no-checkpoint", ["train", "--resume", "old"], "no checkpoint.npz", prepare=_run_folder),
    args_case("train-nothing", ["train"], "give a spec"),
    # -- artifacts -----------------------------------------------------------------------
    args_case("artifact-empty", ["inspect", "empty.npc"], "empty file", prepare=_user_file("empty.npc", "")),
    args_case("artifact-folder", ["inspect", "adir"], "is a folder", prepare=lambda folder: (folder / "adir").mkdir()),
    args_case("artifact-missing", ["inspect", "absent.npc"], "no such"),
    args_case("artifact-text", ["inspect", "notes.npc"], "not a neuropc artifact", prepare=_user_file("notes.npc")),
    args_case("artifact-truncated", ["inspect", "cut.npc"], "truncated",
              prepare=lambda folder: _bytes(folder, "cut.npc", lambda data: data[: len(data) // 2])),
    args_case("artifact-header-only", ["inspect", "head.npc"], "truncated",
              prepare=lambda folder: _bytes(folder, "head.npc", lambda data: data[:20])),
    args_case("artifact-flipped", ["inspect", "flip.npc"], "corrupted",
              prepare=lambda folder: _bytes(folder, "flip.npc", _flip)),
    args_case("artifact-newer", ["inspect", "new.npc"], "upgrade neuropc",
              prepare=lambda folder: _bytes(folder, "new.npc", _newer)),
    args_case("artifact-not-zip", ["inspect", "junk.npc"], "malformed",
              prepare=lambda folder: with_payload(folder / "junk.npc", b"not a zip at all", FORMAT_VERSION)),
    member_case("program-json-list", "program.json", b"[]", "program.json"),
    member_case("manifest-json-empty", "manifest.json", b"{}", "manifest.json"),
    member_case("report-json-text", "report.json", b'"x"', "report.json"),
    member_case("program-json-garbage", "program.json", b"{not json", "program.json"),
    member_case("params-missing", "params.npz", None, "params.npz is missing"),
    member_case("channels-garbage", "channels.npz", b"\x00" * 64, "channels.npz"),
    member_case("program-json-empty-object", "program.json", b"{}", "program.json"),
    args_case("simulate-empty-artifact", ["simulate", "empty.npc"], "empty file",
              prepare=_user_file("empty.npc", "")),
    # -- output paths --------------------------------------------------------------------
    args_case("dot-onto-spec", ["inspect", "net.npc", "--dot", "net.yaml"], "not a DOT graph written by neuropc"),
    args_case("dot-onto-spec-force", ["inspect", "net.npc", "--dot", "net.yaml", "--force"],
              "not a DOT graph written by neuropc"),
    args_case("dot-onto-artifact", ["inspect", "net.npc", "--dot", "net.npc", "--force"], "input file itself"),
    args_case("dot-again-without-force", ["inspect", "net.npc", "--dot", "graph.dot"], "--force",
              prepare=_dot_written),
    args_case("dot-into-folder", ["inspect", "net.npc", "--dot", "adir"], "is a folder",
              prepare=lambda folder: (folder / "adir").mkdir()),
    args_case("compile-onto-notes", ["compile", "net.yaml", "-o", "notes.txt"], "not a neuropc artifact",
              prepare=_user_file("notes.txt")),
    args_case("compile-onto-notes-force", ["compile", "net.yaml", "-o", "notes.txt", "--force"],
              "refusing to replace", prepare=_user_file("notes.txt")),
    args_case("compile-onto-artifact", ["compile", "net.yaml", "-o", "net.npc"], "--force"),
    args_case("compile-onto-spec", ["compile", "net.yaml", "-o", "net.yaml", "--force"], "overwrite the spec"),
    args_case("compile-missing-folder", ["compile", "net.yaml", "-o", "nowhere/out.npc"], "does not exist"),
    args_case("train-out-is-file", ["train", "net.yaml", "--out", "notes.txt"], "not a folder",
              prepare=_user_file("notes.txt")),
    args_case("train-out-user-folder", ["train", "net.yaml", "--out", "mine", "--force"], "did not write",
              prepare=_user_file("mine/thesis.tex")),
    args_case("train-out-run-folder", ["train", "net.yaml", "--out", "old"], "not empty", prepare=_run_folder),
    args_case("simulate-out-user-folder", ["simulate", "net.npc", "--out", "mine", "--force"], "did not write",
              prepare=_user_file("mine/data.csv")),
    args_case("scaling-onto-user-json", ["report", "scaling", "net.yaml", "--lengths", "10", "--force"],
              "scaling.json", "not a scaling report", prepare=_user_file("scaling.json", "{}")),
    args_case("scaling-out-is-file", ["report", "scaling", "net.yaml", "--lengths", "10", "--out", "notes.txt"],
              "not a folder", prepare=_user_file("notes.txt")),
]


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 60
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_is_one_message_and_touches_nothing(case: Case, compiled: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_yaml(tmp_path / "net.yaml", small_spec_data())
    shutil.copy(compiled, tmp_path / "net.npc")
    args = case.setup(tmp_path)
    before = snapshot(tmp_path)
    assert_refused(run(args), case.fragments, before, tmp_path)


def test_a_dot_file_neuropc_wrote_is_replaced_with_force(compiled: Path, tmp_path: Path) -> None:
    """The other side of the output rule: neuropc's own file, with --force, is replaced."""
    dot = tmp_path / "graph.dot"
    assert run(["inspect", compiled, "--dot", dot]).exit_code == 0
    result = run(["inspect", compiled, "--dot", dot, "--level", "cores", "--force"])
    assert result.exit_code == 0, result.output
    assert "digraph cores" in dot.read_text()
