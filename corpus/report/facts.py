"""Everything a run's report states, as one JSON-able dict (``report.json``), from the run's own records.

Sources: ``stats.json`` (the ledger), ``manifest.json``, ``config.yaml``, ``tokens/manifest.json`` when
the run was tokenized, and one counting pass over the documents (`corpus.report.scan`). A section whose
data the run does not have says so (``"measured": false``) rather than showing zeros. No value is taken
from document text, and the only metadata values that appear are languages, registered domains,
licences and source names.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import posixpath
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from corpus import keys
from corpus.errors import UserError
from corpus.io import hf
from corpus.io.atomic import read_json
from corpus.io.records import READER_STAGE
from corpus.io.warc import COUNT_PREFIXES, WARCINFO
from corpus.report.rights import rights_facts
from corpus.report.scan import SIGNAL_BINS, Tally, scan_run
from corpus.rights.forget import FORGOTTEN, erasure_facts
from corpus.rundir import RunDir

SCHEMA = "thresher.report/1"
TOP_DOMAINS = 50
EU_DOMAIN_SHARE = 0.10  # the AI Office template asks for the top 10% of domains by content size
EU_SME_SHARE, EU_SME_MAX = 0.05, 1_000  # its SME variant: the top 5% or 1,000 domains, whichever is lower


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _share(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0


def per_1000(count: int, docs: int) -> float | None:
    return round(1000.0 * count / docs, 3) if docs else None


def load_run(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any] | None]:
    """``(stats, manifest, config, tokens manifest or None)``; a finished run has the first three."""
    run = RunDir(run_dir)
    for path in (run.stats, run.manifest, run.config):
        if not path.is_file():
            raise UserError(f"{run_dir} is not a finished Thresher run ({path.name} missing)")
    config = yaml.safe_load(run.config.read_text(encoding="utf-8"))
    tokens = read_json(run.tokens_manifest) if run.tokens_manifest.is_file() else None
    return read_json(run.stats), read_json(run.manifest), config, tokens


def stage_category(row: dict[str, Any]) -> str:
    """What the stage of a ``stats.json`` row does (`corpus.keys.CATEGORIES`): the category the ledger
    recorded; for a run built before it recorded one, the installed stage's, and ``other`` for a stage
    that is no longer installed. Never its name or label: a PII stage labelled ``scrub`` is still one."""
    if "category" in row:
        return row["category"]
    if row["stage"] == READER_STAGE:
        return keys.READ
    from corpus.stages import base

    try:
        return base.get(row["stage"]).category
    except UserError:
        return keys.OTHER


def stages_of(stats: dict[str, Any], category: str) -> list[dict[str, Any]]:
    """The ``stats.json`` rows of the stages of ``category``, in pipeline order."""
    return [s for s in stats["stages"] if stage_category(s) == category]


def _rows(docs: Counter, chars: Counter, total_docs: int, total_chars: int, key: str,
          limit: int | None = None) -> list[dict[str, Any]]:
    """Rows sorted by characters (content share), then name; ``limit`` keeps the largest."""
    order = sorted(docs, key=lambda k: (-chars[k], -docs[k], str(k)))
    return [{key: k, "documents": docs[k], "share_documents": _share(docs[k], total_docs),
             "characters": chars[k], "share_characters": _share(chars[k], total_chars)}
            for k in order[:limit]]


def tokens_total(tokens: dict[str, Any] | None) -> int | None:
    if not tokens:
        return None
    totals = tokens.get("totals") or {}
    if isinstance(totals.get("tokens"), int):
        return totals["tokens"]
    return sum(int(s.get("tokens", 0)) for s in tokens.get("shards", [])) or None


def _tokens_per_source(tokens: dict[str, Any] | None) -> dict[str, int]:
    per = ((tokens or {}).get("totals") or {}).get("per_source") or {}
    return {str(k): int(v["tokens"] if isinstance(v, dict) else v) for k, v in per.items()
            if isinstance(v, (int, dict)) and (not isinstance(v, dict) or isinstance(v.get("tokens"), int))}


def _is_file_source(source: str) -> bool:
    return not source.startswith(hf.PREFIX) and source != "(none)"


def source_folder(sources: Iterable[str]) -> str | None:
    """The deepest folder holding every input file, or None when there is none to drop.

    Sources are paths relative to the pipeline YAML (``../../corpus/demo/data/notes/a.txt``); a
    report names them by the rest of the path (``notes/a.txt``), which a table can show unbroken.
    """
    folders = {posixpath.dirname(s) for s in sources if _is_file_source(s)}
    try:
        folder = posixpath.commonpath(sorted(folders)) if folders else ""
    except ValueError:  # absolute and relative paths mixed
        return None
    return folder or None


def short_name(source: str, folder: str | None) -> str:
    """``source`` relative to `source_folder`'s result; hub datasets and the rest unchanged."""
    return posixpath.relpath(source, folder) if folder and _is_file_source(source) else source


