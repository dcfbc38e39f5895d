"""Hardware resource tables: the core limits and bit widths the compiler packs against.

The numbers are data (``compiler/targets/<name>.yaml``), not code, because every one of them
carries a source and a provenance flag that the report prints next to it, and because most
per-core figures of newer chips are guesses that a user must be able to override from the
spec's ``hardware.overrides`` without editing the compiler.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from neuropc.errors import FieldProblem, NeuropcError
from neuropc.yaml_documents import LineIndex, locate, parse_mapping, read_text, refuse_other_kind

PROVENANCES = ("measured", "simulated", "derived", "assumed")
#: largest value a table constant or an override may take: far above any chip, small enough
#: that products of constants stay exact in int64 arithmetic
MAX_VALUE = 2**40

#: Every constant a table must define, with what the compiler uses it for.
REQUIRED = {
    "cores_per_chip": "cores on one chip (mesh_rows x mesh_cols)",
    "mesh_rows": "rows of the on-chip core mesh",
    "mesh_cols": "columns of the on-chip core mesh",
    "max_chips": "largest system of this chip that can be built",
    "compartments_per_core": "neuron state words (compartments) per core",
    "synaptic_memory_bits": "synaptic memory per core: weights, traces, accumulators, optimizer state",
    "input_axons_per_core": "distinct incoming (source neuron, source core) pairs per core",
    "output_axons_per_core": "outgoing (neuron, destination core) pairs per core",
    "weight_bits": "bits per stored weight and feedback copy",
    "trace_bits": "bits per eligibility trace",
    "accumulator_bits": "bits per update accumulator",
    "optimizer_bits": "bits per optimizer moment (Adam m, v)",
    "param_bits": "bits per per-neuron parameter (bias, decay, rotation, gain)",
    "state_bits": "bits per compartment state value",
    "payload_bits": "bits of a graded spike payload (0: binary spikes only)",
    "optimizer_sgd": "1 if the learning engine can apply SGD on chip",
    "optimizer_adam": "1 if the learning engine can apply Adam on chip",
}


@dataclass(frozen=True)
class Constant:
    """One number of a resource table and where it comes from."""

    value: int
    unit: str
    source: str
    provenance: str

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "unit": self.unit, "source": self.source,
                "provenance": self.provenance}


@dataclass(frozen=True)
class ResourceTable:
    """A target chip's limits after the spec's overrides were applied."""

    name: str
    description: str
    constants: dict[str, Constant]
    overridden: tuple[str, ...] = field(default=())

    def __getitem__(self, key: str) -> int:
        return self.constants[key].value

    def provenance(self, key: str) -> str:
        return "override" if key in self.overridden else self.constants[key].provenance

    @property
    def cores_per_chip(self) -> int:
        return self["cores_per_chip"]

    def supports_optimizer(self, name: str) -> bool:
        key = f"optimizer_{name}"
        return key in self.constants and self[key] != 0

    def with_overrides(self, overrides: Mapping[str, float | int]) -> ResourceTable:
        """A copy with values replaced; unknown keys and values that are not whole numbers
        in range are user errors (``FieldProblem`` on ``hardware.overrides.<key>``, so the
        command line can point at the spec's line)."""
        constants = dict(self.constants)
        for key, value in overrides.items():
            where = f"hardware.overrides.{key}"
            if key not in constants:
                raise FieldProblem(where, f"unknown constant '{key}' for target {self.name}; known: "
                                          f"{', '.join(sorted(constants))}")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise FieldProblem(where, f"must be a whole number, got {value!r}")
            if not math.isfinite(value):
                raise FieldProblem(where, f"must be a finite number, got {value!r}")
            if float(value) != int(value):
                raise FieldProblem(where, f"must be a whole number, got {value!r}")
            if int(value) < 0 or (int(value) == 0 and constants[key].unit != "flag"
                                  and key != "payload_bits"):
                raise FieldProblem(where, f"must be positive, got {value!r}")
            if int(value) > MAX_VALUE:
                raise FieldProblem(where, f"must be at most {MAX_VALUE:,} (2**40), got {value!r}")
            constants[key] = replace(constants[key], value=int(value),
                                     source=f"hardware.overrides in the spec (table: "
                                            f"{constants[key].value})",
                                     provenance="assumed")
        table = ResourceTable(self.name, self.description, constants,
                              tuple(sorted(set(self.overridden) | set(overrides))))
        try:
            table.check()
        except NeuropcError as exc:
            raise FieldProblem("hardware.overrides", str(exc)) from None
        return table

    def check(self) -> None:
        """Consistency that the compiler relies on (a mesh that holds exactly the cores)."""
        rows, cols = self["mesh_rows"], self["mesh_cols"]
        if rows * cols != self["cores_per_chip"]:
            raise NeuropcError(
                f"target {self.name}: mesh_rows x mesh_cols = {rows} x {cols} = {rows * cols} "
                f"but cores_per_chip is {self['cores_per_chip']}; override them together"
            )
        if self["cores_per_chip"] < 1 or self["max_chips"] < 1:
            raise NeuropcError(f"target {self.name}: cores_per_chip and max_chips must be at least 1")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description,
                "overridden": list(self.overridden),
                "constants": {k: c.to_dict() for k, c in self.constants.items()}}


