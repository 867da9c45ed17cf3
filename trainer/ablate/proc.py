"""The child processes ``thresher ablate`` starts: the data side's ``thresher`` commands, and proxy runs.

The trainer imports only the base of `corpus` (`corpus.base_modules`), so ablate reaches the data side
the way a user does: ``thresher validate --json``, ``thresher build``, ``thresher tokenizer train`` and
``thresher tokenize`` in subprocesses, with this interpreter. A child's failure becomes this process's
own one-line error: its user mistake (exit 2) stays a mistake, anything else is a fault naming the child.
"""

from __future__ import annotations

import subprocess
import sys

from corpus.errors import Fault, UserError

THRESHER = (sys.executable, "-m", "corpus.cli")
ERROR = "thresher: error"  # how every thresher process (and each trainer rank) begins its one-line error


def failure(what: str, rc: int, output: str, where: str = "") -> Exception:
    """The error a child's exit ``rc`` means, with the child's own error line (or its last line) from ``output``."""
    lines = [ln for ln in output.splitlines() if ln.strip()]
    line = next((ln for ln in reversed(lines) if ln.startswith(ERROR)), lines[-1] if lines else "")
    line = line.split(": ", 2)[-1] if line.startswith(ERROR) else line.strip()
    if rc == 2:
        return UserError(f"{what}: {line}")
    return Fault(f"{what} failed (exit {rc}){where}: {line}")


def thresher(*argv: str) -> str:
    """Run ``thresher ARGV``; its stdout is returned, its stderr (warnings) passed on when it succeeds."""
    r = subprocess.run([*THRESHER, *argv], capture_output=True, text=True)
    if r.returncode != 0:
        raise failure(f"thresher {argv[0]}", r.returncode, r.stderr)
    sys.stderr.write(r.stderr)
    return r.stdout
