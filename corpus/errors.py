"""Errors that are the user's to fix.

A `UserError` is printed as one line on stderr with exit code 2 and no traceback; everything else is
a bug in Thresher and keeps its traceback.
"""


class UserError(Exception):
    """A mistake in the user's input, config or command line (exit code 2)."""


class InvariantError(Exception):
    """A check the run itself made failed: accounting or verification (exit code 1)."""
