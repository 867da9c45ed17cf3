"""Shared benchmark helpers: real-text corpora from the bundled ``tests/data``, timing, and result files.

Every benchmark reads only what the repository bundles (through ``tests/testdata.py``, the one place
that names those files) or what it generates from them with a fixed seed, so a fresh clone runs them
all. Each benchmark writes its headline comparison with ``write_result``; ``run_all.py`` collects them
into one table.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

from testdata import PII_SET, speech_paths, speech_text  # noqa: E402

from corpus.io.atomic import write_json  # noqa: E402

__all__ = ["PII_SET", "REPO", "paragraphs_name", "row", "speech_paragraph_docs", "speech_paths", "speech_text",
           "timed", "write_jsonl_files", "write_result"]


def speech_paragraph_docs(n: int, size: int = 2900) -> list[dict]:
    """``n`` documents of about ``size`` characters, cut in order from the bundled speeches (no randomness)."""
    text = "\n\n".join(speech_text(p) for p in speech_paths())
    docs, pos = [], 0
    for i in range(n):
        if pos + size > len(text):
            pos = (pos * 7919 + 13) % max(1, len(text) - size)  # wrap to a different offset
        docs.append({"id": f"d{i}", "text": text[pos:pos + size]})
        pos += size
    return docs


def paragraphs_name(n: int, size: int = 2900) -> str:
    """The data set name of ``speech_paragraph_docs(n, size)``, for result files."""
    return f"speech paragraphs: {n:,} x {size:,} chars cut from tests/data/prose"


def write_jsonl_files(docs: list[dict], folder: Path, files: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"part-{k:03d}.jsonl" for k in range(files)]
    handles = [open(p, "wb") for p in paths]
    for i, d in enumerate(docs):
        handles[i % files].write(orjson.dumps(d) + b"\n")
    for h in handles:
        h.close()
    return paths


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def row(contender: str, peer: str, metric: str, ours: float, theirs: float) -> dict:
    """One line of the summary table: both figures from the same run; ``metric`` is higher-is-better,
    so ``ratio`` (contender / peer) above 1 means the contender is ahead."""
    return {"contender": contender, "peer": peer, "metric": metric, "contender_value": ours,
            "peer_value": theirs, "ratio": round(ours / theirs, 3) if theirs else None}


def write_result(path: str | None, bench: str, dataset: str, rows: list[dict], **details: object) -> None:
    """Write a benchmark's result file (``--json``): its data set, summary rows and any details."""
    if path:
        write_json(path, {"bench": bench, "dataset": dataset, "rows": rows, **details})
