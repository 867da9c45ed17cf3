"""Erasure: remove documents from a finished run's ``data/`` and ``tokens/``, and record that it happened.

Only the shards that hold a forgotten document are rewritten; every other document line and token
sequence keeps its bytes. The work goes in three steps, each safe to repeat, so a killed ``forget``
resumes to the same result when rerun:

1. *plan*: the forgotten ids, found by one scan of ``data/``, and the request are saved to
   ``RUN/.state/forget/plan.json`` (a rerun finds the plan and does not scan again);
2. *stage*: each affected data and token shard is rewritten under ``RUN/.state/forget/staged/``;
3. *install*: the staged files replace the originals (one rename each), ``erasures.jsonl`` gets its entry
   (hashed ids and URLs, reason, time, counts; never text), the previous ``manifest.json`` is kept as
   ``history/manifest-NNN.json`` and a new one chains to it (``previous``: its path, sha256 and Merkle root).
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import zstandard

from corpus.document import Document
from corpus.engine.manifest import leaf, merkle_root, sha256_file
from corpus.errors import UserError
from corpus.io import atomic

ERASURES = "erasures.jsonl"
HISTORY = "history"
WORK = (".state", "forget")
SELECTORS = ("ids", "urls", "domains", "match")


def digest(value: str) -> str:
    """How the erasure log names an id or a URL: never the value itself."""
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass
class Request:
    selector: str  # ids | urls | domains | match
    values: list[str]  # the file's lines, or the one regex
    reason: str

    def matcher(self) -> Callable[[Document], bool]:
        """Does a document fall under the request?"""
        if self.selector == "match":
            try:
                rx = re.compile(self.values[0])
            except re.error as e:
                raise UserError(f"--match: not a regular expression: {e}") from None
            return lambda d: rx.search(d.text) is not None
        wanted = set(self.values)
        if self.selector == "ids":
            return lambda d: d.id in wanted
        if self.selector == "urls":
            return lambda d: _url(d) in wanted
        domains = {v.lower().lstrip(".") for v in wanted}

        def in_domain(d: Document) -> bool:
            host = (urlsplit(_url(d) or "").hostname or "").lower()
            return any(host == dom or host.endswith("." + dom) for dom in domains)
        return in_domain

    def key(self) -> str:
        """One hash of the request, so a rerun can tell its own plan from another request's."""
        return digest(orjson.dumps([self.selector, self.values, self.reason]).decode())


def _url(doc: Document) -> str | None:
    url = doc.metadata.get("url")
    return url if isinstance(url, str) and url else None


def _lines(path: Path) -> Iterator[bytes]:
    from corpus.io.jsonl import open_compressed

    with open_compressed(str(path)) as stream:
        yield from stream


def _plan(run: Path, req: Request, checkpoints: list[Path]) -> dict[str, Any]:
    """Scan ``data/`` once: which documents go, in which shards, and which token shards hold them."""
    from corpus.io.writers import list_shards

    shards = list_shards(run / "data")
    if any(not p.name.endswith(".jsonl.zst") for p in shards):
        raise UserError(f"{run / 'data'}: forget rewrites .jsonl.zst shards only (this run wrote Parquet)")
    match = req.matcher()
    forgotten: dict[str, dict[str, Any]] = {}
    per_shard: dict[str, int] = {}
    for shard in shards:
        hits = 0
        for line in _lines(shard):
            doc = Document.from_dict(orjson.loads(line))
            if match(doc):
                hits += 1
                forgotten[doc.id] = {"url": _url(doc), "source": doc.source}
        if hits:
            per_shard[str(shard.relative_to(run))] = hits
    manifest = atomic.read_json(run / "manifest.json")
    return {"request": req.key(), "reason": req.reason, "selector": req.selector,
            "time": datetime.now(UTC).isoformat(timespec="seconds"), "previous_root": manifest["merkle_root"],
            "ids": sorted(forgotten), "docs": forgotten, "data_shards": per_shard,
            "token_shards": _token_shards(run, set(forgotten)),
            "affected_checkpoints": affected_checkpoints(run, checkpoints) if forgotten else []}


def _token_dirs(run: Path) -> list[Path]:
    from corpus.tokens import MANIFEST, VAL_DIR

    return [d for d in (run / "tokens", run / "tokens" / VAL_DIR) if (d / MANIFEST).is_file()]


def _token_shards(run: Path, ids: set[str]) -> list[str]:
    from corpus.tokens import MANIFEST, Shard

    found = []
    for d in _token_dirs(run):
        for entry in atomic.read_json(d / MANIFEST)["shards"]:
            if ids & set(Shard(d / entry["name"]).doc_ids):
                found.append(str((d / entry["name"]).relative_to(run)))
    return found


def _stage_data(run: Path, staged: Path, rel: str, ids: set[str]) -> None:
    from corpus.io.writers import ZSTD_LEVEL

    out = staged / rel
    if out.exists():
        return
    kept = b"".join(line for line in _lines(run / rel) if orjson.loads(line)["id"] not in ids)
    data = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_checksum=True).compress(kept) if kept else b""
    atomic.write_bytes(out, data)  # empty: the shard is removed at install


