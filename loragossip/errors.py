"""The error a subcommand raises for a user mistake."""


class CommandError(Exception):
    """A user-facing failure: printed as one line, exit status 2, no traceback."""
