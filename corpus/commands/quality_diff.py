"""``thresher quality diff A B``: the documents on which two sets of rule decisions differ, by rule and reason.

Each side is a run directory or a JSONL file of decisions, one line per document:
``{"id": ..., "<rule set>": "keep" or a reason, ...}`` (what ``datatrove_oracle.py`` writes for
datatrove's filters). In a run, a stage's decision on a document is its flag (``metadata.flags``, in
kept and excluded shards alike; no flag: keep). Run the rule stages in ``mode: annotate`` so that every
stage sees every document: a document a filter-mode stage removed never reached the stages after it,
and those are not compared. Rule sets are matched by stage label (the stage name unless relabelled);
those on both sides and documents on both sides are compared.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from corpus.errors import UserError
from corpus.io.jsonl import read_jsonl
from corpus.rundir import CONFIG, DATA, EXCLUDED, RunDir
from corpus.yamlfile import read_yaml

KEEP = "keep"
Decisions = dict[str, dict[str, str]]  # document id -> rule set -> "keep" or reason code


def run_decisions(run: Path) -> Decisions:
    """Every stage's decision on every document of a run (stages after the one that removed it: absent)."""
    rd = RunDir(run)
    config = read_yaml(rd.config, "run config") if rd.config.is_file() else None
    if not isinstance(config, dict) or not isinstance(config.get("stages"), list):
        raise UserError(f"{run}: not a run directory (no {CONFIG} with stages)")
    labels = [s.get("label", s.get("stage")) for s in config["stages"] if isinstance(s, dict)]
    out: Decisions = {}
    sides = [(rd.documents(DATA), labels)] + [(rd.documents(EXCLUDED, lab), labels[:i + 1])
                                              for i, lab in enumerate(labels)]
    for docs, reached in sides:
        for doc in docs:
            flags = {f.get("stage"): f.get("reason") for f in doc.flags}
            out[doc.id] = {lab: flags.get(lab) or KEEP for lab in reached}
    if not out:
        raise UserError(f"{run}: the run has no documents ({DATA}/ and {EXCLUDED}/ are empty)")
    return out


def jsonl_decisions(path: Path) -> Decisions:
    """Decisions from a JSONL file (plain, .gz or .zst); "keep" or ``true`` is keep, any other string a reason."""
    out: Decisions = {}
    for raw in read_jsonl(str(path), str(path)):
        rec = raw.record or {}
        if "id" not in rec:
            why = raw.error or 'no "id"'
            raise UserError(f'{path}:{raw.line}: {why} (expected {{"id": ..., "<rule set>": "keep" or a reason, ...}})')
        out[str(rec["id"])] = {k: KEEP if v is True or v == KEEP else str(v) for k, v in rec.items() if k != "id"}
    if not out:
        raise UserError(f"{path}: no decisions")
    return out


def load(path: str) -> Decisions:
    p = Path(path)
    if p.is_dir():
        return run_decisions(p)
    if not p.is_file():
        raise UserError(f"not found: {path} (a run directory or a JSONL file of decisions)")
    return jsonl_decisions(p)


def differences(a: Decisions, b: Decisions) -> tuple[dict[str, Counter], list[tuple[str, str, str, str]]]:
    """Per rule set, counts of (decision in A, decision in B) over shared documents where both decided;
    and the documents that differ as (rule set, id, A's decision, B's decision), sorted."""
    rules = sorted({r for d in a.values() for r in d} & {r for d in b.values() for r in d})
    ids = sorted(a.keys() & b.keys())
    if not rules or not ids:
        raise UserError("nothing to compare: " + ("no rule set" if not rules else "no document id") + " on both sides")
    pairs: dict[str, Counter] = {r: Counter() for r in rules}
    diffs = []
    for i in ids:
        for r in rules:
            da, db = a[i].get(r), b[i].get(r)
            if da is None or db is None:
                continue
            pairs[r][da, db] += 1
            if (da == KEEP) != (db == KEEP):
                diffs.append((r, i, da, db))
    return pairs, sorted(diffs)


def cmd_diff(args) -> int:
    pairs, diffs = differences(load(args.a), load(args.b))
    for rule, counts in pairs.items():
        total = sum(counts.values())
        same = sum(n for (da, db), n in counts.items() if (da == KEEP) == (db == KEEP))
        print(f"{rule}: {same}/{total} same decisions ({same / total:.2%})" if total else f"{rule}: no document decided on both sides")
        for (da, db), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            if (da == KEEP) != (db == KEEP):
                print(f"  {n:6d}  A {da}  B {db}")
    for rule, doc_id, da, db in (diffs[:args.limit] if args.limit else diffs):
        print(f"{rule}\t{doc_id}\tA {da}\tB {db}")
    return 0


def register(qsub) -> None:
    d = qsub.add_parser("diff", help="documents on which two runs (or a run and a decisions JSONL) decide differently")
    d.add_argument("a", metavar="A", help="a run directory or a JSONL of decisions ({\"id\", \"<rule set>\": \"keep\" or reason})")
    d.add_argument("b", metavar="B", help="the other side, same forms")
    d.add_argument("--limit", type=int, default=0, help="list at most this many documents (default: all)")
    d.set_defaults(func=cmd_diff)
