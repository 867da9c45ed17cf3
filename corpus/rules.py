"""Rule sets are data: YAML files under ``rules/`` hold thresholds, policies and word lists.

Code loads them here and never hard-codes a threshold. ``THRESHER_RULES`` points at another folder.
"""

from __future__ import annotations

import os
import sysconfig
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from corpus import schema
from corpus.errors import UserError
from corpus.yamlfile import read_yaml

T = TypeVar("T")


def rules_dir() -> Path:
    """``$THRESHER_RULES``, else the checkout's ``rules/`` (source or editable install), else the copy
    a wheel installs under ``<prefix>/share/thresher/rules`` (pyproject's data-files)."""
    env = os.environ.get("THRESHER_RULES")
    if env:
        return Path(env)
    checkout = Path(__file__).resolve().parent.parent / "rules"
    if checkout.is_dir():
        return checkout
    for scheme in (sysconfig.get_default_scheme(), f"{os.name}_user"):
        installed = Path(sysconfig.get_path("data", scheme)) / "share" / "thresher" / "rules"
        if installed.is_dir():
            return installed
    return checkout


def resolve(ref: str | os.PathLike) -> Path:
    """A rules file by path, or by name relative to the rules folder (``quality/c4.yaml``)."""
    p = Path(ref)
    if p.is_file():
        return p
    q = rules_dir() / p
    if q.is_file():
        return q
    raise UserError(f"rules file not found: {ref} (looked in {rules_dir()})")


@lru_cache(maxsize=256)
def _load(path: str) -> Any:
    return read_yaml(path, "rules file")


def load(ref: str | os.PathLike) -> Any:
    return _load(str(resolve(ref)))


def load_as(cls: type[T], ref: str | os.PathLike, what: str) -> T:
    """A rules file whose keys the dataclass ``cls`` holds (`corpus.schema`: an empty file takes the
    defaults); ``what`` names the file in errors, one line each (``blocklist lists/x.yaml: unknown key
    'domian' (did you mean 'domains'?)``)."""
    data = load(ref)
    try:
        return schema.from_mapping(cls, data)
    except UserError as e:
        raise UserError(f"{what} {ref}: {e}") from None
