"""One streaming pass over a run's documents, keeping only counts: the report's measured distributions.

Kept documents (``data/``) give the dataset's languages, quality signals, lengths, domains, licences,
sources and PII annotations; removed documents (``excluded/<stage>/``) give the per-source waterfall;
every document that passed a dedup stage gives the cluster-size distribution. Text is measured (its
length) and never kept, and no metadata value other than the ones named here is read.
"""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import zstandard

from corpus import keys, rundir
from corpus.document import Document
from corpus.errors import Fault
from corpus.io.raw import error_code
from corpus.report.domains import registered_domain
from corpus.rundir import RunDir, read_shards

SIGNAL_BINS = 20  # fixed bins over [0, 1]: scores and probabilities, mergeable across files


@dataclass
class Tally:
    """Counts from a set of shards; ``merge`` adds another file's counts."""

    docs: int = 0
    chars: int = 0
    source_docs: Counter = field(default_factory=Counter)
    source_chars: Counter = field(default_factory=Counter)
    lang_docs: Counter = field(default_factory=Counter)
    lang_chars: Counter = field(default_factory=Counter)
    signal_bins: dict[str, list[int]] = field(default_factory=dict)
    signal_outside: Counter = field(default_factory=Counter)  # values outside [0, 1], not binned
    length_log2: Counter = field(default_factory=Counter)  # floor(log2(chars)) -> documents
    cluster_sizes: Counter = field(default_factory=Counter)  # dedup cluster size -> documents seen
    domain_docs: Counter = field(default_factory=Counter)
    domain_chars: Counter = field(default_factory=Counter)
    url_docs: int = 0
    licence_docs: Counter = field(default_factory=Counter)
    licence_chars: Counter = field(default_factory=Counter)
    pii_found: Counter = field(default_factory=Counter)  # entity -> findings in kept documents
    pii_docs: int = 0  # kept documents with at least one finding
    removed: Counter = field(default_factory=Counter)  # (source, stage label, reason) -> documents
    quarantined: Counter = field(default_factory=Counter)  # (source, error code) -> records
    metadata_keys: Counter = field(default_factory=Counter)  # field names only, for the dataset card
    # crawled documents (a fetch date: read from a crawl) kept or removed, by domain: the content scraped
    scraped_domain_docs: Counter = field(default_factory=Counter)
    scraped_domain_chars: Counter = field(default_factory=Counter)
    fetch_first: str | None = None  # earliest and latest WARC-Date of kept documents: the crawl period
    fetch_last: str | None = None

    def merge(self, other: Tally) -> None:
        for name, value in vars(other).items():
            mine = getattr(self, name)
            if isinstance(mine, Counter):
                mine.update(value)
            elif name == "signal_bins":
                for sig, bins in value.items():
                    into = mine.setdefault(sig, [0] * SIGNAL_BINS)
                    for i, n in enumerate(bins):
                        into[i] += n
            elif name == "fetch_last":
                if value and (mine is None or value > mine):
                    setattr(self, name, value)
            elif name == "fetch_first":
                if value and (mine is None or value < mine):
                    self.fetch_first = value
            else:
                setattr(self, name, mine + value)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _source(doc: Document) -> str:
    return str(doc.source or "(none)")


def _count_kept(t: Tally, doc: Document) -> None:
    meta = doc.metadata
    n = len(doc.text or "")
    source = _source(doc)
    t.docs += 1
    t.chars += n
    t.source_docs[source] += 1
    t.source_chars[source] += n
    t.length_log2[max(n, 1).bit_length() - 1] += 1
    t.metadata_keys.update(meta.keys())
    lang = meta.get(keys.LANGUAGE)
    if isinstance(lang, str) and lang:
        t.lang_docs[lang] += 1
        t.lang_chars[lang] += n
    for key, value in meta.items():
        x = _number(value)
        if x is None or not key.endswith(keys.SCORE_SUFFIX):
            continue
        if 0.0 <= x <= 1.0:
            t.signal_bins.setdefault(key, [0] * SIGNAL_BINS)[min(int(x * SIGNAL_BINS), SIGNAL_BINS - 1)] += 1
        else:
            t.signal_outside[key] += 1
    url = meta.get(keys.URL)
    if isinstance(url, str) and url:
        t.url_docs += 1
        dom = registered_domain(url)
        t.domain_docs[dom] += 1
        t.domain_chars[dom] += n
    licence = next((meta[k] for k in keys.LICENCE_KEYS if isinstance(meta.get(k), str) and meta[k]), None)
    if licence is not None:
        t.licence_docs[licence] += 1
        t.licence_chars[licence] += n
    pii = meta.get(keys.PII)
    if isinstance(pii, dict):
        found = {str(k): int(v) for k, v in pii.items() if _number(v) and v > 0}
        t.pii_found.update(found)
        t.pii_docs += bool(found)
    fetched = meta.get(keys.FETCH_DATE)
    if isinstance(fetched, str) and fetched:
        t.fetch_first = fetched if t.fetch_first is None else min(t.fetch_first, fetched)
        t.fetch_last = fetched if t.fetch_last is None else max(t.fetch_last, fetched)


