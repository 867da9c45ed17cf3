"""The run report's sections, in reading order, built from the facts (`corpus.report.facts`).

Every section is always present; one the run has no data for says "not measured in this run" and
which stage would measure it, so a reader can tell "none found" from "not looked for".
"""

from __future__ import annotations

from typing import Any

import yaml

from corpus import keys
from corpus.report.blocks import Chart, Code, Para, Section, Table, fmt_int, fmt_num, fmt_pct
from corpus.report.rights import summary_lines as rights_lines
from corpus.stages.rights import MECHANISMS

NOT_MEASURED = "Not measured in this run"
CHART_ROWS = 20
TOP_REASONS = 3  # removal reasons named per source in the waterfall's per-source table
INVARIANT = "records read = kept + excluded + quarantined + skipped"  # the ledger's, in words
PSEUDONYMISATION = ("Redaction, masking, hashing and pseudonymisation of detected values are "
                    "pseudonymisation measures, not anonymisation: detection is imperfect, and the remaining "
                    "text can still identify people. Treat the corpus as containing personal data.")


def _not_measured(what: str, how: str) -> Para:
    return Para(f"{NOT_MEASURED}: {what}. {how}", note=True)


def _share_table(key: str, title: str, rows: list[dict[str, Any]], extra: tuple[str, ...] = ()) -> Table:
    headers = [title, "documents", "% documents", "characters", "% characters", *extra]
    return Table(headers, [[r[key], fmt_int(r["documents"]), fmt_pct(r["share_documents"]),
                            fmt_int(r["characters"]), fmt_pct(r["share_characters"]),
                            *(fmt_int(r.get(e)) for e in extra)] for r in rows],
                 numeric=set(range(1, len(headers))))


def _share_chart(key: str, title: str, rows: list[dict[str, Any]]) -> Chart:
    top = rows[:CHART_ROWS]
    return Chart("bars", title, [str(r[key]) for r in top], [100 * r["share_characters"] for r in top], "%")


def overview(f: dict[str, Any]) -> Section:
    o = f["overview"]
    kv = [
        ("pipeline", o["name"]), ("run directory", o["run_directory"]),
        ("started", o["started"]), ("finished", o["finished"]),
        ("Thresher", f'{o["thresher_version"]} (git {o["git_commit"] or "unknown"})'),
        ("config sha256", o["config_sha256"]),
        ("records read", fmt_int(o["records_read"])), ("documents kept", fmt_int(o["documents_kept"])),
        ("documents excluded", fmt_int(o["documents_excluded"])),
        ("records quarantined (unreadable)", fmt_int(o["records_quarantined"])
         + "".join(f", {k}={v}" for k, v in o["quarantined_by_error"].items())),
        ("records with an id seen before", fmt_int(sum(o["duplicate_ids"].values()))
         + "".join(f", {k}={v}" for k, v in o["duplicate_ids"].items())),
        ("characters read / kept", f'{fmt_int(o["characters_read"])} / {fmt_int(o["characters_kept"])}'),
        ("tokens", fmt_int(o["tokens"]) if o["tokens"] is not None else "not tokenized"),
        ("input bytes / output bytes", f'{fmt_int(o["input_bytes"])} / {fmt_int(o["output_bytes"])}'),
        *([("records skipped by type (WARC)", fmt_int(o["records_skipped"])
            + "".join(f", {k}={v}" for k, v in o["skipped_by_type"].items()))] if o.get("records_skipped") else []),
        *([("documents forgotten (thresher forget)", f'{fmt_int(o["documents_forgotten"])} documents, '
            f'{fmt_int(o["characters_forgotten"])} characters')] if "documents_forgotten" in o else []),
        ("accounting invariant", f"holds: {INVARIANT}" + (" + forgotten" if "documents_forgotten" in o else "")
         if o["invariant_holds"] else "FAILED: " + "; ".join(o["invariant_problems"])),
        ("build seconds", fmt_num(o["seconds"])),
        *[("warning", w) for w in o["warnings"]],
    ]
    blocks: list[Any] = [Table(["item", "value"], [list(r) for r in kv])]
    blocks.append(Para("Inputs (sha256 as recorded in the manifest):"))
    blocks.append(Table(["input", "format", "bytes", "sha256"],
                        [[i["path"], i["format"], fmt_int(i.get("size")), i.get("sha256") or i.get("note", "-")]
                         for i in o["inputs"]], numeric={2}))
    versions = ", ".join(f"{k} {v}" for k, v in o["versions"].items() if v)
    blocks.append(Para(f"Software versions: {versions}."))
    return Section("overview", "Run overview", blocks)


