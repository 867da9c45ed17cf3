"""``--executor ray``: the same run directory as the local executor, resume after SIGKILL, retries.

One local Ray instance of 2 CPUs serves the module (the in-process build borrows it and the rerun
joins it with ``--ray-address``); the killed build starts its own instance, the way a user's
``thresher build --executor ray`` does on one machine.
"""

from __future__ import annotations

import io
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import psutil
import pytest
import ray
from conftest import REPO, thresher, tree_bytes, write_pipeline
from testdata import speech_paths, speech_text

from corpus import config
from corpus.engine import build, progress
from corpus.engine.ray_executor import RayExecutor
from corpus.errors import UserError

STAGES = [
    {"stage": "normalize"},
    {"stage": "length", "min_words": 8},
    {"stage": "gopher_quality"},
    {"stage": "c4", "mode": "annotate"},  # flags in metadata: part of the bytes compared
    {"stage": "dedup_minhash"},  # scan, reduce with parallel sub-phases on Ray, process
]


@pytest.fixture(scope="module")
def ray_address() -> Any:
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING,
             _system_config={"worker_niceness": 0})  # as the executor's own instances: a fair share of a busy CI box
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory) -> Path:
    """Every other real paragraph plus a near-duplicate of every fourth, in three files, and a local run."""
    root = tmp_path_factory.mktemp("ray")
    paras = [p.strip() for f in speech_paths() for p in speech_text(f).split("\n\n") if len(p.strip()) > 40][::2]
    texts = paras + [p.replace(" the ", " a ", 1) for p in paras[::4]]
    files = [open(root / f"part-{k}.jsonl", "wb") for k in range(3)]
    for i, text in enumerate(texts):
        files[i % 3].write(orjson.dumps({"id": f"d{i}", "text": text + "\u00a0 "}) + b"\n")
    for f in files:
        f.close()
    write_pipeline(root / "p.yaml", name="ray", input={"paths": ["*.jsonl"], "task_size_mb": 0.2},
                   output="local", workers=2, writer={"shard_size_mb": 0.25}, stages=STAGES)
    r = thresher("build", "p.yaml", "--quiet", cwd=root)
    assert r.returncode == 0, r.stderr
    return root


def _stats(run_dir: Path) -> Any:
    """``stats.json`` without what depends on timing (seconds, peak memory)."""
    def strip(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if k not in ("seconds", "peak_rss_mb")}
        if isinstance(x, list):
            return [strip(v) for v in x]
        return x

    return strip(orjson.loads((run_dir / "stats.json").read_bytes()))


def _layout(run_dir: Path) -> list[str]:
    return sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file())


def _same_run(run_dir: Path, reference: Path) -> None:
    assert _layout(run_dir) == _layout(reference)
    for sub in ("data", "excluded"):
        assert tree_bytes(run_dir / sub) == tree_bytes(reference / sub), sub
    assert _stats(run_dir) == _stats(reference)


def test_ray_build_matches_local_build(ray_address: str, corpus_dir: Path) -> None:
    cfg = config.load(corpus_dir / "p.yaml")
    cfg.output = str(corpus_dir / "ray")
    cfg.executor = "ray"
    stats = build.run(cfg, quiet=True)
    assert stats["tasks"] > 4 and stats["kept"] > 0
    assert all(stats["excluded"].get(s) for s in ("gopher_quality", "dedup_minhash"))
    _same_run(corpus_dir / "ray", corpus_dir / "local")
    assert ray.is_initialized(), "the build closed a Ray connection it did not open"


def _ray_processes_of(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def test_killed_ray_build_resumes_to_the_same_bytes(ray_address: str, corpus_dir: Path) -> None:
    out = corpus_dir / "killed"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "corpus.cli", "build", "p.yaml", "--quiet", "--output", str(out),
                             "--executor", "ray"], cwd=corpus_dir, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    markers = out / ".state" / "pass-0"
    deadline = time.monotonic() + 240
    while not (markers.is_dir() and any(markers.glob("*.json"))):
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "no task finished in 4 minutes"
        time.sleep(0.02)
    started = _ray_processes_of(proc.pid)  # its own Ray instance: raylet, GCS, workers
    workers = [p for p in started if p.name() in ("ray::_run", "ray::IDLE")]
    assert workers and all(p.nice() == os.nice(0) for p in workers), "workers must run at the user's priority"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    assert not (out / "stats.json").exists(), "the build finished before it could be killed"
    gone, alive = psutil.wait_procs(started, timeout=60)
    assert not alive, f"Ray processes outlived the killed build: {alive}"
    before = {p.name: p.read_bytes() for p in markers.glob("*.json")}

    r = thresher("build", "p.yaml", "--quiet", "--output", str(out), "--executor", "ray",
                 "--ray-address", ray_address, cwd=corpus_dir)
    assert r.returncode == 0, r.stderr
    _same_run(out, corpus_dir / "local")
    after = {name: (markers / name).read_bytes() for name in before}
    assert after == before, "tasks finished before the kill were run again"


