"""Cost profiles: the energy constants of one piece of hardware, loaded from a YAML data file.

Every constant carries its value, unit, source and a provenance flag (docs/energy_model.md, 'Cost profiles'): `measured`
on silicon, `simulated` before silicon, `derived` by arithmetic from a datasheet or paper, or
`assumed`. Reports print the flag next to the number, because the most-cited figure in the
field is a pre-silicon simulation that is often quoted as a measurement.

Shipped profiles live in ``hwsim/profiles/<name>.yaml``. A user profile names a base and
overrides or adds constants::

    base: loihi                 # a shipped profile name, or a path relative to this file
    name: loihi-my-board        # optional
    constants:
      synaptic_op: {value: 20.0, unit: pJ, source: "our bench, 2025", provenance: measured}
      hop: {value: 3.5, low: 3.0, high: 4.2, unit: pJ, source: "...", provenance: simulated}

``low`` and ``high`` are an optional range around the value (hwsim.ranges propagates them to
every total and ratio). Time-model constants (latencies, static power, peak rates) are
optional: a profile without them is priced per event only.

Every problem (malformed YAML, unknown key, unknown unit or provenance, missing source,
negative energy, a unit that does not fit the constant) is a ``NeuropcError`` naming the file,
the line and the key.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from neuropc.errors import NeuropcError
from neuropc.spec.loading import plain_message
from neuropc.yaml_documents import locate, parse_mapping, read_text, refuse_other_kind

Provenance = Literal["measured", "simulated", "derived", "assumed"]
PROVENANCES: tuple[str, ...] = ("measured", "simulated", "derived", "assumed")
Kind = Literal["neuromorphic", "conventional"]
Dimension = Literal["energy", "energy_per_data", "capacity", "ratio", "time", "power", "rate", "bandwidth"]
Corner = Literal["low", "value", "high"]

# ---------------------------------------------------------------------------------------------
# Units. An energy unit without a denominator is energy per counted event (one synaptic op,
# one MAC, one message, ...); "/bit", "/byte" and "/64bit" make it energy per unit of data.

_ENERGY = {"fJ": 1e-15, "pJ": 1e-12, "nJ": 1e-9, "uJ": 1e-6, "mJ": 1e-3, "J": 1.0}
_DATA_BYTES = {"bit": 0.125, "byte": 1.0, "64bit": 8.0}
_CAPACITY = {"B": 1, "kB": 10**3, "MB": 10**6, "GB": 10**9, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}
_TIME = {"ps": 1e-12, "ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
_POWER = {"uW": 1e-6, "mW": 1e-3, "W": 1.0}
_RATE = {"GFLOPS": 1e9, "TFLOPS": 1e12}  # floating-point operations per second
_BANDWIDTH = {"GB/s": 1e9, "TB/s": 1e12}  # bytes per second
_OTHER: dict[str, tuple[Dimension, dict[str, float]]] = {
    "time": ("time", _TIME), "power": ("power", _POWER), "rate": ("rate", _RATE),
    "bandwidth": ("bandwidth", _BANDWIDTH),
}

UNITS: tuple[str, ...] = (
    *_ENERGY,
    *(f"{e}/{d}" for e in _ENERGY for d in _DATA_BYTES),
    *_CAPACITY,
    *_TIME, *_POWER, *_RATE, *_BANDWIDTH,
    "1",
)

_DIMENSION_TEXT = {
    "energy": "energy per event (e.g. pJ)",
    "energy_per_data": "energy per unit of data (e.g. pJ/bit, pJ/byte, nJ/64bit)",
    "capacity": "a memory capacity (e.g. MiB)",
    "ratio": "a plain number (unit '1')",
    "time": "a time (e.g. ns, us)",
    "power": "a power (e.g. mW, W)",
    "rate": "an operation rate (GFLOPS, TFLOPS)",
    "bandwidth": "a bandwidth (GB/s, TB/s)",
}


def parse_unit(unit: str) -> tuple[Dimension, float]:
    """(dimension, factor to SI): joules, joules per byte, bytes, or 1."""
    if unit in _ENERGY:
        return "energy", _ENERGY[unit]
    if unit in _CAPACITY:
        return "capacity", float(_CAPACITY[unit])
    if unit == "1":
        return "ratio", 1.0
    for dimension, table in _OTHER.values():
        if unit in table:
            return dimension, table[unit]
    energy, _, per = unit.partition("/")
    if energy in _ENERGY and per in _DATA_BYTES:
        return "energy_per_data", _ENERGY[energy] / _DATA_BYTES[per]
    raise ValueError(f"unknown unit {unit!r} (expected one of: {', '.join(UNITS)})")


# ---------------------------------------------------------------------------------------------
# The constants the energy arithmetic needs, per kind of hardware.

NEUROMORPHIC_CONSTANTS: dict[str, tuple[Dimension, str]] = {
    "synaptic_op": ("energy", "one effective synaptic operation (event x nonzero weight)"),
    "neuron_update": ("energy", "one neuron (compartment) update"),
    "learning_weight_update": ("energy", "one weight update by the learning engine"),
    "learning_trace_update": ("energy", "one per-synapse eligibility-trace update"),
    "message": ("energy", "one message (graded spike) leaving a core into its router"),
    "hop": ("energy", "one message crossing one link of the network-on-chip"),
    "memory_read": ("energy", "one core-local memory word read not part of the ops above"),
    "memory_write": ("energy", "one core-local memory word write not part of the ops above"),
}

CONVENTIONAL_CONSTANTS: dict[str, tuple[Dimension, str]] = {
    "mac": ("energy", "one fp32 multiply-accumulate"),
    "elementwise_op": ("energy", "one fp32 elementwise operation (activation, derivative, loss, add)"),
    "optimizer_update": ("energy", "one optimizer (Adam) update of one scalar parameter"),
    "onchip_access": ("energy_per_data", "on-chip memory (SRAM, cache) traffic"),
    "offchip_access": ("energy_per_data", "off-chip memory (DRAM, HBM) traffic"),
    "onchip_capacity": ("capacity", "on-chip memory that can hold weights and activation history"),
}

#: Optional constants of the time model (hwsim.chip_time, hwsim.conventional_time): a profile
#: without them is priced per event only, and the report says that it has no time model.
NEUROMORPHIC_TIME_CONSTANTS: dict[str, tuple[Dimension, str]] = {
    "t_synaptic_op": ("time", "latency of one synaptic op in its core's pipeline"),
    "t_neuron_update": ("time", "latency of one neuron (compartment) update"),
    "t_learning_update": ("time", "latency of one learning-engine update (weight or trace)"),
    "t_message": ("time", "latency of sending one message out of a core"),
    "t_memory_access": ("time", "latency of one core-local memory word access outside the ops"),
    "t_barrier": ("time", "barrier synchronisation that ends a stage, on one chip"),
    "t_barrier_chips": ("time", "barrier synchronisation across chips"),
    "static_power_core": ("power", "static (leakage) power of one core"),
    "static_power_chip": ("power", "static (leakage) power of one whole chip"),
    "cores_on_chip": ("ratio", "cores on one chip"),
}

CONVENTIONAL_TIME_CONSTANTS: dict[str, tuple[Dimension, str]] = {
    "board_power": ("power", "board power at full load (TDP)"),
    "idle_power": ("power", "board power when idle (charged over the whole run time)"),
    "peak_fp32": ("rate", "peak fp32 rate of the CUDA cores"),
    "peak_bf16_tensor": ("rate", "peak dense bf16 tensor-core rate"),
    "memory_bandwidth": ("bandwidth", "off-chip memory bandwidth"),
    "offchip_access_dynamic": ("energy_per_data", "device-level (dynamic) off-chip memory energy"),
    "kernel_launch": ("time", "time of one kernel launch (the floor of every kernel)"),
}

OPTIONAL: dict[str, dict[str, tuple[Dimension, str]]] = {
    "neuromorphic": NEUROMORPHIC_TIME_CONSTANTS,
    "conventional": CONVENTIONAL_TIME_CONSTANTS,
}

REQUIRED: dict[str, dict[str, tuple[Dimension, str]]] = {
    "neuromorphic": NEUROMORPHIC_CONSTANTS,
    "conventional": CONVENTIONAL_CONSTANTS,
}

PROFILE_DIR = "profiles"


# ---------------------------------------------------------------------------------------------
# The file format (pydantic), then the resolved profile.

class Constant(BaseModel):
    """One number and where it comes from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: float
    unit: str
    source: str = Field(min_length=1)
    provenance: Provenance
    note: str | None = None
    low: float | None = None  # optional range: the lowest defensible value, same unit
    high: float | None = None  # the highest

    @field_validator("value", "low", "high", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        if value is None:
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            hint = " (YAML reads 1e-12 as text: write 1.0e-12)" if isinstance(value, str) else ""
            raise ValueError(f"value must be a number, got {value!r}{hint}")
        if not math.isfinite(value):
            raise ValueError(f"value must be a finite number, got {value!r}")
        return value

    @model_validator(mode="after")
    def _range_holds_value(self) -> Constant:
        low = self.value if self.low is None else self.low
        high = self.value if self.high is None else self.high
        if not low <= self.value <= high:
            raise ValueError(f"the range must hold the value: low {low:g} <= value {self.value:g} <= high {high:g}")
        return self

    @field_validator("unit")
    @classmethod
    def _known_unit(cls, unit: str) -> str:
        parse_unit(unit)
        return unit

    @field_validator("source")
    @classmethod
    def _source_not_blank(cls, source: str) -> str:
        if not source.strip():
            raise ValueError("source must say where the number comes from (it is blank)")
        return source

    @property
    def dimension(self) -> Dimension:
        return parse_unit(self.unit)[0]

    @property
    def si(self) -> float:
        """The value in joules, joules per byte, bytes, or as a plain number."""
        return self.value * parse_unit(self.unit)[1]

    @property
    def has_range(self) -> bool:
        return (self.low is not None and self.low != self.value) or (self.high is not None and self.high != self.value)

    def at(self, corner: Corner) -> Constant:
        """This constant with its low or high end as the value (itself for ``value``)."""
        if corner == "value":
            return self
        end = self.low if corner == "low" else self.high
        return self if end is None else self.model_copy(update={"value": end})

    def range_text(self) -> str:
        """``23.6 pJ (23.6-35.5)``: the value and, if it has one, its range."""
        if not self.has_range:
            return f"{self.value:g} {self.unit}"
        low = self.value if self.low is None else self.low
        high = self.value if self.high is None else self.high
        return f"{self.value:g} {self.unit} ({low:g}-{high:g})"

    def describe(self) -> str:
        return f"{self.range_text()} ({self.provenance}; {self.source})"


class _ProfileFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1)
    base: str | None = Field(default=None, min_length=1)
    kind: Kind | None = None
    target: str | None = Field(default=None, min_length=1)
    boundary: str | None = Field(default=None, min_length=1)
    description: str | None = None
    constants: dict[str, Constant] = Field(default_factory=dict)


