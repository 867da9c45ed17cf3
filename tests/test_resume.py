"""A build killed with SIGKILL at any moment and rerun gives byte-identical output to an unbroken run."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from conftest import thresher, tree_bytes, write_pipeline
from testdata import speech_paths, speech_text


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory) -> Path:
    """About 5 MB of real speech paragraphs in two files, enough for a build of a few seconds."""
    root = tmp_path_factory.mktemp("resume")
    paras = [p.strip() for f in speech_paths() for p in speech_text(f).split("\n\n") if len(p.strip()) > 40]
    with open(root / "a.jsonl", "wb") as fa, open(root / "b.jsonl", "wb") as fb:
        for i in range(24_000):
            text = paras[i % len(paras)] + ("  \u00a0 extra   spaces" if i % 7 == 0 else "")
            (fa if i % 2 else fb).write(orjson.dumps({"id": f"p{i}", "text": text}) + b"\n")
    write_pipeline(root / "p.yaml", name="resume", input={"paths": ["*.jsonl"], "task_size_mb": 0.25},
                   output="unbroken", workers=2, writer={"shard_size_mb": 0.25},
                   stages=[{"stage": "normalize"}, {"stage": "length", "min_words": 8}])
    t0 = time.monotonic()
    r = thresher("build", "p.yaml", "--quiet", cwd=root)
    assert r.returncode == 0, r.stderr
    (root / "duration").write_text(str(time.monotonic() - t0))
    return root


def _kill_at(root: Path, out: str, delay: float) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "corpus.cli", "build", "p.yaml", "--quiet", "--output", out],
                            cwd=root, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


@pytest.mark.parametrize("seed", [1, 2])
def test_sigkill_then_rerun_is_byte_identical(corpus_dir: Path, seed: int) -> None:
    duration = float((corpus_dir / "duration").read_text())
    rng = random.Random(seed)
    out = f"killed-{seed}"
    # kill up to twice at random moments, then let it finish
    for _ in range(2):
        _kill_at(corpus_dir, out, rng.uniform(0.3, max(0.5, duration * 0.9)))
    r = thresher("build", "p.yaml", "--quiet", "--output", out, cwd=corpus_dir)
    assert r.returncode == 0, r.stderr
    for sub in ("data", "excluded"):
        assert tree_bytes(corpus_dir / out / sub) == tree_bytes(corpus_dir / "unbroken" / sub), sub
    a = orjson.loads((corpus_dir / out / "stats.json").read_bytes())
    b = orjson.loads((corpus_dir / "unbroken" / "stats.json").read_bytes())
    assert (a["records_read"], a["kept"], a["excluded"]) == (b["records_read"], b["kept"], b["excluded"])
    assert not list((corpus_dir / out).rglob("*.tmp")), "temp files left behind"


def test_interrupted_task_leftovers_are_redone(corpus_dir: Path) -> None:
    """A shard left by a task without its marker is replaced, not trusted."""
    out = corpus_dir / "partial"
    assert thresher("build", "p.yaml", "--quiet", "--output", str(out), cwd=corpus_dir).returncode == 0
    marker = sorted((out / ".state" / "pass-0").glob("*.json"))[1]
    task = marker.stem
    shard = sorted((out / "data").glob(f"{task}-*"))[0]
    shard.write_bytes(b"garbage from a crashed writer")
    (out / "data" / f"{task}-999.jsonl.zst").write_bytes(b"stray shard of an earlier attempt")
    marker.unlink()
    # a worker killed while writing the marker, and a build killed while writing stats.json
    stale = [marker.with_name(f".{marker.name}.4242.tmp"), out / ".stats.json.4243.tmp"]
    for p in stale:
        p.write_bytes(b"{half a json")
    assert thresher("build", "p.yaml", "--quiet", "--output", str(out), cwd=corpus_dir).returncode == 0
    assert tree_bytes(out / "data") == tree_bytes(corpus_dir / "unbroken" / "data")
    assert not any(p.exists() for p in stale) and not list(out.rglob("*.tmp"))
