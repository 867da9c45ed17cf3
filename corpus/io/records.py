"""Turn a reader's raw record into a `Document`, or say why it cannot be one.

This is the one place that maps the user's columns (``text_field``, ``id_field``) and enforces the
reader-level rules, so every format accounts for bad records the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from corpus.document import Document
from corpus.io.raw import Raw
from corpus.keys import FLAGS

READER_STAGE = "read"


DUPLICATE_IDS = ("suffix", "keep", "quarantine")  # reader.duplicate_ids; the first is the default


@dataclass(frozen=True, slots=True)
class RecordRules:
    text_field: str = "text"
    id_field: str = "id"
    max_doc_chars: int = 10_000_000


def _is_flag_list(value: object) -> bool:
    """``metadata.flags`` is where stages record their decisions (`Document.flag`): an input field of
    that name must already be such a list, or the first stage to flag the record could not."""
    return isinstance(value, list) and all(
        isinstance(f, dict) and isinstance(f.get("stage"), str) and isinstance(f.get("reason"), str)
        for f in value)


def to_document(raw: Raw, rules: RecordRules) -> tuple[Document | None, str | None]:
    """Return ``(doc, None)``, ``(doc, reason)`` for a readable record to exclude, or ``(None, error)``.

    On ``(None, error)`` the caller quarantines ``raw`` with that error.
    """
    rec = raw.record
    if rec is None:
        return None, raw.error or "unreadable record"
    text = rec.get(rules.text_field)
    if text is None:
        return None, f"missing text field {rules.text_field!r}"
    if not isinstance(text, str):
        return None, f"text field {rules.text_field!r} is {type(text).__name__}, not a string"
    doc_id = rec.get(rules.id_field)
    doc_id = f"{raw.file}:{raw.line}" if doc_id is None or doc_id == "" else str(doc_id)
    if isinstance(rec.get("metadata"), dict) and "source" in rec:
        # A Thresher document read back (chained runs): keep its source and annotations.
        metadata = dict(rec["metadata"])
        source = str(rec["source"])
        extra = {k: v for k, v in rec.items() if k not in (rules.text_field, rules.id_field, "metadata", "source")}
        metadata.update(extra)
    else:
        source = raw.file
        metadata = {k: v for k, v in rec.items() if k not in (rules.text_field, rules.id_field)}
    if FLAGS in metadata and not _is_flag_list(metadata[FLAGS]):
        return None, (f"reserved field {FLAGS!r} holds {type(metadata[FLAGS]).__name__} {metadata[FLAGS]!r:.60}, "
                      "not Thresher's list of {stage, reason}; rename the field in the input")
    doc = Document(doc_id, text, source, metadata, raw.line)
    if raw.exclude:
        return doc, raw.exclude
    if not text.strip():
        return doc, "empty_text"
    if len(text) > rules.max_doc_chars:
        return doc, "doc_too_large"
    return doc, None