def waterfall(f: dict[str, Any]) -> Section:
    w = f["waterfall"]
    rows = w["stages"]
    labels = ["records read"] + [r["label"] for r in rows]
    docs = [(w["records_read"] - w["quarantined"], w["quarantined"])] + [
        (r["documents_out"], r["documents_removed"]) for r in rows]
    chars = [(r["characters_out"], r["characters_in"] - r["characters_out"]) for r in rows]
    blocks: list[Any] = [
        Para("Documents and characters entering each stage, what it removed (and why), and what it passed on. "
             "Quarantined records could not be read at all. Annotate-mode stages flag without removing."),
        Chart("waterfall", "Documents remaining after each stage (removed in red; first bar: unreadable records)",
              labels, docs, "documents"),
        Chart("waterfall", "Characters remaining after each stage (removed or rewritten in red)",
              [r["label"] for r in rows], chars, "characters"),
        Table(["stage", "mode", "docs in", "docs out", "removed", "chars in", "chars out", "reasons (removed / flagged)"],
              [[r["label"] + ("" if r["label"] == r["stage"] else f' ({r["stage"]})'), r["mode"],
                fmt_int(r["documents_in"]), fmt_int(r["documents_out"]), fmt_int(r["documents_removed"]),
                fmt_int(r["characters_in"]), fmt_int(r["characters_out"]),
                ", ".join([f"{k}={fmt_int(v)}" for k, v in r["removed"].items()]
                          + [f"{k}={fmt_int(v)} (flagged)" for k, v in r["flagged"].items()]) or "-"]
               for r in rows], numeric={2, 3, 4, 5, 6}),
        Para(f'Kept: {fmt_int(w["documents_kept"])} documents, {fmt_int(w["characters_kept"])} characters'
             + (f', {fmt_int(w["tokens"])} tokens.' if w["tokens"] is not None else "; not tokenized.")),
        *per_source_blocks(w),
    ]
    return Section("waterfall", "Filter waterfall", blocks)


def _folder_note(folder: str | None) -> str:
    return f" Sources are named by their path under {folder}/." if folder else ""


def top_reasons(reasons: list[dict[str, Any]]) -> str:
    """A source's removals, most frequent first: the first `TOP_REASONS` as ``stage: reason n``, then
    how many more (report.json lists every one)."""
    order = sorted(reasons, key=lambda x: (-x["documents"], x["stage"], x["reason"]))
    shown = [f'{x["stage"]}: {x["reason"]} {fmt_int(x["documents"])}' for x in order[:TOP_REASONS]]
    rest = sum(x["documents"] for x in order[TOP_REASONS:])
    more = [f"{fmt_int(rest)} more for {len(order) - TOP_REASONS} other reason(s)"] if rest else []
    return "; ".join(shown + more) or "-"


def per_source_blocks(w: dict[str, Any]) -> list[Any]:
    """One row per source with its top removal reasons: as many columns whatever the stage count."""
    return [
        Para("Per source (the input file or dataset each document came from)." + _folder_note(w["sources_folder"])),
        Table(["source", "records", "quarantined", "removed", "kept", "kept chars", "tokens", "top removal reasons"],
              [[s["name"], fmt_int(s["records_read"]), fmt_int(s["quarantined"]),
                fmt_int(sum(s["removed_by_stage"].values())), fmt_int(s["documents_kept"]),
                fmt_int(s["characters_kept"]), fmt_int(s["tokens"]), top_reasons(s["reasons"])]
               for s in w["per_source"]], numeric={1, 2, 3, 4, 5, 6}),
        *([Para(f'{fmt_int(w["documents_forgotten"])} document(s) were forgotten since the build (`thresher forget`, '
                "see Erasures). The erasure log records no source for them (hashed ids only), so the rows above "
                "count each source's documents still kept, excluded or quarantined, and add up to "
                f'{fmt_int(w["documents_forgotten"])} fewer records than the sources gave.', note=True)]
          if w.get("documents_forgotten") else []),
    ]


def sources(f: dict[str, Any]) -> Section:
    s = f["sources"]
    if not s["measured"]:
        return Section("sources", "Sources", [Para("No documents were kept.", note=True)])
    blocks: list[Any] = [_share_chart("name", "Share of kept characters per source", s["rows"]),
                         _share_table("name", "source", s["rows"], ("tokens",))]
    if s["folder"]:
        blocks.append(Para(_folder_note(s["folder"]).strip()))
    return Section("sources", "Sources", blocks)


