"""``rights``: drop (or, in ``mode: annotate``, flag) documents whose rightsholder reserved them from
text and data mining (DSM directive Art. 4(3)), decided per document from its URL and metadata.

Mechanisms, checked in this order (the first that applies gives the reason code, docs/rights.md):
the user's opt-out list (content hash, URL prefix, domain), TDMRep (``tdm-reservation`` in the page's
metadata or the host's ``/.well-known/tdmrep.json`` snapshot), ``noai``-style robots meta directives
(``metadata.robots``, set by ``extract``), the ``X-Robots-Tag`` header (``metadata.x_robots_tag``, set
by the WARC reader), and robots.txt rules for AI user agents (the host's snapshot). Snapshots are files
the user supplies, never fetched: a build must be reproducible. The ledger's ``extra`` counts opted-out
documents per domain (``domain:<host>:<reason>``) and documents checked against a snapshot per its
fetch date (``robots_snapshot:<date>``, ``tdmrep_snapshot:<date>``) for the report and EU summary 3.1.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

import orjson

from corpus import keys, rules, schema
from corpus.document import Document
from corpus.errors import UserError
from corpus.stages.base import Filter, register

UNDATED = "undated"
# ledger ``extra`` counter prefixes the report reads (corpus/report/facts.py)
DOMAIN_COUNTER = "domain:"
SNAPSHOT_COUNTERS = {"robots": "robots_snapshot:", "tdmrep": "tdmrep_snapshot:"}
_DIRECTIVE_SPLIT = re.compile(r"[,\s]+")
# reason code -> the mechanism that reserved the document, in words (the report's and EU summary's labels)
MECHANISMS = {
    "rights_optout_hash": "opt-out list (content hash)",
    "rights_optout_url": "opt-out list (URL prefix)",
    "rights_optout_domain": "opt-out list (domain)",
    "rights_tdm_reserved": "TDMRep (page metadata)",
    "rights_tdmrep_reserved": "TDMRep (tdmrep.json)",
    "rights_robots_meta": "robots meta tag",
    "rights_x_robots_tag": "X-Robots-Tag header",
    "rights_robots_txt": "robots.txt (AI user agents)",
}


@dataclass
class OptOutList:
    """The keys of an opt-out list file (the schema, `corpus.schema`)."""

    domains: list[str] = field(default_factory=list)
    url_prefixes: list[str] = field(default_factory=list)
    content_hashes: list[str] = field(default_factory=list)  # sha256 of the document's text


OPTOUT_KEYS = tuple(schema.keys(OptOutList))  # the stage takes the same lists inline


@dataclass
class RightsParams:
    user_agents: list[str]           # from rules/rights/default.yaml
    directives: list[str]            # from rules/rights/default.yaml
    robots: str | None = None        # folder of <host>.txt, or JSONL {"host", "robots", "fetched"}
    tdmrep: str | None = None        # folder of <host>.json, or JSONL {"host", "tdmrep", "fetched"}
    optout: list[str] = field(default_factory=list)   # YAML files with domains/url_prefixes/content_hashes
    domains: list[str] = field(default_factory=list)
    url_prefixes: list[str] = field(default_factory=list)
    content_hashes: list[str] = field(default_factory=list)
    snapshot_date: str | None = None  # fetch date of snapshot entries that carry none
    field: str = keys.URL

    def check(self) -> None:
        if not self.user_agents:
            raise UserError("stage 'rights': user_agents is empty")
        for key in ("robots", "tdmrep"):
            ref = getattr(self, key)
            if ref is not None and not Path(ref).exists():
                raise UserError(f"stage 'rights': {key} snapshot {ref} does not exist")
        for ref in self.optout:
            rules.resolve(ref)


def load_snapshot(ref: str, body_key: str, default_date: str | None) -> dict[str, tuple[str, Any]]:
    """Host -> ``(fetch date, body)`` from a folder of ``<host>.<ext>`` files or a JSONL file whose lines
    hold ``host`` (or the fetched ``url``), ``body_key`` and an optional ``fetched`` date."""
    path = Path(ref)
    date = default_date or UNDATED
    out: dict[str, tuple[str, Any]] = {}
    if path.is_dir():
        for f in sorted(p for p in path.iterdir() if p.is_file()):
            text = f.read_text(encoding="utf-8", errors="replace")
            out[f.stem.lower()] = (date, text if f.suffix == ".txt" else _json(text, f))
        return out
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = _json(line, f"{path}:{n}")
        host = row.get("host") or urlsplit(str(row.get("url", ""))).hostname if isinstance(row, dict) else None
        if not host or body_key not in row:
            raise UserError(f"{path}:{n}: a snapshot line needs host (or url) and {body_key}")
        out[str(host).lower()] = (str(row.get("fetched") or date)[:10], row[body_key])
    return out


def _json(text: str, where: Any) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as e:
        raise UserError(f"{where}: not JSON ({e})") from None


def load_optout(ref: str) -> OptOutList:
    """An opt-out list: YAML with ``domains``, ``url_prefixes`` and ``content_hashes`` (sha256 of the text)."""
    return rules.load_as(OptOutList, ref, "opt-out list")


def tdm_reserved(value: Any) -> bool:
    """TDMRep's ``tdm-reservation``: 1 reserves the rights, 0 (or absence) does not."""
    return str(value).strip() in ("1", "True", "true")


