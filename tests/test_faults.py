"""Faults of the machine, not of the data: one line that says what to do, exit 1; mistakes exit 2; and a
rerun after the fault resumes to the same bytes (issue 19 part 3-4)."""

from __future__ import annotations

import errno
import json
import random
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import faulty_stage  # noqa: F401 - registers test_fault
import pytest
from conftest import REPO, thresher, tree_bytes, write_pipeline
from testdata import SENTENCES, speech_paths

from corpus import cli
from corpus.errors import os_fault


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _sentences(path: Path, start: int, n: int) -> None:
    rows = SENTENCES.read_text(encoding="utf-8").splitlines()[start:start + n]
    path.write_text("".join(json.dumps({"id": f"s{start + i}", **json.loads(r)}) + "\n" for i, r in enumerate(rows)))


def _build(pipeline: Path, *args: str) -> tuple[int, str]:
    """The real CLI in this process (so ``test_fault`` is known); returns exit status and stderr."""
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = cli.main(["build", str(pipeline), "--quiet", *args])
    return rc, err.getvalue()


def test_lock_held_by_a_live_build_names_its_pid_and_host(tmp_path: Path) -> None:
    _sentences(tmp_path / "in.jsonl", 0, 20)
    p = write_pipeline(tmp_path / "p.yaml", name="lock", input={"paths": ["in.jsonl"]}, output="out", workers=1,
                       stages=[{"stage": "normalize"}])
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from pathlib import Path; from corpus.engine import runstate\n"
         f"with runstate.locked(Path({str(tmp_path / 'out')!r})):\n    print('held', flush=True); sys.stdin.read()"],
        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        r = thresher("build", str(p), "--quiet", cwd=tmp_path)
        assert r.returncode == 1
        line = _one_line(r.stderr)
        assert f"pid {holder.pid} on host {socket.gethostname()}" in line and "another build is running" in line
    finally:
        holder.communicate("", timeout=30)
    assert thresher("build", str(p), "--quiet", cwd=tmp_path).returncode == 0  # the holder is gone: on we go


def test_a_fault_before_any_task_finished_leaves_the_config_free_to_change(tmp_path: Path) -> None:
    _sentences(tmp_path / "in.jsonl", 0, 30)
    spec = {"name": "early", "input": {"paths": ["in.jsonl"]}, "output": "out", "workers": 1}
    p = write_pipeline(tmp_path / "p.yaml", **spec, stages=[{"stage": "test_fault", "word": " ", "error": "ENOSPC"}])
    rc, err = _build(p)
    assert rc == 1 and "no space left on the device" in _one_line(err)
    assert (tmp_path / "out" / "config.yaml").is_file()  # it had started
    write_pipeline(p, **spec, stages=[{"stage": "normalize"}])
    rc, err = _build(p)
    assert rc == 0, err


def test_a_config_change_before_any_task_finished_clears_the_earlier_attempt(tmp_path: Path) -> None:
    """The first attempt's stage state (``RUN/dedup_minhash/``, opened when its scan starts) is gone from
    the run and its manifest once a changed config runs there."""
    _sentences(tmp_path / "in.jsonl", 0, 30)
    spec = {"name": "early", "input": {"paths": ["in.jsonl"]}, "output": "out", "workers": 1}
    p = write_pipeline(tmp_path / "p.yaml", **spec, stages=[
        {"stage": "normalize"}, {"stage": "test_fault", "word": " ", "error": "ENOSPC"},
        {"stage": "dedup_minhash", "verify": True}])
    rc, err = _build(p)
    assert rc == 1 and (tmp_path / "out" / "dedup_minhash").is_dir()
    write_pipeline(p, **spec, stages=[{"stage": "normalize"}])
    rc, err = _build(p)
    assert rc == 0, err
    assert not (tmp_path / "out" / "dedup_minhash").exists()
    listed = [f["path"] for f in json.loads((tmp_path / "out" / "manifest.json").read_text())["files"]]
    assert not [f for f in listed if f.startswith("dedup_minhash")]


