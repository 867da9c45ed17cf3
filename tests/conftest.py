"""Test helpers used across modules: the real CLI in a subprocess, pipelines, run directories."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")


def thresher(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 600,
             **kw) -> subprocess.CompletedProcess:
    """Run the real ``thresher`` command line in a subprocess."""
    return subprocess.run([sys.executable, "-m", "corpus.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, **kw)


def write_pipeline(path: Path, **cfg) -> Path:
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def read_docs(run_dir: Path, sub: str = "data") -> list[dict]:
    """Every document in ``RUN/<sub>/`` shards (and its sub-folders'), in the order they were written,
    whichever format the writer used (``.jsonl.zst`` or Parquet)."""
    from corpus.io.writers import list_shards
    from corpus.rundir import read_shards

    root = run_dir / sub
    dirs = [root, *sorted(p for p in root.rglob("*") if p.is_dir())]
    return [doc.to_dict() for doc in read_shards([p for d in dirs for p in list_shards(d)])]


def tree_bytes(directory: Path) -> dict[str, bytes]:
    """Relative path -> content of every file below ``directory``."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}