def _stage_tokens(run: Path, staged: Path, rel: str, ids: set[str]) -> dict[str, Any]:
    from corpus.tokens import Shard, ShardWriter

    meta = staged / f"{rel}.json"
    if meta.exists():
        return atomic.read_json(meta)
    old = Shard(run / rel)
    gone: Counter = Counter()
    with ShardWriter(staged / rel, old.dtype) as w:
        for doc_id, seq in zip(old.doc_ids, old, strict=True):
            if doc_id in ids:
                gone[doc_id] += int(seq.size)
            else:
                w.add(seq, doc_id)
        entry = w.close()
    result = {"entry": entry, "removed": dict(gone)}
    atomic.write_json(meta, result)
    return result


def _install_file(staged: Path, target: Path) -> None:
    """Move one staged file onto its target; already moved (a resumed run) is done."""
    if staged.exists():
        if staged.stat().st_size == 0 and target.name.endswith(".jsonl.zst"):
            target.unlink(missing_ok=True)
            staged.unlink()
        else:
            atomic.commit(staged, target)


def _token_manifests(run: Path, staged_meta: dict[str, dict[str, Any]], docs: dict[str, dict[str, Any]]) -> None:
    """Rewrite each ``tokens`` manifest whose shards changed: entries, totals, per-source counts."""
    from corpus.tokens import MANIFEST

    for d in _token_dirs(run):
        m = atomic.read_json(d / MANIFEST)
        changed = False
        for i, entry in enumerate(m["shards"]):
            meta = staged_meta.get(str((d / entry["name"]).relative_to(run)))
            if meta is None or entry == meta["entry"]:
                continue
            changed = True
            m["shards"][i] = meta["entry"]
            totals = m["totals"]
            for doc_id, tokens in meta["removed"].items():
                totals["documents"] -= 1
                src = totals.get("per_source", {}).get(docs[doc_id]["source"])
                if src is not None:
                    src["documents"] -= 1
                    src["tokens"] -= tokens
        if changed:
            m["totals"]["sequences"] = sum(s["sequences"] for s in m["shards"])
            m["totals"]["tokens"] = sum(s["tokens"] for s in m["shards"])
            atomic.write_json(d / MANIFEST, m)


def _entry(plan: dict[str, Any], root: str, documents: int) -> dict[str, Any]:
    docs = plan["docs"]
    return {"erasure": plan["request"], "time": plan["time"], "reason": plan["reason"],
            "selector": plan["selector"], "ids_sha256": [digest(i) for i in plan["ids"]],
            "urls_sha256": sorted(digest(u) for u in (docs[i]["url"] for i in plan["ids"]) if u),
            "counts": {"documents": len(plan["ids"]), "data_shards": len(plan["data_shards"]),
                       "token_shards": len(plan["token_shards"]), "documents_left": documents},
            "previous_root": plan["previous_root"], "merkle_root": root,
            "affected_checkpoints": plan["affected_checkpoints"]}


def _log(run: Path, entry: dict[str, Any]) -> None:
    path = run / ERASURES
    old = path.read_bytes() if path.exists() else b""
    if any(orjson.loads(line)["merkle_root"] == entry["merkle_root"] and orjson.loads(line)["erasure"] == entry["erasure"]
           for line in old.splitlines() if line.strip()):
        return
    atomic.write_bytes(path, old + orjson.dumps(entry, option=orjson.OPT_SORT_KEYS) + b"\n")


def _file_entry(run: Path, rel: str) -> dict[str, Any]:
    return {"path": rel, "size": (run / rel).stat().st_size, "sha256": sha256_file(run / rel)}


def _manifest(run: Path, plan: dict[str, Any], touched: set[str]) -> dict[str, Any]:
    """The new manifest: the old one with the rewritten shards' hashes and counts, a new Merkle root and
    ``previous`` pointing at the old one, kept as ``history/manifest-NNN.json`` (NNN: erasures before it)."""
    old = atomic.read_json(run / "manifest.json")
    if old["merkle_root"] != plan["previous_root"]:
        return old  # installed by the interrupted run already
    kept = f"{HISTORY}/manifest-{old.get('erasures', 0):03d}.json"
    atomic.write_bytes(run / kept, (run / "manifest.json").read_bytes())
    gone = plan["data_shards"]
    outputs = [{**_file_entry(run, o["path"]), "docs": o["docs"] - gone[o["path"]]} if o["path"] in gone else o
               for o in old["outputs"] if (run / o["path"]).exists()]
    root = merkle_root([leaf(o["path"], o["sha256"]) for o in outputs])
    documents = sum(o["docs"] for o in outputs)
    _log(run, _entry(plan, root, documents))
    listed = {f["path"] for f in old["files"]}
    changed = {ERASURES, kept} | (touched & listed)  # token files are listed only when a build stage wrote them
    files = [f for f in old["files"] if f["path"] not in changed] + [_file_entry(run, p) for p in changed]
    new = {**old, "outputs": outputs, "merkle_root": root, "documents": documents,
           "files": sorted(files, key=lambda f: f["path"]),
           "previous": {"path": kept, "sha256": sha256_file(run / kept), "merkle_root": old["merkle_root"]},
           "erasures": old.get("erasures", 0) + 1}
    atomic.write_json(run / "manifest.json", new)
    return new