# ---------------------------------------------------------------- the executor on its own

# the functions below travel to the workers by value: Ray workers cannot import this test module
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

def _pid(_: int) -> int:
    return os.getpid()


def test_worker_processes_are_reused(ray_address: str) -> None:
    """Stages are set up once per worker process, so tasks must share a few processes."""
    ex = RayExecutor(2)
    try:
        pids = ex.map(_pid, list(range(24)))
    finally:
        ex.close()
    assert len(pids) == 24 and os.getpid() not in pids
    assert len(set(pids)) <= 2


def _die_once(job: tuple[str, int]) -> int:
    flag, value = Path(job[0]), job[1]
    attempts = int(flag.read_text()) + 1 if flag.exists() else 1
    flag.write_text(str(attempts))
    if attempts == 1:
        os.kill(os.getpid(), signal.SIGKILL)  # the worker dies mid-task, as on OOM or a lost node
    return value * 10


def _fail_once_with_oserror(job: tuple[str, int]) -> int:
    flag = Path(job[0])
    if not flag.exists():
        flag.write_text("1")
        raise OSError("stale file handle")
    return job[1]


def _user_mistake(job: tuple[str, int]) -> int:
    flag = Path(job[0])
    flag.write_text(str(int(flag.read_text()) + 1) if flag.exists() else "1")
    raise UserError("stage 'x': bad parameter")


def test_failed_tasks_are_retried_and_errors_keep_their_type(ray_address: str, tmp_path: Path) -> None:
    ex = RayExecutor(2)
    try:
        assert ex.map(_die_once, [(str(tmp_path / f"die-{i}"), i) for i in range(3)]) == [0, 10, 20]
        assert all((tmp_path / f"die-{i}").read_text() == "2" for i in range(3))
        assert ex.map(_fail_once_with_oserror, [(str(tmp_path / "io"), 7)]) == [7]
        with pytest.raises(UserError, match="bad parameter"):
            ex.map(_user_mistake, [(str(tmp_path / "user"), 0)])
        assert (tmp_path / "user").read_text() == "1", "a user mistake must not be retried"
    finally:
        ex.close()


def _read_docs(n: int) -> tuple[str, str]:
    for _ in range(n):
        progress.tick()
    return os.environ.get("THRESHER_RAY_TEST_VALUE", ""), os.environ.get("THRESHER_WORKERS", "")


def test_progress_counts_documents_and_workers_see_the_environment(ray_address: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THRESHER_RAY_TEST_VALUE", "passed-through")
    view = progress.Progress(stream=io.StringIO())
    ex = RayExecutor(2, progress_view=view)
    done: list[tuple[str, str]] = []
    try:
        # THRESHER_WORKERS: the node's CPUs, so stages with thread pools split the cores between tasks
        assert ex.map(_read_docs, [1000, 2500, 7], on_done=done.append) == [("passed-through", "2")] * 3
    finally:
        ex.close()
    assert len(done) == 3
    assert view.docs == 3507


def test_without_ray_the_error_says_how_to_install(corpus_dir: Path) -> None:
    code = ("import sys; sys.modules['ray'] = None; from corpus.cli import main; "
            "sys.exit(main(['build', 'p.yaml', '--output', 'no-ray', '--executor', 'ray']))")
    r = subprocess.run([sys.executable, "-c", code], cwd=corpus_dir, capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'thresher[ray]'" in lines[0], r.stderr


def test_unreachable_cluster_is_a_one_line_error(corpus_dir: Path) -> None:
    r = thresher("build", "p.yaml", "--output", "unreachable", "--executor", "ray", "--ray-address", "127.0.0.1:1",
                 cwd=corpus_dir, timeout=120)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the Ray cluster at 127.0.0.1:1" in lines[0], r.stderr
