"""Read ``net.yaml`` into a validated ``NetworkSpec`` with errors that point at YAML lines."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from neuropc.errors import NeuropcError
from neuropc.spec.schema import FieldError, NetworkSpec
from neuropc.yaml_documents import LineIndex, Location, locate, parse_mapping, read_text


def _format_errors(error: ValidationError, source: str, lines: LineIndex) -> str:
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
        field = ".".join(str(part) for part in loc) or "(top level)"
        messages.append(f"{locate(source, lines, loc)}: {field}: {message}")
    return "\n".join(messages)


def parse_spec(text: str, source: str = "<spec>") -> NetworkSpec:
    """Validate YAML text; raise NeuropcError naming file, line and field on any problem."""
    data, lines = parse_mapping(text, source, "spec")
    try:
        return NetworkSpec.model_validate(data)
    except ValidationError as exc:
        raise NeuropcError(_format_errors(exc, source, lines)) from None


def load_spec(path: str | Path) -> NetworkSpec:
    path = Path(path)
    return parse_spec(read_text(path, "spec"), str(path))


def dump_spec(spec: NetworkSpec) -> str:
    """The resolved spec (defaults filled in) as YAML that ``parse_spec`` reads back."""
    data = spec.model_dump(mode="json", exclude_none=True)
    return yaml.safe_dump(data, sort_keys=False)
