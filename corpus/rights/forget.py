"""Erasure: remove documents from a finished run's ``data/`` and ``tokens/``, and record that it happened.

Only the shards that hold a forgotten document are rewritten; every other document (a ``.jsonl.zst``
line, a Parquet row) and token sequence keeps its bytes. The work goes in three steps, each safe to
repeat, so a killed ``forget`` resumes to the same result when rerun:

1. *plan*: the forgotten ids, found by one scan of ``data/``, and the request are saved to
   ``RUN/.state/forget/plan.json`` (a rerun finds the plan and does not scan again);
2. *stage*: each affected data and token shard is rewritten under ``RUN/.state/forget/staged/``;
3. *install*: the staged files replace the originals (one rename each), ``stats.json`` moves the
   documents from ``kept`` to ``forgotten``, ``erasures.jsonl`` gets its entry (hashed ids and URLs,
   reason, time, counts, where each removed token sequence sat; never text), the previous
   ``manifest.json`` is kept as ``history/manifest-NNN.json`` and a new one chains to it (``previous``:
   its path, sha256 and Merkle root).

The log's ``token_removals`` and ``tokens_manifest_sha256`` let `corpus.erasures.token_layout` rebuild the
token order a checkpoint was trained on before the erasure, so ``thresher impacted`` still names its steps.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import zstandard

from corpus import keys
from corpus.document import Document
from corpus.engine.manifest import leaf, merkle_root, sha256_file
from corpus.erasures import ERASURES, affected_checkpoints, chain, digest, entries
from corpus.errors import UserError
from corpus.io import atomic
from corpus.rundir import STATE, STATS, TOKENS_MANIFEST, TOKENS_VAL, RunDir, read_shards

HISTORY = "history"
WORK = (STATE, "forget")
SELECTORS = ("ids", "urls", "domains", "match")
# stats.json: what the erasures removed from ``kept`` (the build's ledger keeps its own counts)
FORGOTTEN = "forgotten"
INVARIANT_TERM = f" + {FORGOTTEN}.documents"


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
    url = doc.metadata.get(keys.URL)
    return url if isinstance(url, str) and url else None


def _plan(run: Path, req: Request, checkpoints: list[Path]) -> dict[str, Any]:
    """Scan ``data/`` once: which documents go, in which shards, and which token shards hold them."""
    rd = RunDir(run)
    match = req.matcher()
    forgotten: dict[str, dict[str, Any]] = {}
    per_shard: dict[str, int] = {}
    for shard in rd.shards():
        hits = 0
        for doc in read_shards([shard]):
            if match(doc):
                hits += 1
                forgotten[doc.id] = {"url": _url(doc), "source": doc.source, "chars": len(doc.text)}
        if hits:
            per_shard[str(shard.relative_to(run))] = hits
    manifest = atomic.read_json(rd.manifest)
    tokens = rd.tokens_manifest
    return {"request": req.key(), "reason": req.reason, "selector": req.selector,
            "time": datetime.now(UTC).isoformat(timespec="seconds"), "previous_root": manifest[keys.MERKLE_ROOT],
            "erasures_before": manifest.get("erasures", 0),
            "tokens_manifest_sha256": sha256_file(tokens) if tokens.is_file() else None,
            "ids": sorted(forgotten), "docs": forgotten, "data_shards": per_shard,
            "token_shards": _token_shards(run, set(forgotten)),
            "affected_checkpoints": affected_checkpoints(run, checkpoints) if forgotten else []}


def _token_dirs(run: Path) -> list[Path]:
    tokens = RunDir(run).tokens
    return [d for d in (tokens, tokens / TOKENS_VAL) if (d / TOKENS_MANIFEST).is_file()]


def _token_shards(run: Path, ids: set[str]) -> list[str]:
    from corpus.tokens import Shard

    found = []
    for d in _token_dirs(run):
        for entry in atomic.read_json(d / TOKENS_MANIFEST)["shards"]:
            if ids & set(Shard(d / entry["name"]).doc_ids):
                found.append(str((d / entry["name"]).relative_to(run)))
    return found


def _stage_jsonl(source: Path, out: Path, ids: set[str]) -> None:
    """The shard's lines without the forgotten documents, each kept line byte for byte."""
    from corpus.io.jsonl import open_compressed
    from corpus.io.writers import ZSTD_LEVEL

    with open_compressed(str(source)) as stream:
        kept = b"".join(line for line in stream if orjson.loads(line)["id"] not in ids)
    data = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_checksum=True).compress(kept) if kept else b""
    atomic.write_bytes(out, data)  # empty: the shard is removed at install


