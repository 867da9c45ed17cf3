"""What a reader yields: a parsed record or an unreadable one, with its place in the input."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

RAW_KEEP_BYTES = 4096


@dataclass(slots=True)
class Raw:
    """One input record. ``record`` is None when it could not be parsed; ``error`` then says why."""

    file: str
    line: int  # 1-based line (JSONL, text) or row (Parquet, datasets)
    record: dict[str, Any] | None = None
    error: str | None = None
    raw: bytes | None = None
    skip: str | None = None  # a record read and set aside by its type (a WARC request, revisit, ...)
    exclude: str | None = None  # a readable record the reader excludes, with this reason (a WARC 404)
    counts: tuple[str, ...] = ()  # counters it adds to the reader's ``extra`` (WARC type, status, ...)


def quarantine_entry(raw: Raw) -> dict[str, Any]:
    """The quarantine line for an unreadable record: where, why, and the first bytes (base64)."""
    data = raw.raw or b""
    return {
        "file": raw.file,
        "line": raw.line,
        "error": raw.error,
        "raw_bytes": len(data),
        "raw_truncated": len(data) > RAW_KEEP_BYTES,
        "raw_base64": base64.b64encode(data[:RAW_KEEP_BYTES]).decode("ascii"),
    }


MALFORMED_CSV = "malformed CSV"  # a CSV/TSV row that does not fit its header
DUPLICATE_ID = "duplicate_id"  # the id came before in the task (reader.duplicate_ids: quarantine)
STAGE_ERROR = "stage_error"  # a stage raised on the document (the entry names the stage and exception type)
UNSERIALISABLE = "unserialisable"  # the document has no JSON form (nested too deep, ...)

_CODES = (
    (STAGE_ERROR, STAGE_ERROR),
    (DUPLICATE_ID, DUPLICATE_ID),
    (UNSERIALISABLE, UNSERIALISABLE),
    ("malformed JSON", "malformed_json"),
    (MALFORMED_CSV, "malformed_csv"),
    ("invalid UTF-8", "invalid_utf8"),
    ("JSON value is", "not_an_object"),
    ("missing text field", "missing_text"),
    ("reserved field", "reserved_field"),
    ("text field", "text_not_string"),
    ("truncated or corrupt", "truncated_stream"),
    ("unreadable", "unreadable_file"),
    ("truncated WARC record", "warc_truncated"),
    ("undecodable", "undecodable"),
)


def error_code(error: str) -> str:
    """The short, stable code a quarantine reason is counted under in the ledger."""
    for prefix, code in _CODES:
        if error.startswith(prefix):
            return code
    return "unreadable_record"
