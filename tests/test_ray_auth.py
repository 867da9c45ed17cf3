"""A Ray cluster with token authentication (what ``ray start --head`` sets up since Ray 2.5x): a build
without the token is told so in one line, and how to pass it; with it, the build runs."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import ray
from conftest import write_pipeline
from testdata import SENTENCES


def _build(cwd: Path, address: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_AUTH", "RAY_ADDRESS"))}
    return subprocess.run([sys.executable, "-m", "corpus.cli", "build", "p.yaml", "--quiet", "--executor", "ray",
                           "--ray-address", address], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**clean, **env})


def test_a_cluster_that_wants_a_token_says_so_in_one_line(tmp_path: Path) -> None:
    rows = SENTENCES.read_text(encoding="utf-8").splitlines()[:20]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"id": f"s{i}", **json.loads(r)}) + "\n"
                                               for i, r in enumerate(rows)))
    write_pipeline(tmp_path / "p.yaml", name="auth", input={"paths": ["in.jsonl"]}, output="out", workers=1,
                   stages=[{"stage": "normalize"}])
    ray.init(num_cpus=1, include_dashboard=False, logging_level=logging.WARNING)
    try:
        address = ray.get_runtime_context().gcs_address
        if os.environ.get("RAY_AUTH_MODE", "token") != "token":
            pytest.skip("this Ray instance runs without token authentication")
        r = _build(tmp_path, address)
        assert r.returncode == 1
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and f"the Ray cluster at {address} refused authentication" in lines[0], r.stderr
        assert "RAY_AUTH_MODE=token" in lines[0] and "docs/ray.md" in lines[0]
        r = _build(tmp_path, address, RAY_AUTH_MODE="token")
        assert r.returncode == 0, r.stderr
    finally:
        ray.shutdown()
