"""Read ``net.yaml`` into a validated ``NetworkSpec`` with errors that point at YAML lines."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml
from pydantic import ValidationError

from neuropc.errors import NeuropcError
from neuropc.spec.schema import FieldError, NetworkSpec
from neuropc.tasks.registry import task_names
from neuropc.yaml_documents import LineIndex, Location, locate, parse_mapping, read_text


def _without_union_tags(loc: Location, data: object) -> Location:
    """Drop the member names pydantic puts into the location of an error inside a
    discriminated union (``task.copy.length`` is ``task.length`` in the file)."""
    kept: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, Mapping) and part not in node and node.get("name") == part:
            continue  # the tag of the union member, not a key of the document
        kept.append(part)
        node = node.get(part) if isinstance(node, Mapping) else (
            node[part] if isinstance(node, list) and isinstance(part, int) and part < len(node) else None)
    return tuple(kept)


def _union_tag_message(item: Mapping, loc: Location) -> str:
    """A missing or unknown discriminator (``task.name``), with the names it may take."""
    what, known = ("task", ", ".join(task_names())) if loc == ("task", "name") else (
        loc[-1], item["ctx"].get("expected_tags", ""))
    if item["type"] == "union_tag_invalid":
        return f"unknown {what} {item['ctx']['tag']!r}; known: {known}"
    return f"required field is missing (known: {known})"


def _format_errors(error: ValidationError, source: str, lines: LineIndex, data: object = None) -> str:
    messages = []
    for item in error.errors(include_url=False):
        loc: Location = _without_union_tags(tuple(item["loc"]), data)
        cause = item.get("ctx", {}).get("error")
        if isinstance(cause, FieldError):
            loc = loc + cause.path
        message = str(cause) if cause is not None else item["msg"]
        if item["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc = loc + (item["ctx"]["discriminator"].strip("'"),)
            message = _union_tag_message(item, loc)
        elif item["type"] == "extra_forbidden":
            message = "unknown key (not part of the spec; check the spelling)"
        elif item["type"] == "missing":
            message = "required field is missing"
        elif cause is None and "input" in item and not isinstance(item["input"], (dict, list)):
            message = f"{message} (got {item['input']!r})"
        field = ".".join(str(part) for part in loc) or "(top level)"
        messages.append(f"{locate(source, lines, loc)}: {field}: {message}")
    return "\n".join(messages)


def parse_spec(text: str, source: str = "<spec>") -> NetworkSpec:
    """Validate YAML text; raise NeuropcError naming file, line and field on any problem."""
    data, lines = parse_mapping(text, source, "spec")
    try:
        return NetworkSpec.model_validate(data)
    except ValidationError as exc:
        raise NeuropcError(_format_errors(exc, source, lines, data)) from None


def load_spec(path: str | Path) -> NetworkSpec:
    path = Path(path)
    return parse_spec(read_text(path, "spec"), str(path))


def dump_spec(spec: NetworkSpec) -> str:
    """The resolved spec (defaults filled in) as YAML that ``parse_spec`` reads back."""
    data = spec.model_dump(mode="json", exclude_none=True)
    return yaml.safe_dump(data, sort_keys=False)