@dataclass(frozen=True)
class CostProfile:
    """A validated, resolved profile: every constant the energy arithmetic needs is present."""

    name: str
    kind: Kind
    description: str
    constants: Mapping[str, Constant]
    files: tuple[str, ...]  # the files it was built from, base first
    overridden: frozenset[str] = field(default_factory=frozenset)  # keys a user file set
    target: str | None = None  # the compiler target whose programs it prices (None: any)
    boundary: str | None = None  # what its energies cover, printed with its name ("datapath only")

    @property
    def label(self) -> str:
        """The name with its accounting boundary: ``cpu-45nm (datapath only)``."""
        return f"{self.name} ({self.boundary})" if self.boundary else self.name

    def has(self, key: str) -> bool:
        return key in self.constants

    def with_constants(self, constants: Mapping[str, Constant], name: str | None = None) -> CostProfile:
        """The same profile with some constants replaced (a scenario, or a corner of the ranges)."""
        return replace(self, name=name or self.name, constants={**self.constants, **constants})

    def at(self, corner: Corner, keys: Iterable[str] | None = None) -> CostProfile:
        """Every constant (or those in ``keys``) at its low or high end."""
        chosen = self.constants if keys is None else {k: self.constants[k] for k in keys}
        return self.with_constants({k: c.at(corner) for k, c in chosen.items()})

    def ranged(self) -> list[str]:
        """Keys of the constants that carry a range."""
        return [key for key, constant in self.constants.items() if constant.has_range]

    def seconds(self, key: str) -> float:
        return self._si(key, "time")

    def watts(self, key: str) -> float:
        return self._si(key, "power")

    def per_second(self, key: str) -> float:
        """An operation rate (FLOP/s) or a bandwidth (bytes/s)."""
        constant = self.constant(key)
        if constant.dimension not in ("rate", "bandwidth"):
            raise ValueError(f"{self.name}: {key} is in {constant.unit}, not a rate or a bandwidth")
        return constant.si

    def number(self, key: str) -> float:
        return self._si(key, "ratio")

    def constant(self, key: str) -> Constant:
        try:
            return self.constants[key]
        except KeyError:
            raise KeyError(f"profile {self.name!r} has no constant {key!r}") from None

    def joules(self, key: str) -> float:
        """Energy per event in joules (for constants in an energy unit)."""
        return self._si(key, "energy")

    def joules_per_byte(self, key: str) -> float:
        return self._si(key, "energy_per_data")

    def capacity_bytes(self, key: str) -> int:
        return int(round(self._si(key, "capacity")))

    @property
    def onchip_capacity_bytes(self) -> int:
        return self.capacity_bytes("onchip_capacity")

    def _si(self, key: str, dimension: Dimension) -> float:
        constant = self.constant(key)
        if constant.dimension != dimension:
            raise ValueError(f"{self.name}: {key} is in {constant.unit}, not {_DIMENSION_TEXT[dimension]}")
        return constant.si


