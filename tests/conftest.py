"""Shared test helpers: the real CLI in a subprocess, run directories, shared real data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

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
    """Every document in ``RUN/<sub>/`` shards, in shard-name order."""
    from corpus.io.jsonl import open_compressed

    out = []
    for p in sorted((run_dir / sub).rglob("*.jsonl.zst")):
        with open_compressed(str(p)) as f:
            out.extend(orjson.loads(line) for line in f)
    return out


def tree_bytes(directory: Path) -> dict[str, bytes]:
    """Relative path -> content of every file below ``directory``."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA
