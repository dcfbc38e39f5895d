"""Shared by the bad-input and fuzz tests: small valid inputs, artifact surgery with a fixed
checksum, and the one assertion every refused input must pass."""

from __future__ import annotations

import copy
import hashlib
import io
import math
import struct
import zipfile
from collections.abc import Iterable
from pathlib import Path

import yaml
from click.testing import CliRunner, Result

from compiler.artifact import _HEADER, HEADER_SIZE, MAGIC
from neuropc.cli import main

ROOT = Path(__file__).resolve().parents[3]


def small_spec_data() -> dict:
    """A valid spec small enough to compile in a fraction of a second."""
    data = yaml.safe_load((ROOT / "examples" / "copy.yaml").read_text())
    data["recurrent"]["size"] = 6
    data["readout"]["hidden"] = [5]
    data["readout"]["output"] = 3
    data["input"]["size"] = 5
    data["task"].update(length=3, delay=3, vocab=3)
    data["run"].update(steps=4, batch=3, eval_every=2, eval_sequences=6)
    data["hardware"] = {"target": "loihi2"}
    return data


def with_value(data: dict, path: str, value: object) -> dict:
    """A deep copy with the dotted ``path`` set (``DELETE`` removes the key)."""
    out = copy.deepcopy(data)
    node = out
    keys = path.split(".")
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    if value is DELETE:
        node.pop(keys[-1], None)
    else:
        node[keys[-1]] = value
    return out


DELETE = object()


def write_yaml(path: Path, data: object) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def rewrite_member(artifact: Path, out: Path, name: str, content: bytes | None) -> Path:
    """A copy of ``artifact`` with member ``name`` replaced (None: removed) and the header's
    length and checksum fixed, so only the loader's own checks can catch it."""
    data = artifact.read_bytes()
    source = zipfile.ZipFile(io.BytesIO(data[HEADER_SIZE:]))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as target:
        for item in source.namelist():
            if item == name:
                if content is not None:
                    target.writestr(item, content)
            else:
                target.writestr(item, source.read(item))
    return with_payload(out, buffer.getvalue(), struct.unpack_from("<8sI", data)[1])


def with_payload(out: Path, payload: bytes, version: int) -> Path:
    """An artifact file around ``payload`` with a correct header."""
    out.write_bytes(_HEADER.pack(MAGIC, version, len(payload), hashlib.sha256(payload).digest()) + payload)
    return out


def snapshot(folder: Path) -> dict[str, str]:
    """Every file and folder under ``folder`` with the SHA-256 of its bytes."""
    files = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        files[key] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return files


def run(args: Iterable[object]) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_refused(result: Result, fragments: Iterable[str], before: dict[str, str] | None = None,
                   folder: Path | None = None) -> list[str]:
    """Exit 2, no traceback, at most 3 lines naming the problem, and (given a snapshot)
    nothing under ``folder`` created, changed or removed."""
    text = result.output
    assert result.exit_code == 2, (result.exit_code, text, result.exception)
    assert "Traceback" not in text and not isinstance(result.exception, AssertionError | TypeError), text
    lines = [line for line in text.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 3, text
    for fragment in fragments:
        assert fragment.lower() in text.lower(), (fragment, text)
    for internal in ("pydantic", "ValidationError", "instance of", "[type=", "errors.pydantic.dev"):
        assert internal not in text, text
    if before is not None and folder is not None:
        assert snapshot(folder) == before, text
    return lines


def finite(value: object) -> bool:
    return not (isinstance(value, float) and not math.isfinite(value))