def _stage_parquet(source: Path, out: Path, ids: set[str]) -> None:
    """The shard's row groups without the forgotten rows, written as the shard writer writes them (every
    kept row holds the same values; an emptied group is dropped, an emptied shard left empty)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from corpus.io.parquet import write_rows

    pf = pq.ParquetFile(source)
    with atomic.atomic_open(out) as f:
        writer = None
        for g in range(pf.metadata.num_row_groups):
            table = pf.read_row_group(g)
            kept = table.filter(pc.invert(pc.is_in(table["id"], value_set=pa.array(sorted(ids), pa.string()))))
            if kept.num_rows:
                writer = write_rows(f, writer, kept.to_pylist())
        if writer is not None:
            writer.close()


def _stage_data(run: Path, staged: Path, rel: str, ids: set[str]) -> None:
    out = staged / rel
    if not out.exists():
        (_stage_parquet if rel.endswith(".parquet") else _stage_jsonl)(run / rel, out, ids)


def _stage_tokens(run: Path, staged: Path, rel: str, ids: set[str]) -> dict[str, Any]:
    """Rewrite one token shard without the forgotten sequences; returns its new manifest entry, the
    tokens removed per document and where each removed sequence sat (``[index, length, id sha256]``)."""
    from corpus.tokens import Shard, ShardWriter

    meta = staged / f"{rel}.json"
    if meta.exists():
        return atomic.read_json(meta)
    old = Shard(run / rel)
    gone: dict[str, int] = {}
    at: list[list[Any]] = []
    with ShardWriter(staged / rel, old.dtype) as w:
        for i, (doc_id, seq) in enumerate(zip(old.doc_ids, old, strict=True)):
            if doc_id in ids:
                gone[doc_id] = gone.get(doc_id, 0) + int(seq.size)
                at.append([i, int(seq.size), digest(doc_id)])
            else:
                w.add(seq, doc_id)
        entry = w.close()
    result = {"entry": entry, "removed": gone, "removed_at": at}
    atomic.write_json(meta, result)
    return result


def _install_file(staged: Path, target: Path, empty_removes: bool = False) -> None:
    """Move one staged file onto its target; already moved (a resumed run) is done. An empty staged data
    shard (``empty_removes``) removes its target: every document in it was forgotten."""
    if staged.exists():
        if empty_removes and staged.stat().st_size == 0:
            target.unlink(missing_ok=True)
            staged.unlink()
        else:
            atomic.commit(staged, target)


def _drop_view(run: Path, rel: str) -> None:
    """Delete the decompressed copy of a rewritten ``.jsonl.zst`` shard that a Croissant reader was given
    (``report/jsonl/``, `corpus.report.croissant.view_name`): it still holds the forgotten texts."""
    from corpus.report.croissant import JSONL, view_name

    if rel.endswith(JSONL):
        RunDir(run).report.joinpath(view_name(rel)).unlink(missing_ok=True)


def _token_manifests(run: Path, staged_meta: dict[str, dict[str, Any]], docs: dict[str, dict[str, Any]]) -> None:
    """Rewrite each ``tokens`` manifest whose shards changed: entries, totals, per-source counts."""

    for d in _token_dirs(run):
        m = atomic.read_json(d / TOKENS_MANIFEST)
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
            atomic.write_json(d / TOKENS_MANIFEST, m)


def _stats(run: Path, plan: dict[str, Any]) -> None:
    """Move the forgotten documents from ``kept`` to ``forgotten`` in ``stats.json`` (once: a resumed run
    finds the erasure counted already), so its counts match ``data/`` and its invariant still adds up."""
    path = RunDir(run).stats
    if not path.is_file():
        return
    stats = atomic.read_json(path)
    forgot = stats.get(FORGOTTEN, {"erasures": 0, "documents": 0, "characters": 0})
    if forgot["erasures"] != plan["erasures_before"]:
        return
    n = len(plan["ids"])
    stats["kept"] -= n
    stats[FORGOTTEN] = {"erasures": forgot["erasures"] + 1, "documents": forgot["documents"] + n,
                        "characters": forgot["characters"] + sum(d["chars"] for d in plan["docs"].values())}
    inv = stats.get("invariant")
    if inv is not None and not inv["rule"].endswith(INVARIANT_TERM):
        inv["rule"] += INVARIANT_TERM
    atomic.write_json(path, stats)


def _entry(plan: dict[str, Any], root: str, documents: int, tokens_after: str | None,
           removals: dict[str, list[list[Any]]]) -> dict[str, Any]:
    docs = plan["docs"]
    return {"erasure": plan["request"], "time": plan["time"], "reason": plan["reason"],
            "selector": plan["selector"], "ids_sha256": [digest(i) for i in plan["ids"]],
            "urls_sha256": sorted(digest(u) for u in (docs[i]["url"] for i in plan["ids"]) if u),
            "counts": {"documents": len(plan["ids"]), "data_shards": len(plan["data_shards"]),
                       "token_shards": len(plan["token_shards"]), "documents_left": documents,
                       "characters": sum(d["chars"] for d in docs.values())},
            "previous_root": plan["previous_root"], "merkle_root": root,
            "tokens_manifest_sha256": {"before": plan["tokens_manifest_sha256"], "after": tokens_after},
            "token_removals": removals, "affected_checkpoints": plan["affected_checkpoints"]}


def _log(run: Path, entry: dict[str, Any]) -> None:
    path = run / ERASURES
    old = path.read_bytes() if path.exists() else b""
    if any(orjson.loads(line)["merkle_root"] == entry["merkle_root"] and orjson.loads(line)["erasure"] == entry["erasure"]
           for line in old.splitlines() if line.strip()):
        return
    atomic.write_bytes(path, old + orjson.dumps(entry, option=orjson.OPT_SORT_KEYS) + b"\n")


def _file_entry(run: Path, rel: str) -> dict[str, Any]:
    return {"path": rel, "size": (run / rel).stat().st_size, "sha256": sha256_file(run / rel)}


def _manifest(run: Path, plan: dict[str, Any], touched: set[str], removals: dict[str, list[list[Any]]]) -> dict[str, Any]:
    """The new manifest: the old one with the rewritten shards' hashes and counts, a new Merkle root and
    ``previous`` pointing at the old one, kept as ``history/manifest-NNN.json`` (NNN: erasures before it)."""
    rd = RunDir(run)
    old = atomic.read_json(rd.manifest)
    if old[keys.MERKLE_ROOT] != plan["previous_root"]:
        return old  # installed by the interrupted run already
    kept = f"{HISTORY}/manifest-{old.get('erasures', 0):03d}.json"
    atomic.write_bytes(run / kept, rd.manifest.read_bytes())
    gone = plan["data_shards"]
    outputs = [{**_file_entry(run, o["path"]), "docs": o["docs"] - gone[o["path"]]} if o["path"] in gone else o
               for o in old["outputs"] if (run / o["path"]).exists()]
    root = merkle_root([leaf(o["path"], o["sha256"]) for o in outputs])
    documents = sum(o["docs"] for o in outputs)
    tokens = rd.tokens_manifest
    _log(run, _entry(plan, root, documents, sha256_file(tokens) if tokens.is_file() else None, removals))
    listed = {f["path"] for f in old["files"]}
    changed = {ERASURES, kept} | (touched & listed)  # token files are listed only when a build stage wrote them
    files = [f for f in old["files"] if f["path"] not in changed] + [_file_entry(run, p) for p in changed]
    new = {**old, "outputs": outputs, keys.MERKLE_ROOT: root, "documents": documents,
           "files": sorted(files, key=lambda f: f["path"]),
           "previous": {"path": kept, "sha256": sha256_file(run / kept), keys.MERKLE_ROOT: old[keys.MERKLE_ROOT]},
           "erasures": old.get("erasures", 0) + 1}
    atomic.write_json(rd.manifest, new)
    return new


def forget(run: Path, req: Request, checkpoints: list[Path] = ()) -> dict[str, Any]:
    """Carry out (or resume) one erasure; returns its log entry's counts. ``checkpoints``: folders searched
    for checkpoints trained on the run before the erasure (listed in the log as affected)."""
    from corpus.tokens import SHARD_FILES

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
    staged, done = work / "staged", work / "staged.done"
    if not done.exists():  # after the first install a shard may be gone: never stage again
        for rel in plan["data_shards"]:
            _stage_data(run, staged, rel, ids)
    meta = {rel: _stage_tokens(run, staged, rel, ids) for rel in plan["token_shards"]}
    atomic.write_bytes(done, b"")
    for rel in plan["data_shards"]:
        _install_file(staged / rel, run / rel, empty_removes=True)
        _drop_view(run, rel)
    for rel in plan["token_shards"]:
        for ext in ("bin", "ids", "idx"):  # the index last, as the token writer does
            _install_file(staged / f"{rel}.{ext}", run / f"{rel}.{ext}")
    _token_manifests(run, meta, plan["docs"])
    _stats(run, plan)
    touched = {f"{rel}.{ext}" for rel in plan["token_shards"] for ext in SHARD_FILES}
    touched |= {str((d / TOKENS_MANIFEST).relative_to(run)) for d in _token_dirs(run)} | {STATS}
    new = _manifest(run, plan, touched, {rel: m["removed_at"] for rel, m in meta.items()})
    shutil.rmtree(work)
    return {"documents": len(ids), "data_shards": len(plan["data_shards"]),
            "token_shards": len(plan["token_shards"]), keys.MERKLE_ROOT: new[keys.MERKLE_ROOT],
            "affected_checkpoints": plan["affected_checkpoints"]}


def chain_problems(run: Path, manifest: dict[str, Any]) -> list[str]:
    """What breaks the erasure chain: each ``previous`` manifest kept with its recorded hash and root, and
    ``erasures.jsonl`` leading from one root to the next, ending at ``manifest``'s."""
    roots, problems = chain(run, manifest)
    steps = [(e["previous_root"], e[keys.MERKLE_ROOT]) for e in entries(run)]
    if steps != list(zip(roots, roots[1:], strict=False)):
        problems.append(f"{ERASURES}: its {len(steps)} erasure(s) do not lead from root to root of the "
                        f"{len(roots)} manifest(s) in the chain")
    return problems


def erasure_facts(run: Path) -> list[dict[str, Any]]:
    """The report's view of ``erasures.jsonl``: one row per erasure, counts only (no id or URL hashes)."""
    return [{**{k: e[k] for k in ("time", "reason", "selector", "counts", "previous_root", keys.MERKLE_ROOT)},
             "affected_checkpoints": e.get("affected_checkpoints", [])} for e in entries(run)]
