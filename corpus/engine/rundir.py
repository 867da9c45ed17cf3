"""The one check between a name and a write: every path the engine builds from configured names
(stage labels, task ids) must resolve inside the run directory. Labels are already plain names; this
keeps a future name, a symlink or a bug from writing beside or above the run."""

from __future__ import annotations

from pathlib import Path

from corpus.errors import UserError


def in_run(run_dir: Path, *parts: str) -> Path:
    """``run_dir / parts``, refused (a `UserError`) unless it resolves inside ``run_dir``."""
    path = run_dir.joinpath(*parts)
    if not path.resolve().is_relative_to(run_dir.resolve()):
        raise UserError(f"{'/'.join(parts)} would be written outside the run directory {run_dir}; "
                        "labels and configured paths must stay inside it")
    return path
