"""The PII review sample survives what real corpora contain: repeated document ids."""

from __future__ import annotations

import stat
from pathlib import Path

import orjson

from corpus.document import Document
from corpus.stages.pii.review import ReviewSampler


def test_repeated_ids_do_not_break_the_sample(tmp_path: Path) -> None:
    sampler = ReviewSampler(2, 10)
    for i in range(5):  # the same id five times: equal ranks must not compare the items
        sampler.observe(Document("dup", f"text number {i} without anything personal in it", "s"), [], {})
    sampler.write(tmp_path, "00000")
    part = tmp_path / "parts" / "00000.jsonl"
    items = [orjson.loads(x) for x in part.read_bytes().splitlines()]
    assert len(items) == 2 and {i["doc_id"] for i in items} == {"dup"}
    assert stat.S_IMODE(part.stat().st_mode) == 0o600