def _all_sources(tally: Tally) -> list[str]:
    """Every source with a kept, removed or quarantined record."""
    return sorted(set(tally.source_docs) | {s for s, _, _ in tally.removed} | {s for s, _ in tally.quarantined})


def forgotten(stats: dict) -> dict[str, int]:
    """Documents and characters that ``thresher forget`` removed from the run since its build, as stats.json
    records them (its ``forgotten`` section appears with the first erasure; before it, so is this empty, and
    the report of a run nothing was erased from is the same as before erasures existed)."""
    gone = stats.get(FORGOTTEN)
    return {"documents_forgotten": gone["documents"], "characters_forgotten": gone["characters"]} if gone else {}


def overview(run_dir: Path, stats: dict, manifest: dict, tally: Tally, tokens: dict | None) -> dict[str, Any]:
    stages = stats.get("stages", [])
    return {
        "name": manifest.get("name"),
        "run_directory": run_dir.name,
        "started": manifest.get("started"),
        "finished": manifest.get("finished"),
        "thresher_version": manifest.get("thresher_version"),
        "git_commit": manifest.get("git_commit"),
        "config_sha256": manifest.get("config_sha256"),
        "versions": manifest.get("versions", {}),
        "inputs": manifest.get("inputs", []),
        "input_bytes": sum(i.get("size") or 0 for i in manifest.get("inputs", [])),
        "records_read": stats["records_read"],
        "documents_kept": stats["kept"],
        "documents_excluded": stats["excluded_total"],
        "records_quarantined": stats["quarantined_total"],
        "quarantined_by_error": stats.get("quarantined", {}),
        **forgotten(stats),
        "records_skipped": stats.get("skipped_total", 0),  # WARC records set aside by type
        "skipped_by_type": stats.get("skipped", {}),
        "duplicate_ids": stats.get("duplicate_ids", {}),  # source -> records whose id came before
        "warnings": stats.get("warnings", []),
        "characters_read": stages[0]["chars_in"] if stages else None,
        "characters_kept": tally.chars,
        "output_bytes": sum(o["size"] for o in manifest.get("outputs", [])),
        "tokens": tokens_total(tokens),
        "invariant_holds": stats["invariant"]["holds"],
        "invariant_problems": stats["invariant"]["problems"],
        "stage_count": max(len(stages) - 1, 0),
        "seconds": stats.get("seconds"),
    }


def waterfall(stats: dict, tally: Tally, tokens: dict | None) -> dict[str, Any]:
    rows = [{"label": s["label"], "stage": s["stage"], "category": stage_category(s), "mode": s.get("mode", "filter"),
             "documents_in": s["docs_in"], "documents_out": s["docs_out"],
             "documents_removed": sum(s["removed"].values()),
             "characters_in": s["chars_in"], "characters_out": s["chars_out"],
             "removed": s["removed"], "flagged": s.get("flagged", {})} for s in stats["stages"]]
    per_tok = _tokens_per_source(tokens)
    sources = _all_sources(tally)
    folder = source_folder(sources)
    per_source = []
    for src in sources:
        removed = Counter()
        reasons = []
        for (s, label, reason), n in sorted(tally.removed.items()):
            if s == src:
                removed[label] += n
                reasons.append({"stage": label, "reason": reason, "documents": n})
        quarantined = sum(n for (s, _), n in tally.quarantined.items() if s == src)
        kept = tally.source_docs[src]
        per_source.append({"source": src, "name": short_name(src, folder),
                           "records_read": kept + sum(removed.values()) + quarantined,
                           "quarantined": quarantined, "removed_by_stage": dict(removed), "reasons": reasons,
                           "documents_kept": kept, "characters_kept": tally.source_chars[src],
                           "tokens": per_tok.get(src)})
    # per source: what data/, excluded/ and quarantine/ hold now; a forgotten document is in none of them, and
    # the erasure log names no source (hashed ids only), so the sources add up to records read less those
    return {"records_read": stats["records_read"], "quarantined": stats["quarantined_total"], **forgotten(stats),
            "stages": rows, "documents_kept": stats["kept"], "characters_kept": tally.chars,
            "tokens": tokens_total(tokens), "sources_folder": folder, "per_source": per_source}


def languages(tally: Tally) -> dict[str, Any]:
    measured = sum(tally.lang_docs.values())
    return {"measured": measured > 0, "documents_with_language": measured,
            "documents_without_language": tally.docs - measured,
            "rows": _rows(tally.lang_docs, tally.lang_chars, tally.docs, tally.chars, "language")}


