"""The ledger: every record is counted where it is decided, and the totals must balance.

Per stage: documents and characters in and out, removals and flags per reason code, seconds, and
stage-specific counters (``extra``). Per run: ``records read = kept + excluded + quarantined + skipped``,
checked at the end of every build (``skipped``: records set aside by type, such as WARC requests and
revisits, counted per type).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from corpus import keys
from corpus.io.records import READER_STAGE

if TYPE_CHECKING:
    from corpus.stages.base import Stage

SCAN_SUFFIX = ":scan"


@dataclass
class StageStats:
    docs_in: int = 0
    docs_out: int = 0
    chars_in: int = 0
    chars_out: int = 0
    seconds: float = 0.0
    removed: Counter = field(default_factory=Counter)
    flagged: Counter = field(default_factory=Counter)
    extra: Counter = field(default_factory=Counter)
    quarantined: Counter = field(default_factory=Counter)  # documents it failed on, by quarantine code

    def merge(self, other: StageStats) -> None:
        self.docs_in += other.docs_in
        self.docs_out += other.docs_out
        self.chars_in += other.chars_in
        self.chars_out += other.chars_out
        self.seconds += other.seconds
        self.removed.update(other.removed)
        self.flagged.update(other.flagged)
        self.extra.update(other.extra)
        self.quarantined.update(other.quarantined)

    def to_dict(self) -> dict[str, Any]:
        return {
            "docs_in": self.docs_in, "docs_out": self.docs_out,
            "chars_in": self.chars_in, "chars_out": self.chars_out,
            "removed": dict(sorted(self.removed.items())), "flagged": dict(sorted(self.flagged.items())),
            "seconds": round(self.seconds, 3), "extra": dict(sorted(self.extra.items())),
            "quarantined": dict(sorted(self.quarantined.items())),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StageStats:
        return cls(d["docs_in"], d["docs_out"], d["chars_in"], d["chars_out"], d["seconds"],
                   Counter(d["removed"]), Counter(d["flagged"]), Counter(d["extra"]),
                   Counter(d.get("quarantined", {})))


@dataclass
class TaskResult:
    """What one task of one pass did; stored as its completion marker."""

    task: str
    read: int = 0
    quarantined: Counter = field(default_factory=Counter)
    stages: dict[str, StageStats] = field(default_factory=dict)
    outputs: list[dict[str, Any]] = field(default_factory=list)  # {"path", "docs"}: data/ or the next pass's input
    excluded: dict[str, int] = field(default_factory=dict)  # label -> documents written to excluded/
    seconds: float = 0.0
    skipped: Counter = field(default_factory=Counter)  # record type -> records read and set aside by type

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "read": self.read, "quarantined": dict(self.quarantined),
                "skipped": dict(self.skipped),
                "stages": {k: v.to_dict() for k, v in self.stages.items()}, "outputs": self.outputs,
                "excluded": self.excluded, "seconds": round(self.seconds, 3)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TaskResult:
        return cls(d["task"], d["read"], Counter(d["quarantined"]),
                   {k: StageStats.from_dict(v) for k, v in d["stages"].items()}, d["outputs"], d["excluded"],
                   d["seconds"], Counter(d.get("skipped", {})))


def stage_rows(stages: Iterable[Stage]) -> list[dict[str, str]]:
    """The ledger's rows in pipeline order, the reader's first: each stage's label, name, mode and category.
    ``stats.json`` keeps the category per stage so the report finds the PII and dedup stages by what
    they do, whatever the pipeline labels them."""
    return [{"label": READER_STAGE, "stage": READER_STAGE, "mode": "filter", "category": keys.READ}] + [
        {"label": s.label, "stage": s.name, "mode": s.mode, "category": s.category} for s in stages]


def summarize(rows: list[dict[str, Any]], results: list[TaskResult], kept: int,
              phases: dict[str, dict[str, Any]], wall: float,
              run_counts: dict[str, Counter] | None = None,
              duplicate_ids: dict[str, int] | None = None) -> dict[str, Any]:
    """Build ``stats.json`` from every task's result; ``rows`` (`stage_rows`) gives label, stage, mode and
    category in order;
    ``run_counts`` adds each stage's counters of the whole run (`RunContext.count`) to its ``extra``;
    ``duplicate_ids`` counts per source the records whose id came before (`duplicate_ids.settle`)."""
    read = sum(r.read for r in results)
    quarantined: Counter = Counter()
    totals: dict[str, StageStats] = {row["label"]: StageStats() for row in rows}
    excluded_written: Counter = Counter()
    skipped: Counter = Counter()
    for r in results:
        quarantined.update(r.quarantined)
        skipped.update(r.skipped)
        excluded_written.update(r.excluded)
        for label, st in r.stages.items():
            if label.endswith(SCAN_SUFFIX):  # a global stage's scan: its counters and time join the stage's
                scan = totals.setdefault(label[: -len(SCAN_SUFFIX)], StageStats())
                scan.extra.update(st.extra)
                scan.seconds += st.seconds
            else:
                totals.setdefault(label, StageStats()).merge(st)
    for label, counts in (run_counts or {}).items():
        totals.setdefault(label, StageStats()).extra.update(counts)
    stages = []
    for row in rows:
        st = totals[row["label"]]
        entry = {**row, **st.to_dict()}
        if row["label"] in phases:
            entry["phases"] = phases[row["label"]]
        stages.append(entry)
    excluded = {label: sum(st.removed.values()) for label, st in totals.items() if st.removed}
    n_excluded, n_quarantined, n_skipped = sum(excluded.values()), sum(quarantined.values()), sum(skipped.values())
    problems = []
    if read != kept + n_excluded + n_quarantined + n_skipped:
        problems.append(f"records read ({read}) != kept ({kept}) + excluded ({n_excluded}) "
                        f"+ quarantined ({n_quarantined}) + skipped ({n_skipped})")
    for label, n in excluded.items():
        if excluded_written.get(label, 0) != n:
            problems.append(f"stage {label}: {n} removed but {excluded_written.get(label, 0)} in excluded/")
    for row in rows:
        st = totals[row["label"]]
        if st.docs_in != st.docs_out + sum(st.removed.values()) + sum(st.quarantined.values()):
            problems.append(f"stage {row['label']}: in ({st.docs_in}) != out ({st.docs_out}) + removed + quarantined")
    return {
        "records_read": read,
        "kept": kept,
        "excluded": excluded,
        "excluded_total": n_excluded,
        "quarantined": dict(sorted(quarantined.items())),
        "quarantined_total": n_quarantined,
        "skipped": dict(sorted(skipped.items())),
        "skipped_total": n_skipped,
        "duplicate_ids": dict(sorted((duplicate_ids or {}).items())),
        "invariant": {"rule": "records_read == kept + excluded_total + quarantined_total + skipped_total",
                      "holds": not problems, "problems": problems},
        "stages": stages,
        "tasks": len(results),
        "seconds": round(wall, 3),
    }


REMOVED_WARN = 0.9  # a stage that removes more than this share of what it sees is probably misconfigured
QUARANTINED_WARN = 0.1  # more than this share of the records unreadable: probably the wrong text_field


def warnings(stats: dict[str, Any]) -> list[str]:
    """What a finished build should say even though it succeeded: a corpus quietly emptied."""
    out = []
    for s in stats["stages"]:
        removed = sum(s["removed"].values())
        if s["docs_in"] and removed > REMOVED_WARN * s["docs_in"]:
            top = max(s["removed"], key=s["removed"].get)
            out.append(f"stage {s['label']} removed {removed} of the {s['docs_in']} documents it saw "
                       f"({removed / s['docs_in']:.0%}, mostly {top}): check its settings")
    read, quarantined = stats["records_read"], stats["quarantined_total"]
    if read and quarantined > QUARANTINED_WARN * read:
        top = max(stats["quarantined"], key=stats["quarantined"].get)
        hint = " (is input.text_field right?)" if top == "missing_text" else ""
        out.append(f"{quarantined} of {read} records were quarantined ({quarantined / read:.0%}, mostly {top})"
                   f"{hint}: see quarantine/")
    return out


def format_table(stats: dict[str, Any]) -> str:
    """The summary printed at the end of a build."""
    rows = [("stage", "mode", "in", "out", "removed", "top reasons", "sec")]
    for s in stats["stages"]:
        reasons = s["removed"] or s["flagged"]
        top = ", ".join(f"{k}={v}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1])[:3])
        rows.append((s["label"], s.get("mode", ""), str(s["docs_in"]), str(s["docs_out"]),
                     str(sum(s["removed"].values())), top or "-", f"{s['seconds']:.1f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    inv = stats["invariant"]
    q = stats["quarantined"]
    lines.append("")
    lines.append(f"records read {stats['records_read']} = kept {stats['kept']} + excluded "
                 f"{stats['excluded_total']} + quarantined {stats['quarantined_total']}"
                 + ("" if not q else " (" + ", ".join(f"{k}={v}" for k, v in q.items()) + ")")
                 + ("" if not stats.get("skipped_total") else f" + skipped {stats['skipped_total']} ("
                    + ", ".join(f"{k}={v}" for k, v in stats["skipped"].items()) + ")")
                 + ("  [ok]" if inv["holds"] else "  [FAILED]"))
    for p in inv["problems"]:
        lines.append(f"  invariant failed: {p}")
    return "\n".join(lines)
