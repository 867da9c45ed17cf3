"""Errors that are the user's to fix.

A `UserError` is printed as one line on stderr with exit code 2 and no traceback; everything else is
a bug in Thresher and keeps its traceback.
"""


class UserError(Exception):
    """A mistake in the user's input, config or command line (exit code 2)."""


class Fault(Exception):
    """Something outside the config stopped the run: a full disk, a lost input, a stage failing on too
    many documents. One line on stderr saying what to do, exit code 1."""


class InvariantError(Exception):
    """A check the run itself made failed: accounting or verification (exit code 1)."""