def forget(run: Path, req: Request, checkpoints: list[Path] = ()) -> dict[str, Any]:
    """Carry out (or resume) one erasure; returns its log entry's counts. ``checkpoints``: folders searched
    for checkpoints trained on the run before the erasure (listed in the log as affected)."""
    from corpus.tokens import MANIFEST, SHARD_FILES

    work = run.joinpath(*WORK)
    plan_path = work / "plan.json"
    if plan_path.exists():
        plan = atomic.read_json(plan_path)
        if plan["request"] != req.key():
            raise UserError(f"another erasure is unfinished in {run}: rerun that forget command first")
    else:
        plan = _plan(run, req, list(checkpoints))
        if not plan["ids"]:
            return {"documents": 0}
        atomic.write_json(plan_path, plan)
    ids = set(plan["ids"])
    staged = work / "staged"
    for rel in plan["data_shards"]:
        _stage_data(run, staged, rel, ids)
    meta = {rel: _stage_tokens(run, staged, rel, ids) for rel in plan["token_shards"]}
    for rel in plan["data_shards"]:
        _install_file(staged / rel, run / rel)
    for rel in plan["token_shards"]:
        for ext in ("bin", "ids", "idx"):  # the index last, as the token writer does
            _install_file(staged / f"{rel}.{ext}", run / f"{rel}.{ext}")
    _token_manifests(run, meta, plan["docs"])
    touched = {f"{rel}.{ext}" for rel in plan["token_shards"] for ext in SHARD_FILES}
    touched |= {str((d / MANIFEST).relative_to(run)) for d in _token_dirs(run)}
    new = _manifest(run, plan, touched)
    shutil.rmtree(work)
    return {"documents": len(ids), "data_shards": len(plan["data_shards"]),
            "token_shards": len(plan["token_shards"]), "merkle_root": new["merkle_root"],
            "affected_checkpoints": plan["affected_checkpoints"]}



def _chain(run: Path, manifest: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The Merkle roots of the run's manifests, oldest first, following ``previous``; and what is broken."""
    problems: list[str] = []
    roots = [manifest["merkle_root"]]
    current = manifest
    while (prev := current.get("previous")) is not None:
        path = run / prev["path"]
        if not path.is_file() or sha256_file(path) != prev["sha256"]:
            problems.append(f"{prev['path']}: missing or not the manifest the erasure chain recorded")
            break
        current = atomic.read_json(path)
        if current.get("merkle_root") != prev["merkle_root"]:
            problems.append(f"{prev['path']}: merkle root differs from the one its successor recorded")
        roots.append(current.get("merkle_root"))
    return roots[::-1], problems


def affected_checkpoints(run: Path, folders: list[Path]) -> list[dict[str, Any]]:
    """Checkpoints and exports under ``folders`` whose ``lineage.json`` names one of the run's Merkle roots
    so far: they were trained on documents an erasure now removes, and their weights cannot be edited."""
    from corpus.report.lineage import LINEAGE

    roots = set(_chain(run, atomic.read_json(run / "manifest.json"))[0])
    found = []
    for folder in folders:
        for path in sorted(folder.rglob(LINEAGE)):
            lin = atomic.read_json(path)
            used = {lin.get("corpus_merkle_root"), *(m.get("corpus_merkle_root") for m in lin.get("mixture") or [])}
            if used & roots:
                found.append({"path": str(path.parent.resolve()), "step": lin.get("step")})
    return found


def chain_problems(run: Path, manifest: dict[str, Any]) -> list[str]:
    """What breaks the erasure chain: each ``previous`` manifest kept with its recorded hash and root, and
    ``erasures.jsonl`` leading from one root to the next, ending at ``manifest``'s."""
    roots, problems = _chain(run, manifest)
    log = run / ERASURES
    entries = [orjson.loads(line) for line in log.read_bytes().splitlines() if line.strip()] if log.exists() else []
    steps = [(e["previous_root"], e["merkle_root"]) for e in entries]
    if steps != list(zip(roots, roots[1:], strict=False)):
        problems.append(f"{ERASURES}: its {len(steps)} erasure(s) do not lead from root to root of the "
                        f"{len(roots)} manifest(s) in the chain")
    return problems


def erasure_facts(run: Path) -> list[dict[str, Any]]:
    """The report's view of ``erasures.jsonl``: one row per erasure, counts only (no id or URL hashes)."""
    log = run / ERASURES
    if not log.exists():
        return []
    rows = [orjson.loads(line) for line in log.read_bytes().splitlines() if line.strip()]
    return [{**{k: e[k] for k in ("time", "reason", "selector", "counts", "previous_root", "merkle_root")},
             "affected_checkpoints": e.get("affected_checkpoints", [])} for e in rows]