def _count_scraped(t: Tally, doc: Document) -> None:
    """A document read from a crawl (it has a fetch date), kept or removed: the template's 2.3 asks for
    domains by the size of the content scraped, before any filtering, and for crawled sources only."""
    meta = doc.metadata
    url = meta.get(keys.URL)
    if isinstance(meta.get(keys.FETCH_DATE), str) and isinstance(url, str) and url:
        dom = registered_domain(url)
        t.scraped_domain_docs[dom] += 1
        t.scraped_domain_chars[dom] += len(doc.text or "")


def _cluster_size(doc: Document) -> int | None:
    size = _number(doc.metadata.get(keys.DEDUP_CLUSTER_SIZE))
    return int(size) if size else None


def _removal_reason(meta: dict[str, Any], label: str) -> str:
    """The reason ``label`` gave: its last flag on the document (a stage flags before it removes)."""
    for flag in reversed(meta.get(keys.FLAGS) or []):
        if isinstance(flag, dict) and flag.get("stage") == label:
            return str(flag.get("reason"))
    return "unrecorded"


def scan_file(job: tuple[str, str, str]) -> Tally:
    """Count one shard. ``job`` is ``(kind, path, stage label)``; kind is the run folder it lies in (kept
    documents, a stage's excluded ones, or quarantined records: `corpus.rundir`'s names).

    A shard that cannot be read (truncated, overwritten, not what its name says) stops the report
    with one line naming it: the run is damaged, and ``thresher verify`` says how."""
    try:
        return _scan_file(*job)
    except (OSError, EOFError, KeyError, ValueError, zstandard.ZstdError) as e:  # orjson, pyarrow: ValueErrors; KeyError: a record without id or text
        why = (str(e).splitlines() or [type(e).__name__])[0]
        raise Fault(f"{job[1]}: unreadable shard ({why}); `thresher verify` on the run shows what changed") from None


def _scan_file(kind: str, path: str, label: str) -> Tally:
    t = Tally()
    if kind == rundir.QUARANTINE:
        with open(path, "rb") as f:
            for line in f:
                entry = orjson.loads(line)
                t.quarantined[(str(entry.get("file")), error_code(str(entry.get("error") or "")))] += 1
        return t
    for doc in read_shards([Path(path)]):
        size = _cluster_size(doc)
        if size:
            t.cluster_sizes[size] += 1
        _count_scraped(t, doc)
        if kind == rundir.DATA:
            _count_kept(t, doc)
        else:
            t.removed[(_source(doc), label, _removal_reason(doc.metadata, label))] += 1
    return t


def shard_jobs(run_dir: Path) -> list[tuple[str, str, str]]:
    """Every shard the scan reads, as ``scan_file`` jobs."""
    run = RunDir(run_dir)
    jobs = [(rundir.DATA, str(p), "") for p in run.shards(rundir.DATA)]
    for label in run.excluded_labels():
        jobs += [(rundir.EXCLUDED, str(p), label) for p in run.shards(rundir.EXCLUDED, label)]
    jobs += [(rundir.QUARANTINE, str(p), "") for p in sorted(run.quarantine.glob("*.jsonl"))]
    return jobs


def scan_run(run_dir: Path, workers: int | None = None) -> Tally:
    """Count every shard of ``run_dir``, in parallel over files when there are several."""
    jobs = shard_jobs(run_dir)
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    total = Tally()
    if workers == 1:
        for job in jobs:
            total.merge(scan_file(job))
        return total
    with ProcessPoolExecutor(workers) as pool:
        for part in pool.map(scan_file, jobs):
            total.merge(part)
    return total
