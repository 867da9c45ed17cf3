"""Reading a user's YAML file, with every failure as one line naming the file and the place."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from corpus.errors import UserError


def read_yaml(path: str | os.PathLike, what: str) -> Any:
    """Parse ``path``; ``what`` names the file in errors ("pipeline file", "trainer config")."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"{what} not found: {p}")
    if p.is_dir():
        raise UserError(f"{what} is a directory: {p}")
    try:
        return yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise UserError(f"{p}: invalid YAML{at}: {problem}") from None
    except UnicodeDecodeError:
        raise UserError(f"{p}: not a UTF-8 text file") from None