def quality(tally: Tally) -> dict[str, Any]:
    signals = {}
    for name in sorted(tally.signal_bins):
        bins = tally.signal_bins[name]
        signals[name] = {"documents": sum(bins), "outside_0_1": tally.signal_outside[name],
                         "bins": [{"low": i / SIGNAL_BINS, "high": (i + 1) / SIGNAL_BINS, "documents": n}
                                  for i, n in enumerate(bins)]}
    lengths = [{"low": 1 << k if k else 0, "high": (1 << (k + 1)) - 1, "documents": tally.length_log2[k]}
               for k in range(max(tally.length_log2, default=-1) + 1)]
    return {"measured": bool(signals), "signals": signals, "length_characters": lengths}


def _bucket(size: int) -> tuple[int, int]:
    """Cluster sizes 1, 2, 3-4, 5-8, ...: powers of two keep the table short at any scale."""
    if size <= 2:
        return size, size
    hi = 1 << (size - 1).bit_length()
    return hi // 2 + 1, hi


def dedup(tally: Tally, stats: dict) -> dict[str, Any]:
    buckets: dict[tuple[int, int], list[float]] = {}
    for size, docs in sorted(tally.cluster_sizes.items()):
        b = buckets.setdefault(_bucket(size), [0, 0.0])
        b[0] += docs
        b[1] += docs / size  # every member of a cluster is counted once, kept or excluded
    stages = [{"label": s["label"], "stage": s["stage"], "mode": s.get("mode"), "documents_in": s["docs_in"],
               "removed": s["removed"], "flagged": s.get("flagged", {}),
               "phases": _scalars(s.get("phases") or {})}
              for s in stages_of(stats, keys.DEDUP)]
    return {"measured": bool(tally.cluster_sizes), "stages": stages,
            "clusters": [{"size_low": lo, "size_high": hi, "documents": int(d), "clusters": round(c)}
                         for (lo, hi), (d, c) in sorted(buckets.items())]}


def _scalars(tree: dict, prefix: str = "") -> dict[str, Any]:
    """Numeric leaves of a stage's phase record, dotted: counters a reader can check, nothing else."""
    out: dict[str, Any] = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            out.update(_scalars(v, f"{prefix}{k}."))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[f"{prefix}{k}"] = v
    return out


def pii(stats: dict, tally: Tally, config: dict) -> dict[str, Any]:
    """Findings per entity and action (``pii.<ENTITY>.<action>``); the stage's other ``pii.*`` counters
    (documents with findings, text each analyzer read) are bookkeeping, reported apart."""
    findings, screening = [], {}
    stages = stages_of(stats, keys.PII_CATEGORY)
    for s in stages:
        for name, n in sorted(s.get("extra", {}).items()):
            if not name.startswith(keys.PII_COUNTER):
                continue
            entity, _, action = name[len(keys.PII_COUNTER):].rpartition(".")
            if not entity:
                screening.setdefault(s["label"], {})[action] = n
                continue
            findings.append({"stage": s["label"], "entity": entity, "action": action,
                             "count": n, "documents_scanned": s["docs_in"],
                             "per_1000_documents": per_1000(n, s["docs_in"])})
    detectors = [s for s in config.get("stages", []) if s.get("label", s.get("stage")) in {r["label"] for r in stages}]
    removed = {s["label"]: s["removed"] for s in stages}
    kept_rows = [{"entity": e, "count": n, "per_1000_documents": per_1000(n, tally.docs)}
                 for e, n in sorted(tally.pii_found.items(), key=lambda kv: (-kv[1], kv[0]))]
    return {"measured": bool(findings or kept_rows or detectors), "findings": findings, "screening": screening,
            "removed": removed, "kept_documents": tally.docs, "kept_documents_with_findings": tally.pii_docs,
            "kept_findings": kept_rows, "detectors": detectors}


def domains(tally: Tally) -> dict[str, Any]:
    distinct = len(tally.domain_docs)
    eu_count = math.ceil(EU_DOMAIN_SHARE * distinct)
    total_chars = sum(tally.domain_chars.values())
    return {"measured": tally.url_docs > 0, "documents_with_url": tally.url_docs,
            "distinct_registered_domains": distinct, "top_10_percent_count": eu_count,
            "rows": _rows(tally.domain_docs, tally.domain_chars, tally.url_docs, total_chars, "domain",
                          max(TOP_DOMAINS, eu_count))}


def scraped_domains(tally: Tally) -> dict[str, Any]:
    """Domains of the crawled documents (kept or removed) by characters scraped, for the EU summary's 2.3."""
    distinct = len(tally.scraped_domain_docs)
    docs, chars = sum(tally.scraped_domain_docs.values()), sum(tally.scraped_domain_chars.values())
    top = math.ceil(EU_DOMAIN_SHARE * distinct)
    return {"measured": docs > 0, "documents": docs, "characters": chars, "distinct_registered_domains": distinct,
            "top_10_percent_count": top, "sme_count": min(math.ceil(EU_SME_SHARE * distinct), EU_SME_MAX),
            "rows": _rows(tally.scraped_domain_docs, tally.scraped_domain_chars, docs, chars, "domain", top)}


