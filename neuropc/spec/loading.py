"""Read ``net.yaml`` into a validated ``NetworkSpec`` with errors that point at YAML lines."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import yaml
from pydantic import ValidationError

from neuropc.errors import FieldProblem, NeuropcError
from neuropc.spec.schema import FieldError, NetworkSpec
from neuropc.tasks.registry import task_names
from neuropc.yaml_documents import LineIndex, Location, locate, parse_mapping, read_text, refuse_other_kind


def _without_union_tags(loc: Location, data: object, missing: bool = False) -> Location:
    """Drop the names pydantic puts into the location of an error that are not keys of the
    document: the member of a discriminated union (``task.copy.length`` is ``task.length``
    in the file) and the member of a plain union (``....float``, ``function-after[...]``).
    The last part of a ``missing`` error is kept: it is the key the user has to add."""
    kept: list[str | int] = []
    node = data
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if isinstance(node, Mapping) and part not in node and not (last and missing):
            continue  # a union member's tag, not a key of the document
        if isinstance(node, list) and not isinstance(part, int):
            continue
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


def _format_errors(error: ValidationError, source: str, lines: LineIndex, data: object = None,
                   what: str = "spec") -> str:
    messages = []
    for item in error.errors(include_url=False):
        loc: Location = _without_union_tags(tuple(item["loc"]), data, item["type"] == "missing")
        cause = item.get("ctx", {}).get("error")
        if isinstance(cause, FieldError):
            loc = loc + cause.path
        message = str(cause) if cause is not None else item["msg"]
        if item["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc = loc + (item["ctx"]["discriminator"].strip("'"),)
            message = _union_tag_message(item, loc)
        elif item["type"] == "extra_forbidden":
            message = f"unknown key (not part of the {what}; check the spelling)"
        elif item["type"] == "missing":
            message = "required field is missing"
        elif item["type"] == "finite_number":
            message = f"must be a finite number (got {item['input']!r})"
        elif item["type"] in ("model_type", "model_attributes_type", "dict_type"):
            message = f"must be a mapping of fields, got {_shown(item['input'])}"
        elif item["type"] in ("list_type", "tuple_type"):
            message = f"must be a list, got {_shown(item['input'])}"
        elif item["type"] == "int_parsing_size":
            message = f"is far too large (got {_shown(item['input'])})"
        elif item["type"] == "int_from_float":
            message = f"must be a whole number (got {_shown(item['input'])})"
        elif cause is None and "input" in item and not isinstance(item["input"], (dict, list)):
            message = f"{plain_message(message)} (got {_shown(item['input'])})"
        else:
            message = plain_message(message)
        field = ".".join(str(part) for part in loc) or "(top level)"
        messages.append(f"{locate(source, lines, loc)}: {field}: {message}")
    return "\n".join(messages)


def plain_message(message: str) -> str:
    """pydantic's "Input should be ..." as the rest of neuropc says it ("must be ...")."""
    message = message.replace("Input should be less than or equal to", "must be at most")
    message = message.replace("Input should be greater than or equal to", "must be at least")
    message = message.replace("Input should be a valid integer", "must be a whole number")
    message = message.replace(", unable to parse string as an integer", "")
    message = message.replace(", unable to parse string as a number", "")
    message = re.sub(r"^List should have at (most|least) (\d+) items? after validation, not (\d+)",
                     r"must have at \1 \2 items, got \3", message)
    if message.startswith("Input should be "):
        message = "must be " + message[len("Input should be "):]
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    return message


def _shown(value: object) -> str:
    """A value in a message, short: the type for containers, the repr for scalars."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


#: most error lines one message shows; the rest are counted ("and 7 more problems")
MAX_LINES = 3


def _first_lines(text: str) -> str:
    lines = text.splitlines()
    if len(lines) <= MAX_LINES:
        return text
    rest = len(lines) - (MAX_LINES - 1)
    return "\n".join([*lines[:MAX_LINES - 1], f"... and {rest} more problems (fix these first)"])


def validation_message(error: ValidationError, source: str, lines: LineIndex, data: object,
                       what: str = "spec") -> str:
    """A pydantic error as neuropc reports every YAML problem: one ``file:line: field: message``
    line per problem (at most ``MAX_LINES``), the lines taken from ``lines``; ``what`` names
    the kind of document in "unknown key" messages. Sweep files reuse it for their own model
    and for the specs their trials make."""
    return _first_lines(_format_errors(error, source, lines, data, what))


def parse_spec(text: str, source: str = "<spec>") -> NetworkSpec:
    """Validate YAML text; raise NeuropcError naming file, line and field on any problem."""
    data, lines = parse_mapping(text, source, "spec")
    try:
        return NetworkSpec.model_validate(data)
    except ValidationError as exc:
        refuse_other_kind(data, source, "spec")
        raise NeuropcError(validation_message(exc, source, lines, data)) from None
    except RecursionError:
        raise NeuropcError(f"{source}: the spec is nested too deeply to read") from None


def locate_problem(problem: FieldProblem, path: str | Path) -> NeuropcError:
    """A problem found in a valid spec (target table, memory) as ``file:line: field: ...``,
    pointing at the line of the field in the spec file ``path`` (or the file alone)."""
    path = Path(path)
    try:
        _, lines = parse_mapping(path.read_text(encoding="utf-8"), str(path), "spec")
    except (OSError, UnicodeDecodeError, NeuropcError):
        return NeuropcError(f"{path}: {problem}")
    loc = tuple(int(part) if part.isdigit() else part
                for part in problem.field.replace("[", ".").replace("]", "").split("."))
    return NeuropcError(f"{locate(str(path), lines, loc)}: {problem}")


def load_spec(path: str | Path) -> NetworkSpec:
    path = Path(path)
    return parse_spec(read_text(path, "spec"), str(path))


def dump_spec(spec: NetworkSpec) -> str:
    """The resolved spec (defaults filled in) as YAML that ``parse_spec`` reads back."""
    data = spec.model_dump(mode="json", exclude_none=True)
    return yaml.safe_dump(data, sort_keys=False)