def _breakdown(part: dict[str, Any], key: str, title: str, column: str, absent: str, how: str,
               missing: str) -> Section:
    """A share section (languages, licences): chart, table, and how many kept documents lack the field."""
    if not part["measured"]:
        return Section(key, title, [_not_measured(absent, how)])
    blocks: list[Any] = [_share_chart(column, f"Share of kept characters per {column}", part["rows"]),
                         _share_table(column, column, part["rows"])]
    if part[f"documents_without_{column}"]:
        blocks.append(Para(f'{fmt_int(part[f"documents_without_{column}"])} kept documents {missing}.', note=True))
    return Section(key, title, blocks)


def languages(f: dict[str, Any]) -> Section:
    return _breakdown(f["languages"], "languages", "Language distribution", "language",
                      f"no document carries metadata.{keys.LANGUAGE}", "Add the `language` stage to measure it.",
                      "have no language annotation")


def quality(f: dict[str, Any]) -> Section:
    q = f["quality"]
    blocks: list[Any] = []
    if not q["measured"]:
        blocks.append(_not_measured(f"no document carries a score in [0, 1] (metadata.*{keys.SCORE_SUFFIX})",
                                    "Add the `quality_classifier` or `language` stage to measure it."))
    for name, sig in q["signals"].items():
        blocks.append(Chart("histogram", f"{name}: kept documents per bin (n = {fmt_int(sig['documents'])})",
                            [f'{b["low"]:.2f}-{b["high"]:.2f}' for b in sig["bins"]],
                            [b["documents"] for b in sig["bins"]], "documents", tabled=False))
        if sig["outside_0_1"]:
            blocks.append(Para(f'{name}: {fmt_int(sig["outside_0_1"])} values outside [0, 1] are not shown.',
                               note=True))
    lengths = q["length_characters"]
    if lengths:
        blocks.append(Chart("histogram", "Kept document length in characters (powers of two)",
                            [f'{b["low"]:,}-{b["high"]:,}' for b in lengths], [b["documents"] for b in lengths],
                            "documents", tabled=False))
    return Section("quality", "Quality signals", blocks)


def dedup(f: dict[str, Any]) -> Section:
    d = f["dedup"]
    blocks: list[Any] = []
    for st in d["stages"]:
        removed = ", ".join(f"{k}={fmt_int(v)}" for k, v in {**st["removed"], **st["flagged"]}.items()) or "none"
        blocks.append(Para(f'Stage {st["label"]} ({st["stage"]}, {st["mode"]} mode): '
                           f'{fmt_int(st["documents_in"])} documents in; removed or flagged: {removed}.'))
        if st["phases"]:
            blocks.append(Table(["counter", "value"], [[k, fmt_num(v)] for k, v in st["phases"].items()],
                                numeric={1}))
    if not d["measured"]:
        blocks.append(_not_measured(f"no document carries metadata.{keys.DEDUP_CLUSTER_SIZE}",
                                    "Add the `dedup_minhash` stage to measure near-duplicate clusters."))
        return Section("dedup", "Deduplication", blocks)
    labels = [str(c["size_low"]) if c["size_low"] == c["size_high"] else f'{c["size_low"]}-{c["size_high"]}'
              for c in d["clusters"]]
    blocks += [
        Chart("bars", "Documents per cluster size", labels, [c["documents"] for c in d["clusters"]], "documents"),
        Table(["cluster size", "clusters", "documents"],
              [[lb, fmt_int(c["clusters"]), fmt_int(c["documents"])] for lb, c in zip(labels, d["clusters"], strict=True)],
              numeric={1, 2}),
        Para("Every document that passed a dedup stage is counted once, whether kept or removed later; "
             "clusters = documents / size."),
    ]
    return Section("dedup", "Deduplication", blocks)


