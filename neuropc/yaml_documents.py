"""Reading user YAML files (specs, cost profiles) so every problem points at a file and line.

PyYAML's composed node tree keeps the line of every key; we index it by key path so a
validation error at ``('rule', 'inference', 'step')`` can be reported as
``net.yaml:14: rule.inference.step: ...``.
"""

from __future__ import annotations

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
    if not path.exists():
        raise NeuropcError(f"{path}: no such file")
    if path.is_dir():
        raise NeuropcError(f"{path}: is a directory, expected a YAML {what} file")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise NeuropcError(f"{path}: cannot read: {exc}") from None
