"""What a run's ``rights`` stages decided (docs/rights.md): documents opted out per mechanism (reason
code) and per domain, and the fetch dates of the robots.txt / TDMRep snapshots they were checked
against. Read from the ledger's counters only, so the report never re-reads the user's snapshots."""

from __future__ import annotations

from collections import Counter
from typing import Any

from corpus.report.blocks import fmt_int
from corpus.stages.rights import DOMAIN_COUNTER, MECHANISMS, SNAPSHOT_COUNTERS

TOP_DOMAINS = 20


def rights_facts(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """``{"measured", "stages": [{label, mode, documents_checked, by_mechanism, by_domain, snapshots}]}`` of the
    ledger rows of the run's rights stages (``facts.stages_of(stats, keys.RIGHTS)``: found by category, so a
    rights stage labelled ``optout`` or a user's own opt-out stage counts)."""
    out = []
    for s in rows:
        extra = s.get("extra", {})
        domains: Counter = Counter()
        for key, n in extra.items():
            if key.startswith(DOMAIN_COUNTER):
                domains[key[len(DOMAIN_COUNTER):].rpartition(":")[0]] += n
        snapshots = {kind: sorted(k[len(prefix):] for k in extra if k.startswith(prefix))
                     for kind, prefix in SNAPSHOT_COUNTERS.items()}
        out.append({"label": s["label"], "mode": s.get("mode", "filter"), "documents_checked": s["docs_in"],
                    "by_mechanism": {**s["removed"], **s.get("flagged", {})},
                    "by_domain": dict(sorted(domains.items(), key=lambda kv: (-kv[1], kv[0]))),
                    "snapshots": snapshots})
    return {"measured": bool(out), "stages": out}


def summary_lines(r: dict[str, Any]) -> list[str]:
    """One list item per ``rights`` stage for EU summary 3.1 (and the report): counts per mechanism, the
    top domains and the snapshot dates."""
    lines = []
    for s in r["stages"]:
        verb = "flagged" if s["mode"] == "annotate" else "removed"
        mech = ", ".join(f"{MECHANISMS.get(k, k)} `{k}` {fmt_int(v)}"
                         for k, v in sorted(s["by_mechanism"].items())) or "none"
        top = list(s["by_domain"].items())[:TOP_DOMAINS]
        doms = ", ".join(f"{d} ({fmt_int(n)})" for d, n in top) or "none"
        dates = "; ".join(f"{kind} snapshot fetched {', '.join(v)}" for kind, v in s["snapshots"].items() if v)
        lines.append(f"- Opt-outs honoured by `{s['label']}` ({s['mode']}): {fmt_int(s['documents_checked'])} "
                     f"documents checked; {verb} per mechanism: {mech}; per domain: {doms}"
                     + (f"; {dates}" if dates else "; no robots.txt or TDMRep snapshot") + ".")
    return lines
