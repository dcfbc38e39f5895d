"""Reading user YAML files (specs, cost profiles) so every problem points at a file and line.

PyYAML's composed node tree keeps the line of every key; we index it by key path so a
validation error at ``('rule', 'inference', 'step')`` can be reported as
``net.yaml:14: rule.inference.step: ...``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from neuropc.errors import NeuropcError

Location = tuple[str | int, ...]
LineIndex = dict[Location, int]


class UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (PyYAML keeps the last one silently)."""


def _construct_mapping(loader: UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None,
                f"duplicate key '{key}' (first on line {seen[key] + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
# YAML 1.1 (PyYAML) reads ``1e12`` as text because it has no dot; YAML 1.2 and every user
# read it as a number. Resolve it as a float so a size written that way meets the size
# limits with its value, not a confusing "not a valid integer".
UniqueKeyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))

#: keys that only one kind of neuropc YAML file has at its top level
_SPEC_KEYS = {"input", "recurrent", "readout", "rule", "task", "run", "hardware", "loss"}
#: constants only a hardware target table (compiler/targets) defines
_TARGET_CONSTANTS = {"cores_per_chip", "mesh_rows", "mesh_cols", "compartments_per_core",
                     "synaptic_memory_bits", "weight_bits"}
#: constants only a cost profile (hwsim/profiles) defines
_PROFILE_CONSTANTS = {"synaptic_op", "neuron_update", "message", "hop", "mac", "elementwise_op",
                      "onchip_access", "offchip_access", "learning_weight_update"}

#: keys only a sweep file (``neuropc sweep``) has at its top level
_SWEEP_KEYS = {"grid", "trials", "command"}

KIND_NAMES = {"spec": "network spec", "profile": "cost profile", "target": "hardware target table",
              "sweep": "sweep file"}


def document_kind(data: object) -> str | None:
    """Which kind of neuropc YAML file ``data`` looks like: ``spec``, ``profile``, ``target``
    or ``sweep`` (None when it looks like none of them). A file given where another kind is
    expected is then named as such ("this is a cost profile, not a network spec") instead of
    drowning the user in one "unknown key" line per key."""
    if not isinstance(data, dict):
        return None
    keys = {str(k) for k in data}
    constants = data.get("constants")
    names = {str(k) for k in constants} if isinstance(constants, dict) else set()
    if names & _TARGET_CONSTANTS:
        return "target"
    if keys & _SWEEP_KEYS and "base" in keys:
        return "sweep"
    if names & _PROFILE_CONSTANTS or "base" in keys or data.get("kind") in ("neuromorphic", "conventional"):
        return "profile"
    if len(keys & _SPEC_KEYS) >= 2:
        return "spec"
    return None


def refuse_other_kind(data: object, source: str, expected: str) -> None:
    """NeuropcError when ``data`` is recognisably another kind of file than ``expected``."""
    kind = document_kind(data)
    if kind is not None and kind != expected:
        raise NeuropcError(f"{source}: this is a {KIND_NAMES[kind]}, not a {KIND_NAMES[expected]}")


def line_index(node: yaml.Node | None, prefix: Location = ()) -> LineIndex:
    """Map every key path in the YAML document to its 1-based line."""
    lines: LineIndex = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            path = prefix + (key_node.value,)
            lines[path] = key_node.start_mark.line + 1
            lines.update(line_index(value_node, path))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            path = prefix + (i,)
            lines[path] = item.start_mark.line + 1
            lines.update(line_index(item, path))
    return lines


def locate(source: str, lines: LineIndex, loc: Location) -> str:
    """``file:line`` of the deepest key of ``loc`` present in the document (else ``file``)."""
    probe = tuple(loc)
    while probe and probe not in lines:
        probe = probe[:-1]
    return f"{source}:{lines[probe]}" if probe else source


def parse_mapping(text: str, source: str, what: str) -> tuple[dict, LineIndex]:
    """Parse a YAML document that must be a mapping; ``what`` names it in errors."""
    try:
        node = yaml.compose(text, Loader=UniqueKeyLoader)
        data = yaml.load(text, Loader=UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise NeuropcError(f"{where}: malformed YAML: {problem}") from None
    if data is None:
        raise NeuropcError(f"{source}: the {what} is empty (expected a mapping of fields)")
    if not isinstance(data, dict):
        raise NeuropcError(f"{source}:1: the {what} must be a mapping of fields, got {type(data).__name__}")
    return data, line_index(node)


def read_text(path: Path, what: str) -> str:
    """The file's text, or a NeuropcError saying why it cannot be had."""
    if not str(path).strip():
        raise NeuropcError(f"an empty file name was given where a YAML {what} file was expected")
    if not path.exists():
        raise NeuropcError(f"{path}: no such file")
    if path.is_dir():
        raise NeuropcError(f"{path}: is a folder, expected a YAML {what} file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise NeuropcError(f"{path}: cannot read: {exc.strerror}") from None
    if b"\0" in data:
        raise NeuropcError(f"{path}: is a binary file, expected a YAML {what} file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NeuropcError(f"{path}: is not UTF-8 text (byte {exc.start}), expected a YAML {what} "
                           "file") from None
