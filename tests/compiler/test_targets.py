"""Resource tables: complete, sourced, flagged, overridable, equal to the published figures and
listed in docs/compiler.md."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from compiler.schedule import ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON
from compiler.targets import PROVENANCES, REQUIRED, available_targets, load_target
from neuropc.errors import NeuropcError
from neuropc.reference.optim import Optimizer


def test_every_table_is_complete_and_sourced() -> None:
    assert {"loihi", "loihi2", "spinnaker2"} <= set(available_targets())
    for name in available_targets():
        table = load_target(name)
        assert set(REQUIRED) <= set(table.constants)
        for key, constant in table.constants.items():
            assert constant.provenance in PROVENANCES, (name, key)
            assert constant.source.strip() and constant.unit.strip(), (name, key)
        assert table["mesh_rows"] * table["mesh_cols"] == table.cores_per_chip


def test_numbers_match_the_published_figures() -> None:
    loihi = load_target("loihi")
    assert (loihi.cores_per_chip, loihi["compartments_per_core"]) == (128, 1024)
    assert loihi["input_axons_per_core"] == loihi["output_axons_per_core"] == 4096
    assert loihi["synaptic_memory_bits"] == 128 * 1024 * 8
    loihi2 = load_target("loihi2")
    assert loihi2["compartments_per_core"] == 8192
    assert loihi2.provenance("compartments_per_core") == "assumed"
    assert loihi2["synaptic_memory_bits"] == 192 * 1024 * 8
    spinnaker2 = load_target("spinnaker2")
    assert spinnaker2.cores_per_chip == 152
    assert spinnaker2["synaptic_memory_bits"] == 128 * 1024 * 8


def test_the_compiler_doc_lists_every_constant_with_its_source() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "compiler.md").read_text()
    for name in available_targets():
        section = doc.split(f"#### `{name}`", 1)[1].split("\n#", 1)[0]
        for key, constant in load_target(name).constants.items():
            row = f"| `{key}` | {constant.value:,} {constant.unit} | {constant.provenance} | {constant.source} |"
            assert row in section, f"{name}: {row}"


def test_overrides_replace_values_and_are_flagged() -> None:
    table = load_target("loihi", {"weight_bits": 4, "compartments_per_core": 2048.0})
    assert table["weight_bits"] == 4 and table["compartments_per_core"] == 2048
    assert table.provenance("weight_bits") == "override"
    assert table.provenance("trace_bits") == "derived"
    with pytest.raises(NeuropcError, match="unknown constant 'weights'.*weight_bits"):
        load_target("loihi", {"weights": 4})
    with pytest.raises(NeuropcError, match="must be a whole number"):
        load_target("loihi", {"weight_bits": 4.5})
    with pytest.raises(NeuropcError, match="must be positive"):
        load_target("loihi", {"compartments_per_core": 0})
    with pytest.raises(NeuropcError, match="mesh_rows x mesh_cols"):
        load_target("loihi", {"mesh_rows": 3})
    with pytest.raises(NeuropcError, match="unknown hardware target 'tpu'"):
        load_target("tpu")


def test_adam_constants_match_the_reference_optimizer() -> None:
    defaults = inspect.signature(Optimizer.__init__).parameters
    assert defaults["beta1"].default == ADAM_BETA1
    assert defaults["beta2"].default == ADAM_BETA2
    assert defaults["epsilon"].default == ADAM_EPSILON


@pytest.mark.parametrize("name", ["''", "'  '"])
def test_a_table_with_an_empty_name_is_refused_at_its_line(tmp_path, name: str) -> None:
    source = (Path(__file__).resolve().parents[2] / "compiler" / "targets" / "loihi2.yaml").read_text()
    lines = [f"name: {name}" if line.startswith("name:") else line for line in source.splitlines()]
    table = tmp_path / "chip.yaml"
    table.write_text("\n".join(lines) + "\n")
    at = next(i for i, line in enumerate(lines, 1) if line.startswith("name:"))
    with pytest.raises(NeuropcError, match=rf"chip.yaml:{at}.*name: must not be empty"):
        load_target(str(table))
