"""`neuropc compile` and `neuropc inspect`: reports, artifacts and one-message errors."""

from __future__ import annotations

import shutil

import pytest
import yaml
from click.testing import CliRunner

from compiler.program import FORMAT_VERSION
from neuropc.cli import main
from tests.compiler.npc_specs import COPY_YAML


def _run(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture()
def spec_file(tmp_path):
    path = tmp_path / "copy.yaml"
    shutil.copy(COPY_YAML, path)
    return path


def _variant(tmp_path, **changes) -> str:
    data = yaml.safe_load(COPY_YAML.read_text())
    for dotted, value in changes.items():
        node = data
        keys = dotted.split(".")
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    path = tmp_path / "variant.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def _one_error(result, *fragments: str) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.output
    for fragment in fragments:
        assert fragment in result.output, (fragment, result.output)
    return result.output


def test_compile_prints_the_resource_report(spec_file) -> None:
    result = _run("compile", str(spec_file), "--target", "loihi")
    assert result.exit_code == 2  # the copy spec trains with Adam, which Loihi cannot run
    _one_error(result, "cannot apply optimizer 'adam'", "sums of products")
    result = _run("compile", str(spec_file), "--force")
    assert result.exit_code == 0, result.output
    out = result.output
    for fragment in ("target loihi2", "parameters 37,129", "cores 5 on 1 chip", "lru", "hidden1",
                     "per-core utilisation", "memory bits", "messages per step",
                     "hops per step", "sequential fill", "busiest core", "wrote"):
        assert fragment in out, fragment
    assert spec_file.with_suffix(".npc").exists()


def test_inspect_shows_a_core_and_exports_graphs(spec_file, tmp_path) -> None:
    out = tmp_path / "net.npc"
    assert _run("compile", str(spec_file), "-o", str(out)).exit_code == 0
    result = _run("inspect", str(out))
    assert result.exit_code == 0 and f"neuropc artifact format {FORMAT_VERSION}" in result.output
    result = _run("inspect", str(out), "--core", "0")
    assert result.exit_code == 0, result.output
    for fragment in ("core 0: lru[0:", "phase predict", "lru_predict", "phase infer (x2",
                     "lru_synapse_trace", "send", "B.re", "feedback copy"):
        assert fragment in result.output, fragment
    dot = tmp_path / "net.dot"
    result = _run("inspect", str(out), "--dot", str(dot))
    assert result.exit_code == 0
    header, text = dot.read_text().split("\n", 1)
    assert header.startswith("//") and "neuropc" in header  # how a later --force knows its own file
    assert text.startswith("digraph network") and '"hidden1.eps" -> "lru.x"' in text
    _one_error(_run("inspect", str(out), "--dot", str(dot), "--level", "cores"), "--force")
    result = _run("inspect", str(out), "--dot", str(dot), "--level", "cores", "--force")
    assert result.exit_code == 0 and dot.read_text().split("\n", 1)[1].startswith("digraph cores")
    _one_error(_run("inspect", str(out), "--core", "99"), "cores 0..4")


def test_errors_are_one_message_with_the_numbers(tmp_path) -> None:
    _one_error(_run("compile", _variant(tmp_path, **{"hardware.target": "truenorth"})),
               "unknown hardware target 'truenorth'", "loihi2", "spinnaker2")
    _one_error(_run("compile", _variant(tmp_path, **{"hardware.overrides": {"cores": 3}})),
               "unknown constant 'cores'", "compartments_per_core")
    _one_error(_run("compile", _variant(tmp_path, **{"rule.name": "bptt"})),
               "rule 'bptt' cannot be compiled", "backward in time")
    tight = {"hardware.overrides": {"synaptic_memory_bits": 4000}}
    out = _one_error(_run("compile", _variant(tmp_path, **tight)), "does not fit on loihi2",
                     "layer lru", "bits of synaptic memory", "4,000")
    assert "weight" in out and "accumulator" in out
    narrow = {"hardware.overrides": {"input_axons_per_core": 200}}
    _one_error(_run("compile", _variant(tmp_path, **narrow)), "input axons",
               "256 activity values of lru", "200 (input_axons_per_core)")


def test_compile_never_clobbers_a_file_that_is_not_an_artifact(spec_file, tmp_path) -> None:
    precious = tmp_path / "results.csv"
    precious.write_text("a,b\n1,2\n")
    _one_error(_run("compile", str(spec_file), "-o", str(precious)), "refusing to replace")
    _one_error(_run("compile", str(spec_file), "-o", str(precious), "--force"), "refusing to replace")
    assert precious.read_text() == "a,b\n1,2\n"
    artifact = tmp_path / "net.npc"
    assert _run("compile", str(spec_file), "-o", str(artifact)).exit_code == 0
    _one_error(_run("compile", str(spec_file), "-o", str(artifact)), "--force")
    assert _run("compile", str(spec_file), "-o", str(artifact), "--force").exit_code == 0
    _one_error(_run("compile", str(spec_file), "-o", str(spec_file)), "would overwrite the spec")


def test_inspect_refuses_a_damaged_artifact(spec_file, tmp_path) -> None:
    out = tmp_path / "net.npc"
    assert _run("compile", str(spec_file), "-o", str(out)).exit_code == 0
    data = bytearray(out.read_bytes())
    data[-10] ^= 1
    out.write_bytes(bytes(data))
    _one_error(_run("inspect", str(out)), "corrupted")
    _one_error(_run("inspect", str(tmp_path / "none.npc")), "no such artifact")
