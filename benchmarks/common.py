"""Shared benchmark helpers: a real-text corpus of a given size, timing, and peak RSS of children."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def speech_paragraph_docs(n: int, size: int = 2900) -> list[dict]:
    """``n`` documents of about ``size`` characters, cut from the public-domain speeches."""
    text = "\n\n".join(p.read_text(errors="replace") for p in sorted((SHARED / "prose").rglob("*.txt")))
    docs, pos = [], 0
    for i in range(n):
        if pos + size > len(text):
            pos = (pos * 7919 + 13) % max(1, len(text) - size)  # wrap to a different offset
        docs.append({"id": f"d{i}", "text": text[pos:pos + size]})
        pos += size
    return docs


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


def peak_rss_children_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