# ---------------------------------------------------------------------------------------------
# Loading.

def shipped_profiles() -> list[str]:
    """Names of the profiles that ship with neuropc."""
    folder = resources.files("hwsim").joinpath(PROFILE_DIR)
    return sorted(item.name[: -len(".yaml")] for item in folder.iterdir() if item.name.endswith(".yaml"))


def _shipped_path(name: str) -> Path | None:
    candidate = resources.files("hwsim").joinpath(PROFILE_DIR, f"{name}.yaml")
    return Path(str(candidate)) if candidate.is_file() else None


def load_profile(name_or_path: str | Path) -> CostProfile:
    """A shipped profile by name (``loihi``) or a profile file by path (``my.yaml``)."""
    text = str(name_or_path)
    if not text.strip():
        raise NeuropcError("the cost profile name is empty; give a shipped profile "
                           f"({', '.join(shipped_profiles())}) or a profile file")
    shipped = _shipped_path(text) if isinstance(name_or_path, str) and "/" not in text else None
    if shipped is not None:
        return _resolve(shipped, chain=())
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists() or "/" in text:
        return _resolve(path, chain=())
    raise NeuropcError(
        f"unknown cost profile {text!r}: not a shipped profile ({', '.join(shipped_profiles())}) "
        f"and no such file"
    )


