"""Texts from user-given files: classifier training sets and evaluation sets for decontamination.

JSONL (``.jsonl``, ``.jsonl.gz``, ``.jsonl.zst``, ``.json`` lines): each record gives one text, the
listed ``fields`` joined by a line break (a list value contributes every string in it); without
``fields``, ``text`` when present, else every string value of the record. Any other file is plain
text with one document per non-empty line.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from corpus.errors import UserError
from corpus.io.jsonl import open_compressed

_JSONL = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".json", ".ndjson")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)


def record_text(rec: dict[str, Any], fields: list[str] | None) -> str:
    if fields:
        return "\n".join(s for f in fields for s in _strings(rec.get(f)))
    if isinstance(rec.get("text"), str):
        return rec["text"]
    return "\n".join(_strings(rec))


def read_texts(path: str | Path, fields: list[str] | None = None) -> Iterator[str]:
    """Every non-empty text in ``path``; a missing file or a malformed line is a `UserError`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"file not found: {path}")
    if not path.name.endswith(_JSONL):
        with open(path, encoding="utf-8", errors="replace") as f:
            yield from (line.strip() for line in f if line.strip())
        return
    with open_compressed(str(path)) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = orjson.loads(line)
            except orjson.JSONDecodeError:
                raise UserError(f"{path}:{lineno}: not valid JSON") from None
            text = record_text(rec, fields) if isinstance(rec, dict) else "\n".join(_strings(rec))
            if text.strip():
                yield text
