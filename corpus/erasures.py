"""The erasure history of a run, read: ``erasures.jsonl``, the chain of manifests it leads through, and
the token layout a checkpoint was trained on before an erasure.

``thresher forget`` (`corpus.rights.forget`) writes that history; ``thresher impacted`` (the trainer)
reads it to find the checkpoints that saw a document and replay their steps. Both sides need the same
reading, and the trainer may import only the base (`corpus.base_modules`), so it lives here, in the
base, apart from the writer.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from corpus import keys
from corpus.io import atomic
from corpus.rundir import RunDir
from corpus.tokens import Shard
from corpus.tokens import sha256 as sha256_file

ERASURES = "erasures.jsonl"


def digest(value: str) -> str:
    """How the erasure log names an id or a URL: never the value itself."""
    return hashlib.sha256(value.encode()).hexdigest()


def entries(run: Path) -> list[dict[str, Any]]:
    """The entries of ``erasures.jsonl``, oldest first."""
    log = run / ERASURES
    return [orjson.loads(line) for line in log.read_bytes().splitlines() if line.strip()] if log.exists() else []


def chain(run: Path, manifest: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The Merkle roots of the run's manifests, oldest first, following ``previous``; and what is broken."""
    problems: list[str] = []
    roots = [manifest[keys.MERKLE_ROOT]]
    current = manifest
    while (prev := current.get("previous")) is not None:
        path = run / prev["path"]
        if not path.is_file() or sha256_file(path) != prev["sha256"]:
            problems.append(f"{prev['path']}: missing or not the manifest the erasure chain recorded")
            break
        current = atomic.read_json(path)
        if current.get(keys.MERKLE_ROOT) != prev[keys.MERKLE_ROOT]:
            problems.append(f"{prev['path']}: merkle root differs from the one its successor recorded")
        roots.append(current.get(keys.MERKLE_ROOT))
    return roots[::-1], problems


def affected_checkpoints(run: Path, folders: list[Path]) -> list[dict[str, Any]]:
    """Checkpoints and exports under ``folders`` whose ``lineage.json`` names one of the run's Merkle roots
    so far: they were trained on documents an erasure now removes, and their weights cannot be edited."""
    roots = set(chain(run, atomic.read_json(RunDir(run).manifest))[0])
    found = []
    for folder in folders:
        for path in sorted(folder.rglob(keys.LINEAGE_FILE)):
            lin = atomic.read_json(path)
            used = {lin.get(keys.CORPUS_MERKLE_ROOT),
                    *(m.get(keys.CORPUS_MERKLE_ROOT) for m in lin.get(keys.MIXTURE) or [])}
            if used & roots:
                found.append({"path": str(path.parent.resolve()), "step": lin.get(keys.STEP)})
    return found


def token_layout(run: Path, tokens_sha256: str, doc_id: str) -> tuple[np.ndarray, np.ndarray] | None:
    """``(lengths, held)`` of every sequence of ``RUN/tokens/`` in order, and which held ``doc_id``, as they
    were when ``tokens/manifest.json`` had sha256 ``tokens_sha256``: today, or before any erasure since
    (each erasure's removed sequences are put back where they sat; a forgotten document is recognised by
    its id's hash). None when the tokens never had that manifest (tokenized again, or another folder)."""
    rd = RunDir(run)
    if not rd.tokens_manifest.is_file():
        return None
    names = [s["name"] for s in atomic.read_json(rd.tokens_manifest)["shards"]]
    shards = {n: Shard(rd.tokens / n) for n in names}
    lengths = {n: np.asarray(s.lengths, dtype=np.int64) for n, s in shards.items()}
    held = {n: np.array([i == doc_id for i in s.doc_ids], dtype=bool) for n, s in shards.items()}
    rel = {str((rd.tokens / n).relative_to(run)): n for n in names}
    sha, target = sha256_file(rd.tokens_manifest), digest(doc_id)
    for entry in reversed(entries(run)):
        if sha == tokens_sha256:
            break
        shas = entry.get("tokens_manifest_sha256") or {}
        if shas.get("after") != sha:
            return None
        for shard, removed in (entry.get("token_removals") or {}).items():
            if shard in rel:  # tokens/val/ shards are not trained on
                n = rel[shard]
                at = [i - k for k, (i, _, _) in enumerate(removed)]  # positions in the shard as it is now
                lengths[n] = np.insert(lengths[n], at, [length for _, length, _ in removed])
                held[n] = np.insert(held[n], at, [h == target for _, _, h in removed])
        sha = shas.get("before")
    if sha != tokens_sha256:
        return None
    return (np.concatenate([lengths[n] for n in names]) if names else np.zeros(0, np.int64),
            np.concatenate([held[n] for n in names]) if names else np.zeros(0, bool))