def crawl(stats: dict, manifest: dict, tally: Tally) -> dict[str, Any]:
    """What the run knows of a web crawl it read (WARC input): the period of the kept documents' fetch
    dates, the crawler software and robots policy its warcinfo records declare, and the records read by
    WARC type, HTTP status and content type (the reader's counters)."""
    reader = next(iter(stages_of(stats, keys.READ)), {})
    counts: dict[str, dict[str, int]] = {prefix: {} for prefix in COUNT_PREFIXES}
    for key, n in sorted(reader.get("extra", {}).items()):
        prefix, _, value = key.partition(":")
        if prefix in counts and value:
            counts[prefix][value] = n
    infos = [(i["path"], info) for i in manifest.get("inputs", []) for info in i.get(WARCINFO) or []]
    return {"measured": bool(counts["warc_type"]), "first_fetch": tally.fetch_first, "last_fetch": tally.fetch_last,
            "software": sorted({info["software"] for _, info in infos if info.get("software")}),
            "robots": sorted({info["robots"] for _, info in infos if info.get("robots")}),
            "warcinfo": [{"input": path, **info} for path, info in infos],
            "by_type": counts["warc_type"], "by_status": counts["http_status"],
            "by_content_type": counts["content_type"], "skipped": stats.get("skipped", {})}


def licences(tally: Tally) -> dict[str, Any]:
    with_licence = sum(tally.licence_docs.values())
    return {"measured": with_licence > 0, "documents_with_licence": with_licence,
            "documents_without_licence": tally.docs - with_licence,
            "rows": _rows(tally.licence_docs, tally.licence_chars, tally.docs, tally.chars, "licence")}


def sources(tally: Tally, manifest: dict, tokens: dict | None) -> dict[str, Any]:
    per_tok = _tokens_per_source(tokens)
    rows = _rows(tally.source_docs, tally.source_chars, tally.docs, tally.chars, "source")
    folder = source_folder(_all_sources(tally))  # the same folder as the waterfall's
    for r in rows:
        r["name"] = short_name(r["source"], folder)
        r["tokens"] = per_tok.get(r["source"])
    kinds = Counter(i.get("format") for i in manifest.get("inputs", []))
    return {"measured": tally.docs > 0, "folder": folder, "rows": rows, "input_formats": dict(kinds)}


def _sha256(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def lineage(run_dir: Path, manifest: dict, tokens: dict | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "manifest_sha256": _sha256(RunDir(run_dir).manifest),
        "config_sha256": manifest.get("config_sha256"),
        "merkle_root": manifest.get(keys.MERKLE_ROOT),
        "outputs": manifest.get("outputs", []),
        "other_files": len(manifest.get("files", [])),
        "tokens": None,
    }
    if tokens is not None:
        tokenizer = tokens.get("tokenizer") or {}
        out["tokens"] = {"manifest_sha256": _sha256(RunDir(run_dir).tokens_manifest),
                         "tokenizer": tokenizer.get("name"), "tokenizer_sha256": tokenizer.get("sha256"),
                         "vocab_size": tokens.get("vocab_size"), "dtype": tokens.get("dtype"),
                         "shards": [{"name": s.get("name"), "sequences": s.get("sequences"),
                                     "tokens": s.get("tokens"), "sha256": s.get("sha256")}
                                    for s in tokens.get("shards", [])]}
    return out


def build_facts(run_dir: Path, workers: int | None = None) -> dict[str, Any]:
    """The whole report of ``run_dir`` as data; reads every kept and excluded shard once."""
    stats, manifest, config, tokens = load_run(run_dir)
    tally = scan_run(run_dir, workers)
    return {
        "schema": SCHEMA,
        "generated": _now(),
        "overview": overview(run_dir, stats, manifest, tally, tokens),
        "waterfall": waterfall(stats, tally, tokens),
        "sources": sources(tally, manifest, tokens),
        "languages": languages(tally),
        "quality": quality(tally),
        "dedup": dedup(tally, stats),
        "pii": pii(stats, tally, config),
        "domains": domains(tally),
        "licences": licences(tally),
        "crawl": crawl(stats, manifest, tally),
        "rights": rights_facts(stages_of(stats, keys.RIGHTS)),
        "scraped_domains": scraped_domains(tally),
        "metadata_keys": dict(sorted(tally.metadata_keys.items())),
        "stages": [{"label": s.get("label", s.get("stage")), **s} for s in config.get("stages", [])],
        "lineage": lineage(run_dir, manifest, tokens),
        "erasures": erasure_facts(run_dir),
    }
