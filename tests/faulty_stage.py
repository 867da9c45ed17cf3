"""``test_fault``: a real stage for tests that fails the way hostile data or a bad machine makes one fail.

Registered when imported, so a test builds it in-process (``workers: 1``) like any other stage.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from corpus.stages import base


@dataclass
class FaultParams:
    word: str = "BOOM"  # the documents it fails on hold this
    error: str = "ValueError"  # ValueError, or an errno name (ENOSPC, EIO) for an OSError
    delete: str | None = None  # instead of raising: delete this file (an input that vanishes mid-run)
    while_exists: str | None = None  # raise only while this file exists (a fault that goes away)


@base.register
class FaultyStage(base.Stage):
    name = "test_fault"
    Params = FaultParams

    def process(self, docs, ctx) -> Iterator:
        p: FaultParams = self.p
        for doc in docs:
            if p.word in doc.text and (p.while_exists is None or Path(p.while_exists).exists()):
                if p.delete:
                    Path(p.delete).unlink(missing_ok=True)
                elif p.error == "ValueError":
                    raise ValueError(f"cannot handle {doc.text!r}")  # the text must not reach the quarantine
                else:
                    code = getattr(errno, p.error)
                    raise OSError(code, os.strerror(code))
            yield doc


@dataclass
class ScanFaultParams:
    word: str = "BOOM"  # its scan raises on the documents that hold this
    at_end: bool = False  # instead: raise once every document is scanned


@base.register
class FaultyScanStage(base.GlobalStage):
    """``test_fault_scan``: a global stage whose scan raises (on a document, or after the last one)."""

    name = "test_fault_scan"
    Params = ScanFaultParams

    def scan(self, docs, ctx) -> None:
        p: ScanFaultParams = self.p
        for doc in docs:
            if not p.at_end and p.word in doc.text:
                raise ValueError(f"cannot scan {doc.text!r}")
        if p.at_end:
            raise ValueError("scan failed at its end")

    def reduce(self, ctx) -> None:
        """Nothing to decide."""

    def process(self, docs, ctx) -> Iterator:
        yield from docs
