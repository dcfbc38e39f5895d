"""How every neuropc command reports a user error (one message on stderr, exit status 2) and
how a long run hears that it should stop (SIGINT, SIGTERM)."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any

import click

from neuropc.errors import NeuropcError


def user_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a NeuropcError into 'error: ...' on stderr and its exit status (2; 130 for a run
    stopped by Ctrl-C), no traceback; a second Ctrl-C that cuts a run short likewise."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except NeuropcError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("error: interrupted", err=True)
            sys.exit(130)

    return wrapper


@contextmanager
def stop_on_signals() -> Iterator[Callable[[], bool]]:
    """While active, SIGINT and SIGTERM ask the run to stop after the step in progress (it
    then writes a checkpoint and says how to resume) instead of killing it mid-write; a
    second SIGINT stops at once. Yields the question the run loop asks after every step."""
    requested: list[int] = []
    previous: dict[int, Any] = {}

    def handler(signum: int, frame: object) -> None:
        if requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        requested.append(signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[signum] = signal.signal(signum, handler)
        except ValueError:  # not the main thread: leave the signals alone
            pass
    try:
        yield lambda: bool(requested)
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
