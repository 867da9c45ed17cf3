"""Regression tests for the engine defects of issue 21: each reproduces one defect end to end."""

from __future__ import annotations

from pathlib import Path

import orjson
from conftest import read_docs, thresher, write_pipeline

REPEATED = "the same repeated text"


def _jsonl(path: Path, records: list[dict]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def _stats(run: Path) -> dict:
    return orjson.loads((run / "stats.json").read_bytes())


# ---------------------------------------------------------------- b1: shard order by index, not name

def test_global_stage_reads_more_than_1000_shards_back_in_writing_order(tmp_path: Path) -> None:
    """A tiny ``shard_size_mb`` puts every document in its own shard: 1,200 shards in one task, so the
    pass after ``dedup_exact``'s scan must read ``-1000`` after ``-999``, not after ``-100``."""
    _jsonl(tmp_path / "in.jsonl", [{"id": f"d{i}", "text": REPEATED if i % 10 == 0 else f"unique text {i}"}
                                   for i in range(1200)])
    write_pipeline(tmp_path / "p.yaml", name="b1", input={"paths": ["in.jsonl"]}, output="out", workers=1,
                   writer={"shard_size_mb": 0.000001}, stages=[{"stage": "dedup_exact"}])
    r = thresher("build", "p.yaml", "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / "out" / "data").glob("00000-*"))) > 1000
    kept, excluded = read_docs(tmp_path / "out"), read_docs(tmp_path / "out", "excluded")
    assert [d["text"] for d in kept].count(REPEATED) == 1
    assert all(d["text"] == REPEATED for d in excluded) and len(excluded) == 119
    assert [d["id"] for d in kept] == ["d0"] + [f"d{i}" for i in range(1200) if i % 10]


def test_tokenize_command_lists_a_runs_shards_by_index(tmp_path: Path) -> None:
    from corpus.commands.tokenize import data_tasks

    data = tmp_path / "run" / "data"
    data.mkdir(parents=True)
    names = [f"{t}-{i:03d}.jsonl.zst" for t in ("00000", "00001") for i in (0, 99, 100, 999, 1000, 1001)]
    for name in names:
        (data / name).write_bytes(b"")
    (data / ".00000-1002.jsonl.zst.123.tmp").write_bytes(b"")
    tasks = data_tasks(tmp_path / "run")
    assert list(tasks) == ["00000", "00001"]
    assert [p.name for ps in tasks.values() for p in ps] == names


def test_list_shards_orders_tasks_and_indices_numerically(tmp_path: Path) -> None:
    from corpus.io.writers import list_shards

    names = ["99999-000.parquet", "99999-1000.parquet", "100000-000.parquet", "100000-002.parquet"]
    for name in reversed(names):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "notes.txt").write_bytes(b"")
    assert [p.name for p in list_shards(tmp_path)] == names
    assert [p.name for p in list_shards(tmp_path, "100000")] == names[2:]