def pii(f: dict[str, Any]) -> Section:
    p = f["pii"]
    blocks: list[Any] = [Para("Counts only: no detected value is stored in the ledger, the metadata or this report.")]
    if not p["measured"]:
        blocks.append(_not_measured(f"no PII detector ran and no document carries metadata.{keys.PII}",
                                    "Add the `pii` stage to detect and handle personal data."))
        blocks.append(Para(PSEUDONYMISATION, note=True))
        return Section("pii", "Personal data (PII)", blocks)
    if p["findings"]:
        blocks += [
            Chart("bars", "Findings per entity type and action",
                  [f'{x["entity"]} / {x["action"]}' for x in p["findings"]], [x["count"] for x in p["findings"]],
                  "findings"),
            Table(["stage", "entity type", "action", "findings", "documents scanned", "per 1,000 documents"],
                  [[x["stage"], x["entity"], x["action"], fmt_int(x["count"]), fmt_int(x["documents_scanned"]),
                    fmt_num(x["per_1000_documents"])] for x in p["findings"]], numeric={3, 4, 5}),
        ]
    else:
        blocks.append(Para("The ledger holds no per-entity PII counters (pii.<ENTITY>.<action>).", note=True))
    for label, counters in p.get("screening", {}).items():
        blocks.append(Para(f"Stage {label}: " + ", ".join(f"{k.replace('_', ' ')} {fmt_int(v)}"
                                                         for k, v in sorted(counters.items())) + "."))
    for label, removed in p["removed"].items():
        if removed:
            blocks.append(Para(f"Stage {label} removed documents: "
                               + ", ".join(f"{k}={fmt_int(v)}" for k, v in removed.items()) + "."))
    if p["kept_findings"]:
        chart_needed = not p["findings"]
        if chart_needed:
            blocks.append(Chart("bars", "Findings per entity type in kept documents",
                                [x["entity"] for x in p["kept_findings"]], [x["count"] for x in p["kept_findings"]],
                                "findings"))
        blocks += [
            Para(f'Kept documents with findings (metadata.{keys.PII}): {fmt_int(p["kept_documents_with_findings"])} of '
                 f'{fmt_int(p["kept_documents"])}.'),
            Table(["entity type", "findings in kept documents", "per 1,000 kept documents"],
                  [[x["entity"], fmt_int(x["count"]), fmt_num(x["per_1000_documents"])] for x in p["kept_findings"]],
                  numeric={1, 2}),
        ]
    if p["detectors"]:
        blocks += [Para("Detector configuration (resolved, as run):"),
                   Code(yaml.safe_dump(p["detectors"], sort_keys=False).rstrip())]
    else:
        blocks.append(Para("No PII detector stage is configured in this pipeline: the counts above come from "
                           "annotations the input already carried.", note=True))
    blocks.append(Para(PSEUDONYMISATION, note=True))
    return Section("pii", "Personal data (PII)", blocks)


def domains(f: dict[str, Any]) -> Section:
    d = f["domains"]
    if not d["measured"]:
        return Section("domains", "Top registered domains", [
            _not_measured(f"no document carries metadata.{keys.URL}", "Keep the URL field in the input to measure it.")])
    rows = d["rows"][:50]
    return Section("domains", "Top registered domains", [
        Para(f'{fmt_int(d["documents_with_url"])} kept documents have a URL, from '
             f'{fmt_int(d["distinct_registered_domains"])} registered domains (eTLD+1, Public Suffix List snapshot '
             "bundled with tldextract). Shares are of the characters of documents with a URL."),
        _share_chart("domain", "Share of characters per registered domain", rows),
        _share_table("domain", "registered domain", rows),
    ])


def crawl(f: dict[str, Any]) -> Section:
    c = f["crawl"]
    if not c["measured"]:
        return Section("crawl", "Web crawl", [_not_measured("no WARC input", "Read .warc or .warc.gz files (docs/web.md).")])
    period = (f'{c["first_fetch"]} to {c["last_fetch"]}' if c["first_fetch"] else "no kept document has a fetch date")
    blocks: list[Any] = [
        Table(["item", "value"], [["crawl period (fetch dates of kept documents)", period],
                                  ["crawler software (warcinfo)", ", ".join(c["software"]) or "not declared"],
                                  ["robots policy (warcinfo)", ", ".join(c["robots"]) or "not declared"]]),
        Para("WARC records read, by type, HTTP status and content type (every record is kept, excluded, "
             "quarantined or, for requests, metadata, revisits and warcinfo, skipped by type):"),
    ]
    for key, title in (("by_type", "WARC record type"), ("by_status", "HTTP status"),
                       ("by_content_type", "content type")):
        rows = sorted(c[key].items(), key=lambda kv: (-kv[1], kv[0]))
        blocks.append(Table([title, "records"], [[k, fmt_int(n)] for k, n in rows], numeric={1}))
    return Section("crawl", "Web crawl", blocks)


