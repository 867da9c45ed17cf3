"""The document record that flows through every stage.

One JSONL line: ``{"id", "text", "source", "metadata"}``. ``metadata`` holds the input record's other
fields plus the stages' annotations; ``metadata.flags`` lists every negative decision so that a run
in annotate mode can be replayed as a filter later (annotate first, decide later).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from corpus.keys import FLAGS  # the metadata key of every negative decision (`Document.flag`)


@dataclass(slots=True)
class Document:
    id: str
    text: str
    source: str
    metadata: dict[str, Any] = field(default_factory=dict)
    # 1-based line (or row) in the input this run read it from; not written out, it only lets a
    # document quarantined in the read pass name its place (later passes read documents back).
    line: int | None = field(default=None, compare=False, repr=False)

    def flag(self, stage: str, reason: str) -> None:
        """Record a negative decision by ``stage``; the reason code is short and stable."""
        self.metadata.setdefault(FLAGS, []).append({"stage": stage, "reason": reason})

    @property
    def flags(self) -> list[dict[str, str]]:
        return self.metadata.get(FLAGS, [])

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "source": self.source, "metadata": self.metadata}

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Document:
        return cls(id=d["id"], text=d["text"], source=d.get("source", ""), metadata=d.get("metadata") or {})

    @classmethod
    def from_json(cls, line: bytes | str) -> Document:
        return cls.from_dict(orjson.loads(line))