def parse_profile(text: str, source: str = "<profile>", base_dir: Path | None = None) -> CostProfile:
    """Validate profile YAML text (``base`` paths resolve against ``base_dir``)."""
    data, lines = parse_mapping(text, source, "profile")
    return _build(data, lines, source, base_dir or Path.cwd(), chain=(source,))


def _resolve(path: Path, chain: tuple[str, ...]) -> CostProfile:
    text = read_text(path, "cost profile")
    key = str(path.resolve())
    if key in chain:
        raise NeuropcError(f"{path}: profile bases form a cycle ({' -> '.join([*chain, key])})")
    data, lines = parse_mapping(text, str(path), "profile")
    return _build(data, lines, str(path), path.parent, (*chain, key))


def _validation_message(error: ValidationError, source: str, lines: dict) -> str:
    messages = []
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        cause = item.get("ctx", {}).get("error")
        if item["type"] == "extra_forbidden":
            message = ("unknown key (a constant has value, unit, source, provenance and an optional note, "
                       "low and high)")
            if len(loc) == 1:
                message = "unknown key (a profile has name, base, kind, target, boundary, description and constants)"
        elif item["type"] == "missing":
            message = "required field is missing"
            if loc[-1] == "source":
                message = "source is missing: every constant must say where its number comes from"
            elif loc[-1] == "provenance":
                message = f"provenance is missing (one of {', '.join(PROVENANCES)})"
        elif item["type"] == "literal_error" and loc[-1] == "provenance":
            message = f"unknown provenance {item['input']!r} (expected one of {', '.join(PROVENANCES)})"
        elif item["type"] == "literal_error" and loc[-1] == "kind":
            message = f"unknown kind {item['input']!r} (expected neuromorphic or conventional)"
        elif cause is not None:
            message = str(cause)
        else:
            message = plain_message(item["msg"])
            if item["type"] in ("model_type", "dict_type"):
                message = "must be a mapping of fields"
            if "input" in item and not isinstance(item["input"], (dict, list)):
                message = f"{message} (got {item['input']!r})"
        field_path = ".".join(str(part) for part in loc) or "(top level)"
        messages.append(f"{locate(source, lines, loc)}: {field_path}: {message}")
    return "\n".join(messages)


