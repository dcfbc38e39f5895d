"""Errors a user can fix. The CLI prints them as one message and exits non-zero."""


class NeuropcError(Exception):
    """A problem with the user's input (spec, file, option), not a bug in neuropc.

    The message is complete on its own: it names the file, line or field and the limit that
    was exceeded, because the CLI shows it without a traceback.
    """
