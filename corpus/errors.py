"""Errors that are the user's to fix, and faults of the machine the run is on.

A `UserError` is printed as one line on stderr with exit code 2 and no traceback; a `Fault` (a full
disk, a lost input, a stage failing too often) as one line with exit code 1; everything else is a bug
in Thresher and keeps its traceback.
"""

from __future__ import annotations

import errno


class UserError(Exception):
    """A mistake in the user's input, config or command line (exit code 2)."""


class Fault(Exception):
    """Something outside the config stopped the run: a full disk, a lost input, a stage failing on too
    many documents. One line on stderr saying what to do, exit code 1."""


class InvariantError(Exception):
    """A check the run itself made failed: accounting or verification (exit code 1)."""


_RESUME = "then rerun the same command to resume"
_OS_FAULTS = {
    errno.ENOSPC: "no space left on the device ({where}): free space, " + _RESUME,
    errno.EDQUOT: "disk quota exceeded ({where}): free space or raise the quota, " + _RESUME,
    errno.EROFS: "read-only file system ({where}): choose a writable output",
    errno.EACCES: "permission denied ({where}): fix the permissions, " + _RESUME,
    errno.EPERM: "operation not permitted ({where}): fix the permissions, " + _RESUME,
    errno.ENOENT: "{where} vanished during the run: restore it, " + _RESUME,
    errno.EIO: "input/output error ({where}): check the disk or network filesystem, " + _RESUME,
    errno.ESTALE: "stale network filesystem handle ({where}): check the mount, " + _RESUME,
    errno.ENOTCONN: "network filesystem disconnected ({where}): check the mount, " + _RESUME,
    errno.ETIMEDOUT: "network filesystem timed out ({where}): check the mount, " + _RESUME,
    errno.EHOSTDOWN: "network filesystem host is down ({where}): check the mount, " + _RESUME,
}


def os_fault(e: OSError, where: str) -> Fault:
    """One line for an operating-system error: what happened, to which file, and what to do.

    ``where`` names the place when the error does not (a write to a full disk has no file name)."""
    place = f"{e.filename}" if e.filename else where
    template = _OS_FAULTS.get(e.errno or -1)
    if template is None:
        return Fault(f"{e.strerror or e} ({place}); {_RESUME}")
    return Fault(template.format(where=place))