def tdmrep_rule(rules_: Any, path: str) -> dict | None:
    """The ``tdmrep.json`` entry whose ``location`` pattern (``*`` wildcard, ``$`` end) matches ``path``,
    the longest pattern winning, as in robots.txt."""
    best: tuple[int, dict] | None = None
    for entry in rules_ if isinstance(rules_, list) else []:
        loc = str(entry.get("location", "")) if isinstance(entry, dict) else ""
        pattern = re.escape(loc.removesuffix("$")).replace(r"\*", ".*") + ("$" if loc.endswith("$") else "")
        if loc and re.match(pattern, path) and (best is None or len(loc) > best[0]):
            best = (len(loc), entry)
    return best[1] if best else None


def directives(value: Any) -> set[str]:
    """Robots directives of a meta tag list or an X-Robots-Tag header value (``bot: noai, noimageai``)."""
    values = value if isinstance(value, list) else [value]
    return {token.lower() for v in values if isinstance(v, str) for token in _DIRECTIVE_SPLIT.split(v) if token}


@register
class Rights(Filter):
    name = "rights"
    category = keys.RIGHTS
    Params = RightsParams
    rules = "rights/default.yaml"
    path_params = ("robots", "tdmrep", "optout")
    doc = "Drop or flag documents whose rightsholder opted out of TDM (robots.txt AI agents, TDMRep, noai, opt-out list)."

    def check(self) -> None:
        """Read every opt-out list now: a mistake in one stops `validate` and the build before any task."""
        for ref in self.p.optout:
            load_optout(ref)

    def setup(self) -> None:
        p: RightsParams = self.p
        lists = {k: list(getattr(p, k)) for k in OPTOUT_KEYS}
        for ref in p.optout:
            found = load_optout(ref)
            for key in OPTOUT_KEYS:
                lists[key] += getattr(found, key)
        self._domains = {d.lower().removeprefix("www.").strip(".") for d in lists["domains"]}
        self._prefixes = tuple(u.lower() for u in lists["url_prefixes"])
        self._hashes = {h.lower() for h in lists["content_hashes"]}
        self._directives = {d.lower() for d in p.directives}
        self._robots = {}
        for host, (date, body) in (load_snapshot(p.robots, "robots", p.snapshot_date) if p.robots else {}).items():
            parser = RobotFileParser()
            parser.parse(str(body).splitlines())
            self._robots[host] = (date, parser)
        self._tdmrep = load_snapshot(p.tdmrep, "tdmrep", p.snapshot_date) if p.tdmrep else {}

    def process(self, docs: Iterable[Document], ctx) -> Iterator[Document]:
        def decided() -> Iterator[tuple[Document, str | None]]:
            for doc in docs:
                url = doc.metadata.get(self.p.field)
                host = urlsplit(url).hostname or "" if isinstance(url, str) else ""
                for kind, snapshot in (("robots", self._robots), ("tdmrep", self._tdmrep)):
                    if host in snapshot:
                        ctx.count(SNAPSHOT_COUNTERS[kind] + snapshot[host][0])
                reason = self.decide(doc)
                if reason is not None:
                    ctx.count(f"{DOMAIN_COUNTER}{host.removeprefix('www.') or '-'}:{reason}")
                yield doc, reason
        return self.route(decided(), ctx)

    def decide(self, doc: Document) -> str | None:
        meta = doc.metadata
        url = meta.get(self.p.field) if isinstance(meta.get(self.p.field), str) else ""
        parts = urlsplit(url.lower()) if url else None
        host = (parts.hostname or "") if parts else ""
        if self._hashes and hashlib.sha256(doc.text.encode("utf-8")).hexdigest() in self._hashes:
            return "rights_optout_hash"
        if url and url.lower().startswith(self._prefixes or ("\0",)):
            return "rights_optout_url"
        labels = host.removeprefix("www.").split(".")
        if host and any(".".join(labels[i:]) in self._domains for i in range(len(labels))):
            return "rights_optout_domain"
        if tdm_reserved(meta.get(keys.TDM_RESERVATION, meta.get("tdm-reservation"))):
            return "rights_tdm_reserved"
        if host in self._tdmrep and parts is not None:
            entry = tdmrep_rule(self._tdmrep[host][1], parts.path or "/")
            if entry is not None and tdm_reserved(entry.get("tdm-reservation")):
                return "rights_tdmrep_reserved"
        if not self._directives.isdisjoint(directives(meta.get(keys.ROBOTS_META))):
            return "rights_robots_meta"
        if not self._directives.isdisjoint(directives(meta.get(keys.X_ROBOTS_TAG))):
            return "rights_x_robots_tag"
        if host in self._robots and any(not self._robots[host][1].can_fetch(ua, url) for ua in self.p.user_agents):
            return "rights_robots_txt"
        return None