def rights(f: dict[str, Any]) -> Section:
    r = f["rights"]
    if not r["measured"]:
        return Section("rights", "Rights reservations", [
            _not_measured("no `rights` stage", "Add one to honour robots.txt, TDMRep, noai and opt-out lists "
                                               "(docs/rights.md).")])
    blocks: list[Any] = [Para(line.removeprefix("- ")) for line in rights_lines(r)]
    for s in r["stages"]:
        blocks += [Table([f"mechanism ({s['label']})", "reason", "documents"],
                         [[MECHANISMS.get(k, k), k, fmt_int(n)] for k, n in sorted(s["by_mechanism"].items())],
                         numeric={2}),
                   Table([f"domain ({s['label']})", "documents opted out"],
                         [[d, fmt_int(n)] for d, n in s["by_domain"].items()], numeric={1})]
    return Section("rights", "Rights reservations", blocks)


def erasures(f: dict[str, Any]) -> Section:
    rows = f.get("erasures") or []
    if not rows:
        return Section("erasures", "Erasures", [
            Para("No erasures: `thresher forget` has removed no document from this run.", note=True)])
    return Section("erasures", "Erasures", [
        Para(f"{fmt_int(len(rows))} erasure(s) by `thresher forget` (RUN/erasures.jsonl holds the hashed ids and "
             "URLs; `thresher verify` checks that each leads from the previous manifest's Merkle root to the next). "
             "Models trained before an erasure still hold what their weights learned from the forgotten documents."),
        Table(["time", "reason", "selector", "documents", "data shards", "token shards", "documents left",
               "checkpoints affected", "Merkle root after"],
              [[e["time"], e["reason"], e["selector"], fmt_int(e["counts"]["documents"]),
                fmt_int(e["counts"]["data_shards"]), fmt_int(e["counts"]["token_shards"]),
                fmt_int(e["counts"]["documents_left"]), fmt_int(len(e["affected_checkpoints"])), e["merkle_root"]]
               for e in rows], numeric={3, 4, 5, 6, 7}),
        *[Para(f"Trained before the erasure of {e['time']} (weights unchanged): {c['path']} (step {c['step']})")
          for e in rows for c in e["affected_checkpoints"]]])


def licences(f: dict[str, Any]) -> Section:
    return _breakdown(f["licences"], "licences", "Licences", "licence", f"no document carries metadata.{keys.LICENCE_KEYS[0]}",
                      "The input carries no licence field.", "carry no licence field")


def lineage(f: dict[str, Any]) -> Section:
    ln = f["lineage"]
    blocks: list[Any] = [
        Table(["item", "value"], [["manifest.json sha256", ln["manifest_sha256"]],
                                  ["config sha256", ln["config_sha256"]],
                                  ["Merkle root of the data shards", ln["merkle_root"]],
                                  ["other files hashed in the manifest", fmt_int(ln["other_files"])]]),
        Para("`thresher verify RUN_DIR` recomputes every hash below and the Merkle root."),
        Table(["data shard", "bytes", "documents", "sha256"],
              [[o["path"], fmt_int(o["size"]), fmt_int(o["docs"]), o["sha256"]] for o in ln["outputs"]],
              numeric={1, 2}),
    ]
    tok = ln["tokens"]
    if tok is None:
        blocks.append(Para("Not tokenized: no tokens/manifest.json.", note=True))
    else:
        blocks += [
            Para(f'Token shards: tokens/manifest.json sha256 {tok["manifest_sha256"]}; tokenizer '
                 f'{tok["tokenizer"]} (sha256 {tok["tokenizer_sha256"] or "-"}), vocabulary {fmt_int(tok["vocab_size"])}, '
                 f'dtype {tok["dtype"]}.'),
            Table(["token shard", "sequences", "tokens", "bin sha256", "idx sha256", "ids sha256"],
                  [[s["name"], fmt_int(s["sequences"]), fmt_int(s["tokens"]),
                    *((s["sha256"] or {}).get(k, "-") for k in ("bin", "idx", "ids"))] for s in tok["shards"]],
                  numeric={1, 2}),
        ]
    return Section("lineage", "Lineage", blocks)


BUILDERS = (overview, waterfall, sources, crawl, rights, languages, quality, dedup, pii, domains, licences,
            erasures, lineage)


def run_sections(facts: dict[str, Any]) -> list[Section]:
    return [build(facts) for build in BUILDERS]
