"""Where a deduplicated document goes: on, to ``excluded/<label>/``, or on with a flag (annotate mode)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from corpus.document import Document
from corpus.engine.context import StageContext
from corpus.stages.base import Stage


def route(stage: Stage, decided: Iterable[tuple[Document, bool]], reason: str,
          ctx: StageContext) -> Iterator[Document]:
    """Yield the kept documents of ``(document, is_duplicate)`` pairs, counting each duplicate once."""
    annotate = stage.mode == "annotate"
    for doc, duplicate in decided:
        if not duplicate:
            yield doc
            continue
        doc.flag(stage.label, reason)
        if annotate:
            ctx.flagged(reason)
            yield doc
        else:
            ctx.exclude(doc, reason)
