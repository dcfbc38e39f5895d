"""How every neuropc command reports a user error: one line on stderr, exit status 2."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

import click

from neuropc.errors import NeuropcError


def user_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a NeuropcError into 'error: ...' on stderr and exit status 2, no traceback."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except NeuropcError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)

    return wrapper
