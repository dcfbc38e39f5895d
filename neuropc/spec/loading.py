"""Read ``net.yaml`` into a validated ``NetworkSpec`` with errors that point at YAML lines.

PyYAML's composed node tree keeps the line of every key; we walk it alongside the data so a
pydantic error location like ``('rule', 'inference', 'step')`` can be reported as
``net.yaml:14: rule.inference.step: ...``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from neuropc.errors import NeuropcError
from neuropc.spec.schema import FieldError, NetworkSpec

Location = tuple[str | int, ...]


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (PyYAML keeps the last one silently)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
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


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _line_index(node: yaml.Node | None, prefix: Location = ()) -> dict[Location, int]:
    """Map every key path in the YAML document to its 1-based line."""
    lines: dict[Location, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            path = prefix + (key_node.value,)
            lines[path] = key_node.start_mark.line + 1
            lines.update(_line_index(value_node, path))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            path = prefix + (i,)
            lines[path] = item.start_mark.line + 1
            lines.update(_line_index(item, path))
    return lines


def _format_errors(error: ValidationError, source: str, lines: dict[Location, int]) -> str:
    messages = []
    for item in error.errors(include_url=False):
        loc: Location = tuple(item["loc"])
        cause = item.get("ctx", {}).get("error")
        if isinstance(cause, FieldError):
            loc = loc + cause.path
        message = str(cause) if cause is not None else item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key (not part of the spec; check the spelling)"
        elif item["type"] == "missing":
            message = "required field is missing"
        elif cause is None and "input" in item and not isinstance(item["input"], (dict, list)):
            message = f"{message} (got {item['input']!r})"
        probe = loc
        while probe and probe not in lines:
            probe = probe[:-1]
        where = f"{source}:{lines[probe]}" if probe else source
        field = ".".join(str(part) for part in loc) or "(top level)"
        messages.append(f"{where}: {field}: {message}")
    return "\n".join(messages)


def parse_spec(text: str, source: str = "<spec>") -> NetworkSpec:
    """Validate YAML text; raise NeuropcError naming file, line and field on any problem."""
    try:
        node = yaml.compose(text, Loader=_UniqueKeyLoader)
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise NeuropcError(f"{where}: malformed YAML: {problem}") from None
    if data is None:
        raise NeuropcError(f"{source}: the spec is empty (expected a mapping with input, recurrent, ...)")
    if not isinstance(data, dict):
        raise NeuropcError(f"{source}:1: the spec must be a mapping of fields, got {type(data).__name__}")
    try:
        return NetworkSpec.model_validate(data)
    except ValidationError as exc:
        raise NeuropcError(_format_errors(exc, source, _line_index(node))) from None


def load_spec(path: str | Path) -> NetworkSpec:
    path = Path(path)
    if not path.exists():
        raise NeuropcError(f"{path}: no such file")
    if path.is_dir():
        raise NeuropcError(f"{path}: is a directory, expected a YAML spec file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise NeuropcError(f"{path}: cannot read: {exc}") from None
    return parse_spec(text, str(path))


def dump_spec(spec: NetworkSpec) -> str:
    """The resolved spec (defaults filled in) as YAML that ``parse_spec`` reads back."""
    data = spec.model_dump(mode="json", exclude_none=True)
    return yaml.safe_dump(data, sort_keys=False)
