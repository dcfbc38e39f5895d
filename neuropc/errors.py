"""Errors a user can fix. The CLI prints them as one message and exits non-zero."""

from __future__ import annotations


class NeuropcError(Exception):
    """A problem with the user's input (spec, file, option), not a bug in neuropc.

    The message is complete on its own: it names the file, line or field and the limit that
    was exceeded, because the CLI shows it without a traceback.
    """

    #: the process exit status the command line uses for this error
    exit_code: int = 2


class FieldProblem(NeuropcError):
    """A problem with one field of a spec found after the spec was validated (by the compiler's
    target tables or the memory estimate), which know the field but not the file.

    ``field`` is the dotted path (``hardware.overrides.weight_bits``); whoever read the file
    (``neuropc.spec.loading.locate_problem``) prefixes ``file:line`` so the message points at
    the line to edit, as every other spec error does.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.detail = message


class RunStopped(NeuropcError):
    """A run that stopped before its last step (diverged or interrupted); its run folder keeps
    the last good checkpoint and the message says how to go on from there."""

    def __init__(self, message: str, step: int, exit_code: int = 2) -> None:
        super().__init__(message)
        self.step = step
        self.exit_code = exit_code
