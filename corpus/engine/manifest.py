"""The manifest: what went in, what came out, under which config and versions, with hashes.

``outputs`` lists every kept-data shard with size, sha256 and document count; ``merkle_root`` is
one hash over them (sorted by path), so a single value identifies the whole corpus and lineage can
refer to it. ``files`` hashes everything else the run wrote, for ``thresher verify``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import corpus
from corpus.rundir import DATA, NOT_HASHED

HASH_BUF = 4 << 20
VERSIONED = ("thresher", "datasets", "datasketch", "fasttext-numpy2", "presidio-analyzer",
             "presidio-anonymizer", "tokenizers", "transformers", "torch", "pyarrow", "zstandard", "orjson",
             "numpy", "ray", "fastwarc", "resiliparse", "trafilatura")


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(HASH_BUF):
            h.update(chunk)
    return h.hexdigest()


def sha256_tree(path: str | os.PathLike) -> str:
    """One hash over a folder's files (relative name and content), e.g. a saved dataset or tokenizer."""
    root = Path(path)
    h = hashlib.sha256()
    for p in sorted(q for q in root.rglob("*") if q.is_file()):
        h.update(str(p.relative_to(root)).encode() + b"\0" + sha256_file(p).encode() + b"\n")
    return h.hexdigest()


def merkle_root(hashes: list[str]) -> str:
    """Binary Merkle tree over hex leaf hashes (the last node is carried up when a level is odd)."""
    level = [bytes.fromhex(h) for h in hashes] or [hashlib.sha256(b"").digest()]
    while len(level) > 1:
        nxt = [hashlib.sha256(level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0].hex()


def leaf(path: str, sha: str) -> str:
    """A Merkle leaf binds a shard's name to its content."""
    return hashlib.sha256(f"{path}\0{sha}".encode()).hexdigest()


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    out["thresher"] = corpus.__version__
    return out


def git_commit() -> str | None:
    here = Path(corpus.__file__).resolve().parent.parent
    if not (here / ".git").exists():
        return None
    try:
        r = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                           timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout.strip() or None


def input_entry(path: str, display: str, fmt: str) -> dict[str, Any]:
    """What the manifest says of one input; a WARC adds its ``warcinfo`` records (crawler software,
    robots policy), which the EU summary cites."""
    p = Path(path)
    if p.is_file():
        entry = {"path": display, "format": fmt, "size": p.stat().st_size, "sha256": sha256_file(p)}
        if fmt == "warc":
            from corpus.io.warc import WARCINFO, warcinfo

            entry[WARCINFO] = warcinfo(path)
        return entry
    if p.is_dir():
        size = sum(q.stat().st_size for q in p.rglob("*") if q.is_file())
        return {"path": display, "format": fmt, "size": size, "sha256": sha256_tree(p)}
    return {"path": display, "format": fmt, "size": None, "sha256": None, "note": "remote dataset: not hashed"}


def output_files(run_dir: Path, data_docs: dict[str, int]) -> tuple[list[dict], list[dict]]:
    """``(outputs, files)``: data shards with document counts, and every other file the run wrote."""
    outputs, files = [], []
    for p in sorted(q for q in run_dir.rglob("*") if q.is_file()):
        rel = p.relative_to(run_dir)
        if rel.parts[0] in NOT_HASHED or p.name.startswith("."):
            continue
        entry = {"path": str(rel), "size": p.stat().st_size, "sha256": sha256_file(p)}
        if rel.parts[0] == DATA:
            outputs.append({**entry, "docs": data_docs.get(str(rel), 0)})
        else:
            files.append(entry)
    return outputs, files


def build(run_dir: Path, *, name: str, config: dict[str, Any], config_sha: str, inputs: list[dict[str, Any]],
          data_docs: dict[str, int], started: str, finished: str) -> dict[str, Any]:
    outputs, files = output_files(run_dir, data_docs)
    return {
        "name": name,
        "thresher_version": corpus.__version__,
        "git_commit": git_commit(),
        "versions": versions(),
        "config": config,
        "config_sha256": config_sha,
        "inputs": inputs,
        "outputs": outputs,
        "merkle_root": merkle_root([leaf(o["path"], o["sha256"]) for o in outputs]),
        "documents": sum(o["docs"] for o in outputs),
        "files": files,
        "started": started,
        "finished": finished,
    }
