"""WARC files (``.warc``, ``.warc.gz``; Common Crawl's WET ``.warc.wet.gz``): one record per `Raw`.

Read with FastWARC (the Resiliparse project's C++ reader, maintained, gzip members and plain files
alike). Every record is accounted for, never dropped:

- ``response`` (and ``resource``) records with status 200 and an HTML payload become documents whose
  text is the decoded HTML (the ``extract`` stage turns it into main text); WET ``conversion`` records
  are text already;
- other statuses and payloads are excluded by the reader with ``http_status_<code>`` or
  ``warc_not_html`` (their payload is not kept, only the crawl metadata);
- a record shorter than its ``Content-Length`` (a cut download, a truncated gzip member) is
  quarantined as ``warc_truncated``, a payload no charset decodes as ``undecodable``;
- ``warcinfo``, ``request``, ``metadata``, ``revisit`` and ``continuation`` records are skipped and
  counted by type.

The crawl metadata a document carries (`CRAWL_FIELDS`) is what the report, the EU summary and the
rights stage need: URL, fetch date, content type, HTTP status, the file and byte offset of the record
(its lineage) and the ``X-Robots-Tag`` header.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from typing import Any

from fastwarc.warc import ArchiveIterator, WarcRecordType

from corpus import keys
from corpus.io.raw import Raw

DOC_TYPES = ("response", "resource", "conversion")  # any other type (warcinfo, request, metadata,
# revisit, continuation) is skipped and counted by type
HTML_TYPES = ("text/html", "application/xhtml+xml")
NOT_HTML = "warc_not_html"
TRUNCATED = "truncated WARC record"  # quarantine reason prefix (code warc_truncated)
UNDECODABLE = "undecodable"  # quarantine reason prefix (code undecodable)
COUNT_PREFIXES = ("warc_type", "http_status", "content_type")  # reader counters in stats.json (read.extra)
WARCINFO = "warcinfo"  # the manifest input entry's key for a WARC's warcinfo records

_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.I)
_SNIFF = 4096
LOSSY_SHARE = 0.001


def _http(block: bytes) -> tuple[int | None, dict[str, str], bytes]:
    """Status, headers (lower-case names; repeated ones joined by ", ") and payload of an HTTP response."""
    head, sep, body = block.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = block.partition(b"\n\n")
    lines = head.decode("latin-1").splitlines()
    parts = lines[0].split(None, 2) if lines else []
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon:
            key = name.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    return status, headers, body


def _dechunk(body: bytes) -> bytes:
    """A ``Transfer-Encoding: chunked`` payload as its bytes (a cut chunk keeps what arrived)."""
    out, pos = bytearray(), 0
    while pos < len(body):
        end = body.find(b"\r\n", pos)
        if end < 0:
            break
        size = int(body[pos:end].split(b";")[0].strip() or b"0", 16)
        if size == 0:
            break
        out += body[end + 2:end + 2 + size]
        pos = end + 4 + size
    return bytes(out)


def _content_decoded(body: bytes, headers: dict[str, str]) -> bytes:
    """The payload without its transfer and content encodings (gzip, deflate); raises ValueError."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = _dechunk(body)
    coding = headers.get("content-encoding", "").lower().strip()
    if coding in ("gzip", "x-gzip", "deflate"):
        try:
            return zlib.decompress(body, 47 if coding != "deflate" else 15)
        except zlib.error:
            return zlib.decompress(body, -15)
    if coding not in ("", "identity"):
        raise ValueError(f"content-encoding {coding}")
    return body


def declared_charsets(content_type: str, payload: bytes) -> list[str]:
    """The charsets the server (HTTP header) and the page (``<meta charset>``) declare, in that order."""
    out = [m.group(1).lower() for m in [re.search(r"charset\s*=\s*[\"']?([\w.:-]+)", content_type, re.I)] if m]
    m = _CHARSET.search(payload[:_SNIFF])
    return out + ([m.group(1).decode("ascii").lower()] if m else [])


def _strict(payload: bytes, charsets: list[str]) -> tuple[str, str] | None:
    for cs in charsets:
        try:
            return payload.decode(cs), cs
        except (UnicodeDecodeError, LookupError):
            continue
    return None


def _mostly_utf8(payload: bytes) -> str | None:
    """The payload as UTF-8 with replacement characters, if it is UTF-8 with a few stray bytes: more
    characters beyond ASCII decoded than replaced, and the replaced at most `LOSSY_SHARE` of the text.
    (A Latin-1 page decodes to replacement characters only, and goes to charset detection instead.)"""
    text = payload.decode("utf-8", "replace")
    bad = text.count("\ufffd")
    beyond_ascii = len(text) - len(text.encode("ascii", "ignore"))
    return text if bad <= LOSSY_SHARE * len(text) and beyond_ascii - bad > bad else None