def test_a_changed_config_after_tasks_finished_says_what_differs_and_restart_moves_the_run_aside(
        tmp_path: Path) -> None:
    _sentences(tmp_path / "in.jsonl", 0, 30)
    spec = {"name": "changed", "input": {"paths": ["in.jsonl"]}, "output": "out", "workers": 1}
    p = write_pipeline(tmp_path / "p.yaml", **spec, stages=[{"stage": "normalize"}, {"stage": "length", "min_words": 3}])
    assert thresher("build", str(p), "--quiet", cwd=tmp_path).returncode == 0
    before = tree_bytes(tmp_path / "out" / "data")
    write_pipeline(p, **spec, stages=[{"stage": "normalize"}, {"stage": "length", "min_words": 4}])
    for extra in ([], ["--limit", "5"]):
        r = thresher("build", str(p), "--quiet", *extra, cwd=tmp_path)
        assert r.returncode == 2
        line = _one_line(r.stderr)
        assert "stages[1].min_words" in line and "--restart" in line
    r = thresher("build", str(p), "--quiet", "--limit", "5", "--restart", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    aside = [q for q in tmp_path.iterdir() if q.name.startswith("out.old-")]
    assert len(aside) == 1 and tree_bytes(aside[0] / "data") == before  # moved, never deleted
    assert json.loads((tmp_path / "out" / "stats.json").read_text())["records_read"] == 5


def test_an_input_that_vanishes_mid_run_is_one_line_and_the_resume_is_byte_identical(tmp_path: Path) -> None:
    inp = tmp_path / "in"
    inp.mkdir()
    _sentences(inp / "a.jsonl", 0, 40)
    _sentences(inp / "b.jsonl", 40, 40)
    saved = (inp / "b.jsonl").read_bytes()
    word = json.loads((inp / "a.jsonl").read_text().splitlines()[10])["text"]

    def pipeline(output: str, delete: Path) -> Path:
        return write_pipeline(tmp_path / f"{output}.yaml", name="vanish", input={"paths": ["in/*.jsonl"]},
                              output=output, workers=1, stages=[{"stage": "test_fault", "word": word,
                                                                 "delete": str(delete)}])

    rc, _ = _build(pipeline("reference", tmp_path / "nothing-here"))
    assert rc == 0
    p = pipeline("out", inp / "b.jsonl")
    rc, err = _build(p)
    assert rc == 1
    assert _one_line(err).endswith(f"{inp / 'b.jsonl'} vanished during the run: restore it, then rerun the "
                                   "same command to resume")
    (inp / "b.jsonl").write_bytes(saved)
    rc, err = _build(p)
    assert rc == 0, err
    assert tree_bytes(tmp_path / "out" / "data") == tree_bytes(tmp_path / "reference" / "data")


@pytest.mark.parametrize("code,says", [(errno.EACCES, "permission denied (/x/y): fix the permissions"),
                                       (errno.EROFS, "read-only file system (/x/y): choose a writable output"),
                                       (errno.ESTALE, "stale network filesystem handle (/x/y): check the mount")])
def test_each_os_fault_says_what_to_do(code: int, says: str) -> None:
    assert str(os_fault(OSError(code, "strerror", "/x/y"), "writing RUN")).startswith(says)
    assert "(writing RUN)" in str(os_fault(OSError(code, "strerror"), "writing RUN"))


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs mounted for the test (root only; skipped where mounting is not allowed)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    size = random.Random(19).choice(["256k", "384k", "512k"])
    if shutil.which("mount") is None or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                                                        str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a small filesystem here (needs root)")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_disk_full_then_resume_is_byte_identical_to_an_unbroken_build(tmp_path: Path, small_fs: Path) -> None:
    inp = tmp_path / "in"
    inp.mkdir()
    for path in speech_paths():
        shutil.copy(path, inp / path.name)
    spec = {"name": "full", "input": {"paths": ["in/*.txt"], "task_size_mb": 0.1}, "workers": 2,
            "writer": {"shard_size_mb": 0.1},
            "stages": [{"stage": "normalize"}, {"stage": "dedup_exact"}, {"stage": "length", "min_words": 5}]}
    ref = write_pipeline(tmp_path / "ref.yaml", **spec, output="reference")
    assert thresher("build", str(ref), "--quiet", cwd=tmp_path).returncode == 0
    p = write_pipeline(tmp_path / "p.yaml", **spec, output=str(small_fs / "out"))
    r = thresher("build", str(p), "--quiet", cwd=tmp_path)
    assert r.returncode == 1
    assert "no space left on the device" in _one_line(r.stderr) and "rerun the same command" in r.stderr
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_fs)], check=True)
    r = thresher("build", str(p), "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert tree_bytes(small_fs / "out" / "data") == tree_bytes(tmp_path / "reference" / "data")
    assert not [q for q in (small_fs / "out").rglob("*.tmp")]


def test_a_read_only_output_is_one_line(tmp_path: Path, small_fs: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    _sentences(tmp_path / "in.jsonl", 0, 10)
    p = write_pipeline(tmp_path / "p.yaml", name="ro", input={"paths": ["in.jsonl"]}, output=str(small_fs / "out"),
                       workers=1, stages=[{"stage": "normalize"}])
    r = thresher("build", str(p), "--quiet", cwd=tmp_path)
    assert r.returncode == 1 and "read-only file system" in _one_line(r.stderr)


def test_report_on_a_corrupted_shard_is_one_line(tmp_path: Path) -> None:
    _sentences(tmp_path / "in.jsonl", 0, 60)
    p = write_pipeline(tmp_path / "p.yaml", name="corrupt", input={"paths": ["in.jsonl"]}, output="out", workers=1,
                       stages=[{"stage": "normalize"}])
    assert thresher("build", str(p), "--quiet", cwd=tmp_path).returncode == 0
    shard = next((tmp_path / "out" / "data").glob("*.jsonl.zst"))
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    r = thresher("report", str(tmp_path / "out"), "--format", "json", "--workers", "1")
    assert r.returncode == 1
    assert f"{shard}: unreadable shard" in _one_line(r.stderr)


def test_a_wrong_typed_nested_parameter_fails_validate(tmp_path: Path) -> None:
    _sentences(tmp_path / "in.jsonl", 0, 5)
    p = write_pipeline(tmp_path / "p.yaml", name="typed", input={"paths": ["in.jsonl"]}, output="out",
                       stages=[{"stage": "gopher_repetition", "top_n_grams": {2: "high"}}])
    for command in ("validate", "build"):
        r = thresher(command, str(p), cwd=tmp_path)
        assert r.returncode == 2
        assert "top_n_grams.2 must be a number, got 'high'" in _one_line(r.stderr)


def test_disk_full_injected_at_a_random_document_then_resume_is_byte_identical(tmp_path: Path) -> None:
    """Where no small filesystem can be mounted: a stage's write fails with ENOSPC at a random document
    of a random task (the tasks before it have finished); once the disk has room, the rerun resumes."""
    inp = tmp_path / "in"
    inp.mkdir()
    for k in range(4):
        _sentences(inp / f"part-{k}.jsonl", 20 * k, 20)
    texts = [json.loads(line)["text"] for k in range(4) for line in (inp / f"part-{k}.jsonl").read_text().splitlines()]
    word = random.Random(1919).choice(texts[20:])  # past the first task, so something is there to resume
    full = tmp_path / "disk-is-full"

    def pipeline(output: str) -> Path:
        return write_pipeline(tmp_path / f"{output}.yaml", name="injected", input={"paths": ["in/*.jsonl"]},
                              output=output, workers=1,
                              stages=[{"stage": "normalize"}, {"stage": "dedup_exact"},
                                      {"stage": "test_fault", "word": word, "error": "ENOSPC",
                                       "while_exists": str(full)}])

    rc, err = _build(pipeline("reference"))
    assert rc == 0, err
    full.touch()
    p = pipeline("out")
    rc, err = _build(p)
    assert rc == 1 and "no space left on the device" in _one_line(err)
    assert any((tmp_path / "out" / ".state").rglob("pass-*/*.json"))  # some tasks had finished
    full.unlink()
    rc, err = _build(p)
    assert rc == 0, err
    assert tree_bytes(tmp_path / "out" / "data") == tree_bytes(tmp_path / "reference" / "data")
