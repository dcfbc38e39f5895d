"""A trial's folder name, read from its settings: ``rule.name=bptt,run.seed=1``.

Names are stable (the same settings give the same name on every run, which is how a second
run of a sweep finds the trials it finished) and readable in ``ls``; a name with characters a
file name should not hold, or longer than ``MAX_NAME``, keeps a readable prefix and ends in a
hash of the full text, so two different trials never share a folder.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from typing import Any

#: longest folder name (file systems allow 255 bytes; shells and tables read 100 better)
MAX_NAME = 100
#: characters kept in a folder name; anything else becomes "_" and the name gets a hash
_UNSAFE = re.compile(r"[^A-Za-z0-9._=,+-]")
HASH_CHARS = 10


def value_text(value: Any) -> str:
    """A setting's value as the sweep file would write it: ``0.05``, ``bptt``, ``true``,
    ``{"activity":0.2}`` for a mapping."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int | str):
        return str(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def trial_name(settings: Iterable[tuple[str, Any]]) -> str:
    """``path=value`` joined by commas (``base`` for a trial that changes nothing), made safe
    for a folder name."""
    text = ",".join(f"{path}={value_text(value)}" for path, value in settings) or "base"
    safe = _UNSAFE.sub("_", text)
    if safe == text and len(text) <= MAX_NAME and not text.startswith("."):
        return text
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_CHARS]
    return f"{safe.lstrip('.')[:MAX_NAME - HASH_CHARS - 1]}-{digest}"
