"""Quarantine: records that cannot go on, with where they came from and the step that failed.

Every pass of a task keeps its own file (``quarantine/<task>-quarantine.jsonl`` for the read pass,
``<task>-pass<k>-quarantine.jsonl`` after), so redoing one pass of a task never deletes what an
earlier pass quarantined. A document's entry names its source, line, id, the failing step and the
exception type; never its text, which may be what made a stage fail (or be private).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from corpus.document import Document
from corpus.io import atomic
from corpus.io.raw import DUPLICATE_ID, STAGE_ERROR, UNSERIALISABLE, Raw, error_code, quarantine_entry
from corpus.io.writers import UnserialisableError
from corpus.rundir import RunDir

__all__ = ["DUPLICATE_ID", "STAGE_ERROR", "UNSERIALISABLE", "Quarantine"]


def _printable(value: str) -> str:
    """``value`` as JSON can hold it: a lone surrogate (an id read from ``"\\udfff"``) becomes its escape."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


class Quarantine:
    """One task's quarantine in one pass: entries in order, counted by code into ``counts``."""

    def __init__(self, counts: Counter):
        self.counts = counts
        self.entries: list[dict[str, Any]] = []

    def raw(self, raw: Raw) -> None:
        """A record the reader could not turn into a document."""
        self.entries.append(quarantine_entry(raw))
        self.counts[error_code(raw.error or "")] += 1

    def doc(self, doc: Document, code: str, step: str, exc: BaseException | None = None) -> None:
        """A document that ``step`` could not handle (``code``: `STAGE_ERROR`, `UNSERIALISABLE`, or
        `DUPLICATE_ID` without an exception)."""
        kind = type(exc).__name__
        # the encoder's message names the problem, never the data; a stage's message may quote the text
        why = str(exc) if isinstance(exc, UnserialisableError) else f"raised {kind}" if exc else "id seen before"
        entry = {"file": _printable(doc.source), "line": doc.line, "id": _printable(doc.id),
                 "error": f"{code}: {step}: {why}", "step": step}
        if exc is not None:
            entry["exception"] = kind
        if code == STAGE_ERROR:
            entry["stage"] = step
        self.entries.append(entry)
        self.counts[code] += 1

    def write(self, run_dir: Path, task_id: str, pass_index: int) -> None:
        """Write this pass's file (or none: a redo that quarantines nothing leaves no stale file)."""
        target = RunDir(run_dir).quarantine_file(task_id, pass_index)
        if self.entries:
            atomic.write_bytes(target, b"".join(orjson.dumps(e) + b"\n" for e in self.entries))
        else:
            target.unlink(missing_ok=True)
