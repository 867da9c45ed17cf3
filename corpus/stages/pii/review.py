"""The opt-in human-review sample: snippets of flagged and unflagged text, stratified, kept private.

Recall figures on a benchmark say little about a new corpus; a reviewer reading what was found (per
entity type) and what was not (documents with no finding) does. Each stratum keeps the ``n`` items
with the smallest hash of (document id, offset), a bottom-k sample that is the same whichever worker
saw which document, so per-task parts merge into one deterministic sample. The files hold raw
personal data: the folder is 0700, every file 0600, and a README says so.
"""

from __future__ import annotations

import hashlib
import heapq
import os
from pathlib import Path
from typing import Any

import orjson
from presidio_analyzer import RecognizerResult

from corpus.document import Document

UNFLAGGED = "unflagged"
MARKER = """CONTAINS PERSONAL DATA.

This folder holds a sample of raw text snippets that Thresher's `pii` stage flagged (one stratum per
entity type) or did not flag (stratum `unflagged`), for human review of precision and recall. The
snippets are copied from the input before scrubbing. Keep this folder private (files are 0600),
do not publish or share it, and delete it when the review is done.
"""


def _rank(*parts: Any) -> str:
    return hashlib.sha256("\0".join(map(str, parts)).encode()).hexdigest()


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` so that only the owner can ever read it (0600 from creation, atomic rename)."""
    for d in (path.parent.parent, path.parent):
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(d, 0o700)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


class ReviewSampler:
    """Bottom-``n`` items per stratum for one task; `write` leaves them in ``review/pii/parts/``."""

    def __init__(self, n: int, context_chars: int):
        self.n = n
        self.context = context_chars
        self.heaps: dict[str, list[tuple[str, int, dict[str, Any]]]] = {}  # max-heaps by negated rank
        self._seen = 0  # tie-breaker: equal ranks (a repeated document id) never compare the items

    def _offer(self, stratum: str, rank: str, item: dict[str, Any]) -> None:
        heap = self.heaps.setdefault(stratum, [])
        key = _negate(rank)
        self._seen += 1
        if len(heap) < self.n:
            heapq.heappush(heap, (key, -self._seen, item))
        elif key > heap[0][0]:
            heapq.heapreplace(heap, (key, -self._seen, item))

    def observe(self, doc: Document, results: list[RecognizerResult], actions: dict[str, str]) -> None:
        text, w = doc.text, self.context
        if not results:
            start = int(_rank(doc.id, "none")[:8], 16) % max(1, len(text) - 2 * w) if len(text) > 2 * w else 0
            self._offer(UNFLAGGED, _rank(doc.id, "none"), {
                "stratum": UNFLAGGED, "doc_id": doc.id, "snippet": text[start:start + 2 * w], "offset": start})
            return
        for r in results:
            lo = max(0, r.start - w)
            self._offer(r.entity_type, _rank(doc.id, r.start), {
                "stratum": r.entity_type, "doc_id": doc.id, "snippet": text[lo:r.end + w], "offset": lo,
                "span": [r.start - lo, r.end - lo], "score": round(r.score, 3), "action": actions[r.entity_type]})

    def write(self, review_dir: Path, task_id: str) -> None:
        lines = [orjson.dumps(item) + b"\n" for item in _ordered(self.heaps)]
        write_private(review_dir / "parts" / f"{task_id}.jsonl", b"".join(lines))


def merge(review_dir: Path, n: int) -> int:
    """Merge every task's part into ``sample.jsonl`` (bottom-``n`` per stratum) and the README marker."""
    parts = sorted((review_dir / "parts").glob("*.jsonl"))
    heaps: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for part in parts:
        for line in part.read_bytes().splitlines():
            item = orjson.loads(line)
            rank = _rank(item["doc_id"], item.get("offset", 0) + (item.get("span") or [0])[0]
                         if item["stratum"] != UNFLAGGED else "none")
            heaps.setdefault(item["stratum"], []).append((rank, item))
    chosen = {s: [(_negate(r), it) for r, it in heapq.nsmallest(n, h, key=lambda x: x[0])] for s, h in heaps.items()}
    items = _ordered(chosen)
    write_private(review_dir / "sample.jsonl", b"".join(orjson.dumps(i) + b"\n" for i in items))
    write_private(review_dir / "README.txt", MARKER.encode())
    return len(items)


def _negate(rank: str) -> str:
    """A key whose order is the reverse of ``rank``'s, for a max-heap on Python's min-heap."""
    return "".join(f"{15 - int(c, 16):x}" for c in rank)


def _ordered(heaps: dict[str, list[tuple]]) -> list[dict[str, Any]]:
    """Items by stratum, then by rank (smallest first): a stable file for identical runs."""
    return [entry[-1] for s in sorted(heaps) for entry in sorted(heaps[s], key=lambda x: x[0], reverse=True)]