def available_targets() -> list[str]:
    """Names of the tables shipped in ``compiler/targets``."""
    folder = resources.files("compiler") / "targets"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def _parse(where: str, name: str, data: dict, lines: LineIndex) -> ResourceTable:
    """A table from a parsed YAML mapping; every problem names ``where`` and the line."""
    def fail(loc: tuple[str, ...], message: str) -> NeuropcError:
        return NeuropcError(f"{locate(where, lines, loc)}: {'.'.join(loc)}: {message}")

    refuse_other_kind(data, where, "target")
    unknown = sorted(str(k) for k in data if k not in ("name", "description", "constants"))
    if unknown:
        raise fail((unknown[0],), "unknown key (a target table has name, description and constants)")
    for key in ("name", "description"):
        if key in data and not isinstance(data[key], str | int | float):
            raise fail((key,), f"must be text, got {type(data[key]).__name__}")
    if "name" in data and not str(data["name"]).strip():
        raise fail(("name",), "must not be empty (it names the target in reports and artifacts)")
    if not isinstance(data.get("constants"), dict):
        raise fail(("constants",), "required: a mapping of constants "
                                   "(each with value, unit, source, provenance)")
    constants = {}
    for key, entry in data["constants"].items():
        key = str(key)
        if not isinstance(entry, dict) or set(entry) != {"value", "unit", "source", "provenance"}:
            raise fail(("constants", key), "needs exactly value, unit, source, provenance")
        if entry["provenance"] not in PROVENANCES:
            raise fail(("constants", key, "provenance"),
                       f"must be one of {', '.join(PROVENANCES)}, got {entry['provenance']!r}")
        value = entry["value"]
        if isinstance(value, float) and not math.isfinite(value):
            raise fail(("constants", key, "value"), f"must be a finite number, got {value!r}")
        if not isinstance(value, int) or isinstance(value, bool):
            raise fail(("constants", key, "value"), f"must be a whole number, got {value!r}")
        if not 0 <= value <= MAX_VALUE:
            raise fail(("constants", key, "value"), f"must be between 0 and {MAX_VALUE:,}, got {value}")
        for text in ("unit", "source"):
            if not isinstance(entry[text], str | int | float) or isinstance(entry[text], bool):
                raise fail(("constants", key, text), f"must be text, got {entry[text]!r}")
        constants[key] = Constant(value, str(entry["unit"]), str(entry["source"]), entry["provenance"])
    missing = sorted(set(REQUIRED) - set(constants))
    if missing:
        raise fail(("constants",), f"missing constants {', '.join(missing)}")
    table = ResourceTable(str(data.get("name", name)), str(data.get("description", name)), constants)
    try:
        table.check()
    except NeuropcError as exc:
        raise fail(("constants",), str(exc)) from None
    return table


def is_table_file(name: str) -> bool:
    """Whether a target name is a path to a user's table file rather than a shipped name."""
    return name.endswith((".yaml", ".yml")) or "/" in name


def load_target(name: str, overrides: Mapping[str, float | int] | None = None,
                field_name: str = "hardware.target") -> ResourceTable:
    """The table for ``name`` (a shipped table, or a path to a table file of the same format,
    relative to the working folder) with ``overrides`` applied. A bad name lists the known
    ones, as a FieldProblem on ``field_name`` (``--target`` when the option gave it)."""
    if is_table_file(name):
        path = Path(name)
        data, lines = parse_mapping(read_text(path, "hardware target table"), str(path), "target table")
        table = _parse(str(path), path.stem, data, lines)
    else:
        known = available_targets()
        if name not in known:
            raise FieldProblem(field_name, f"unknown hardware target '{name}'; known targets: "
                                           f"{', '.join(known)} (or a path to a table .yaml file)")
        where = f"compiler/targets/{name}.yaml"
        text = (resources.files("compiler") / "targets" / f"{name}.yaml").read_text(encoding="utf-8")
        data, lines = parse_mapping(text, where, "target table")
        table = _parse(where, name, data, lines)
    return table.with_overrides(overrides) if overrides else table