def decode(payload: bytes, declared: list[str]) -> tuple[str, str] | None:
    """``(text, charset)``: the first of the declared charsets and UTF-8 that decodes the bytes (a
    server often declares UTF-8 for a page its ``<meta>`` says is Latin-1); else UTF-8 with a few
    stray bytes replaced (`_mostly_utf8`); else the charset Resiliparse detects. None: the bytes are
    text in none of them."""
    found = _strict(payload, list(dict.fromkeys([*declared, "utf-8"])))
    if found is not None:
        return found
    lossy = _mostly_utf8(payload)
    if lossy is not None:
        return lossy, "utf-8 (lossy)"
    from resiliparse.parse.encoding import detect_encoding

    return _strict(payload, [detect_encoding(payload)])


def _mime(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


def _record(rec_type: str, block: bytes, warc: dict[str, str], file: str, offset: int,
            text_field: str, id_field: str) -> tuple[dict[str, Any], str | None, str | None, list[str]]:
    """``(record, exclusion reason, quarantine error, counters)`` of a document-bearing record."""
    meta: dict[str, Any] = {keys.URL: warc.get("WARC-Target-URI"), keys.FETCH_DATE: warc.get("WARC-Date"),
                            keys.WARC_FILE: file, keys.WARC_OFFSET: offset}
    if rec_type == "response":
        status, headers, payload = _http(block)
        content_type = headers.get("content-type", "")
        meta[keys.HTTP_STATUS] = status
        if "x-robots-tag" in headers:
            meta[keys.X_ROBOTS_TAG] = headers["x-robots-tag"]
    else:  # resource, conversion: the block is the payload, typed by the WARC header
        status, headers, payload = None, {}, block
        content_type = warc.get("Content-Type", "")
    meta[keys.CONTENT_TYPE] = _mime(content_type)
    counts = [f"content_type:{meta[keys.CONTENT_TYPE] or 'none'}"]
    if status is not None:
        counts.append(f"http_status:{status}")
    rid = warc.get("WARC-Record-ID", "").strip("<>") or f"{file}@{offset}"
    record = {id_field: rid, text_field: "", **meta}
    if status is not None and status != 200:
        return record, f"http_status_{status}", None, counts
    accepted = HTML_TYPES + (("text/plain",) if rec_type == "conversion" else ())
    if meta[keys.CONTENT_TYPE] not in accepted:
        return record, NOT_HTML, None, counts
    try:
        payload = _content_decoded(payload, headers)
    except (ValueError, zlib.error) as e:
        return record, None, f"{UNDECODABLE}: {e}", counts
    declared = declared_charsets(content_type, payload)
    decoded = decode(payload, declared)
    if decoded is None:
        return record, None, f"{UNDECODABLE}: the payload is not text in {', '.join(declared + ['utf-8'])} " \
                             "nor the charset detected", counts
    record[text_field], record["charset"] = decoded
    return record, None, None, counts


def read_warc(path: str, file: str, text_field: str, id_field: str) -> Iterator[Raw]:
    """Every record of the WARC at ``path`` (shown as ``file``); ``line`` is the record's 1-based index."""
    with open(path, "rb") as f:  # an OSError here (vanished, no permission) is a fault, not a record
        it = iter(ArchiveIterator(f, parse_http=False, record_types=WarcRecordType.any_type))
        n = 0
        while True:
            try:
                rec = next(it, None)
                if rec is None:
                    return
                warc = dict(rec.headers.asdict())
                block = rec.reader.read()
            except OSError as e:  # a corrupt gzip member: what follows it cannot be told apart
                yield Raw(file, n + 1, error=f"truncated or corrupt compressed stream after record {n}: {e}")
                return
            n += 1
            rec_type = warc.get("WARC-Type", "unknown")
            counts = [f"warc_type:{rec_type}"]
            if rec_type not in DOC_TYPES:
                yield Raw(file, n, skip=rec_type, counts=tuple(counts))
                continue
            length = warc.get("Content-Length", "").strip()
            expected = int(length) if length.isdigit() else 0  # not a number: nothing to check the block against
            if len(block) < expected:
                yield Raw(file, n, error=f"{TRUNCATED}: {len(block)} of {expected} bytes at offset {rec.stream_pos}",
                          raw=block, counts=tuple(counts))
                continue
            record, reason, error, more = _record(rec_type, block, warc, file, rec.stream_pos, text_field, id_field)
            counts += more
            if error:
                yield Raw(file, n, error=error, raw=block, counts=tuple(counts))
            else:
                yield Raw(file, n, record=record, exclude=reason, counts=tuple(counts))


def warcinfo(path: str) -> list[dict[str, str]]:
    """The ``warcinfo`` records at the head of a WARC (crawler software, robots policy, ...), as
    field -> value; read for the run's manifest."""
    out = []
    with open(path, "rb") as f:
        for rec in ArchiveIterator(f, parse_http=False, record_types=WarcRecordType.any_type):
            if rec.headers.get("WARC-Type") != "warcinfo":
                break
            fields = {}
            for line in rec.reader.read().decode("utf-8", "replace").splitlines():
                name, colon, value = line.partition(":")
                if colon and name.strip():
                    fields[name.strip()] = value.strip()
            out.append(fields)
    return out