def _build(data: dict, lines: dict, source: str, base_dir: Path, chain: tuple[str, ...]) -> CostProfile:
    refuse_other_kind(data, source, "profile")
    try:
        parsed = _ProfileFile.model_validate(data)
    except ValidationError as exc:
        message = _validation_message(exc, source, lines).splitlines()
        if len(message) > 3:
            message = [*message[:2], f"... and {len(message) - 2} more problems (fix these first)"]
        raise NeuropcError("\n".join(message)) from None

    def fail(loc: tuple, message: str) -> NeuropcError:
        return NeuropcError(f"{locate(source, lines, loc)}: {'.'.join(map(str, loc))}: {message}")

    if parsed.base is None:
        if parsed.name is None:
            raise fail(("name",), "a profile without a base needs a name")
        if parsed.kind is None:
            raise fail(("kind",), "a profile without a base needs a kind (neuromorphic or conventional)")
        constants = dict(parsed.constants)
        profile = CostProfile(parsed.name, parsed.kind, parsed.description or "", constants, (source,),
                              target=parsed.target, boundary=parsed.boundary)
    else:
        base_path = _shipped_path(parsed.base) if "/" not in parsed.base else None
        if base_path is None:
            base_path = (base_dir / parsed.base).resolve()
            if not base_path.exists():
                raise fail(("base",), f"unknown base {parsed.base!r}: not a shipped profile "
                                      f"({', '.join(shipped_profiles())}) and no such file")
        base = _resolve(base_path, chain)
        if parsed.kind is not None and parsed.kind != base.kind:
            raise fail(("kind",), f"kind {parsed.kind!r} does not match the base {base.name!r} ({base.kind})")
        required = {**REQUIRED[base.kind], **OPTIONAL[base.kind]}
        for key in parsed.constants:
            if key in base.constants or key in required:
                continue
            close = difflib.get_close_matches(key, [*base.constants, *required], n=1, cutoff=0.8)
            if close:
                raise fail(("constants", key),
                           f"unknown constant {key!r}: did you mean {close[0]!r}? (the base {base.name!r} "
                           f"has no constant of this name; choose a distinct name to add a new one)")
        constants = {**base.constants, **parsed.constants}
        stem = Path(source).stem
        profile = CostProfile(
            name=parsed.name or f"{base.name}+{stem}",
            kind=base.kind,
            description=parsed.description or base.description,
            constants=constants,
            files=(*base.files, source),
            overridden=base.overridden | frozenset(parsed.constants),
            target=parsed.target or base.target,
            boundary=parsed.boundary or base.boundary,
        )
    _check_constants(profile, parsed.constants, lines, source, fail)
    return profile


def _check_constants(profile: CostProfile, own: Mapping[str, Constant], lines: dict, source: str,
                     fail) -> None:
    required = {**OPTIONAL[profile.kind], **REQUIRED[profile.kind]}
    missing = [key for key in REQUIRED[profile.kind] if key not in profile.constants]
    if missing:
        details = "; ".join(f"{key}: {REQUIRED[profile.kind][key][1]}" for key in missing)
        raise NeuropcError(f"{locate(source, lines, ('constants',))}: constants: missing required "
                           f"constant(s) for a {profile.kind} profile: {details}")
    for key, constant in own.items():
        dimension = constant.dimension
        if key in required and required[key][0] != dimension:
            raise fail(("constants", key, "unit"),
                       f"unit {constant.unit!r} is {_DIMENSION_TEXT[dimension]}, but {key} "
                       f"({required[key][1]}) needs {_DIMENSION_TEXT[required[key][0]]}")
        if min(constant.value, constant.low if constant.low is not None else 0.0) < 0:
            what = "negative energy" if dimension in ("energy", "energy_per_data") else "negative value"
            raise fail(("constants", key, "value"), f"{what}: {min(constant.value, constant.low or 0.0):g} "
                                                    f"{constant.unit}")
        if dimension == "capacity" and constant.value == 0:
            raise fail(("constants", key, "value"), "a memory capacity must be positive")
