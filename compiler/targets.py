"""Hardware resource tables: the core limits and bit widths the compiler packs against.

The numbers are data (``compiler/targets/<name>.yaml``), not code, because every one of them
carries a source and a provenance flag that the report prints next to it, and because most
per-core figures of newer chips are guesses that a user must be able to override from the
spec's ``hardware.overrides`` without editing the compiler.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any

import yaml

from neuropc.errors import NeuropcError

PROVENANCES = ("measured", "simulated", "derived", "assumed")

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
        """A copy with values replaced; unknown keys and non-integral values are user errors."""
        constants = dict(self.constants)
        for key, value in overrides.items():
            if key not in constants:
                raise NeuropcError(
                    f"hardware.overrides: unknown constant '{key}' for target {self.name}; "
                    f"known: {', '.join(sorted(constants))}"
                )
            if isinstance(value, bool) or float(value) != int(value):
                raise NeuropcError(f"hardware.overrides.{key}: must be an integer, got {value!r}")
            if int(value) < 0 or (int(value) == 0 and constants[key].unit != "flag"
                                  and key != "payload_bits"):
                raise NeuropcError(f"hardware.overrides.{key}: must be positive, got {value!r}")
            constants[key] = replace(constants[key], value=int(value),
                                     source=f"hardware.overrides in the spec (table: "
                                            f"{constants[key].value})",
                                     provenance="assumed")
        table = ResourceTable(self.name, self.description, constants,
                              tuple(sorted(set(self.overridden) | set(overrides))))
        table.check()
        return table

    def check(self) -> None:
        """Consistency that the compiler relies on (a mesh that holds exactly the cores)."""
        rows, cols = self["mesh_rows"], self["mesh_cols"]
        if rows * cols != self["cores_per_chip"]:
            raise NeuropcError(
                f"target {self.name}: mesh_rows x mesh_cols = {rows} x {cols} = {rows * cols} "
                f"but cores_per_chip is {self['cores_per_chip']}; override them together"
            )

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description,
                "overridden": list(self.overridden),
                "constants": {k: c.to_dict() for k, c in self.constants.items()}}


def available_targets() -> list[str]:
    """Names of the tables shipped in ``compiler/targets``."""
    folder = resources.files("compiler") / "targets"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def _parse(name: str, data: Any) -> ResourceTable:
    where = f"compiler/targets/{name}.yaml"
    if not isinstance(data, dict) or not isinstance(data.get("constants"), dict):
        raise NeuropcError(f"{where}: expected a mapping with 'constants'")
    constants = {}
    for key, entry in data["constants"].items():
        if not isinstance(entry, dict) or set(entry) != {"value", "unit", "source", "provenance"}:
            raise NeuropcError(f"{where}: {key}: needs exactly value, unit, source, provenance")
        if entry["provenance"] not in PROVENANCES:
            raise NeuropcError(f"{where}: {key}: provenance must be one of {PROVENANCES}")
        if not isinstance(entry["value"], int) or isinstance(entry["value"], bool):
            raise NeuropcError(f"{where}: {key}: value must be an integer")
        constants[key] = Constant(entry["value"], str(entry["unit"]), str(entry["source"]),
                                  entry["provenance"])
    missing = sorted(set(REQUIRED) - set(constants))
    if missing:
        raise NeuropcError(f"{where}: missing constants {', '.join(missing)}")
    table = ResourceTable(str(data.get("name", name)), str(data.get("description", name)),
                          constants)
    table.check()
    return table


def load_target(name: str, overrides: Mapping[str, float | int] | None = None) -> ResourceTable:
    """The table for ``name`` with ``overrides`` applied; a bad name lists the known ones."""
    known = available_targets()
    if name not in known:
        raise NeuropcError(f"unknown hardware target '{name}'; known targets: {', '.join(known)}")
    text = (resources.files("compiler") / "targets" / f"{name}.yaml").read_text(encoding="utf-8")
    table = _parse(name, yaml.safe_load(text))
    return table.with_overrides(overrides) if overrides else table
