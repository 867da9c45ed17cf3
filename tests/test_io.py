"""Readers and writers: every format streams, maps user columns, and writes atomically."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
from conftest import read_docs, thresher, write_pipeline
from hypothesis import given
from hypothesis import strategies as st

from corpus.document import Document
from corpus.io.writers import ShardWriter


def test_custom_text_and_id_fields(tmp_path: Path) -> None:
    rows = [{"uid": f"u{i}", "body": f"body text number {i}", "url": f"https://e.org/{i}"} for i in range(5)]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    p = write_pipeline(tmp_path / "p.yaml", name="f", input={"paths": ["in.jsonl"], "text_field": "body",
                                                                "id_field": "uid"}, output="out", workers=1, stages=[])
    assert thresher("build", str(p), "--quiet", cwd=tmp_path).returncode == 0
    docs = read_docs(tmp_path / "out")
    assert [(d["id"], d["text"], d["metadata"]) for d in docs] == [
        (r["uid"], r["body"], {"url": r["url"]}) for r in rows]
    assert all(d["source"] == "in.jsonl" for d in docs)


def test_hugging_face_saved_dataset_input(tmp_path: Path) -> None:
    import datasets

    ds = datasets.Dataset.from_dict({"text": [f"hf document {i} with words" for i in range(30)],
                                     "label": list(range(30))})
    ds.save_to_disk(str(tmp_path / "hfds"))
    p = write_pipeline(tmp_path / "p.yaml", name="hf", input={"paths": ["hf:hfds"]}, output="out", workers=1,
                       stages=[])
    r = thresher("build", str(p), "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    docs = read_docs(tmp_path / "out")
    assert [d["text"] for d in docs] == ds["text"]
    assert docs[3]["id"] == "hf:hfds:4" and docs[3]["metadata"] == {"label": 3}
    # a saved folder given as a plain path is recognised too
    p = write_pipeline(tmp_path / "p2.yaml", name="hf", input={"paths": ["hfds"]}, output="out2", workers=1,
                       stages=[])
    assert thresher("build", str(p), "--quiet", cwd=tmp_path).returncode == 0
    assert len(read_docs(tmp_path / "out2")) == 30


def test_missing_dataset_split_is_a_user_error(tmp_path: Path) -> None:
    import datasets

    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": ["a"]})}).save_to_disk(str(tmp_path / "dd"))
    p = write_pipeline(tmp_path / "p.yaml", name="hf", input={"paths": ["hf:dd"], "hf_split": "test"},
                       output="out", workers=1, stages=[])
    r = thresher("build", str(p), cwd=tmp_path)
    assert r.returncode == 2 and "no split 'test'" in r.stderr and "Traceback" not in r.stderr


def test_parquet_output_round_trips(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"text": f"doc {i}", "n": i}) + "\n" for i in range(50)))
    p = write_pipeline(tmp_path / "p.yaml", name="pq", input={"paths": ["in.jsonl"]}, output="out", workers=1,
                       writer={"format": "parquet"}, stages=[])
    assert thresher("build", str(p), "--quiet", cwd=tmp_path).returncode == 0
    files = sorted((tmp_path / "out" / "data").glob("*.parquet"))
    assert len(files) == 1
    table = pq.read_table(files[0]).to_pylist()
    assert [r["text"] for r in table] == [f"doc {i}" for i in range(50)]
    assert json.loads(table[7]["metadata"]) == {"n": 7}
    m = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert m["outputs"][0]["docs"] == 50


def test_shard_writer_rolls_over_and_never_shows_half_a_shard(tmp_path: Path) -> None:
    import random

    rng = random.Random(0)
    w = ShardWriter(tmp_path, "00000", shard_size_mb=0.01)  # about 10 KB of compressed output per shard
    for i in range(60):
        text = " ".join("".join(rng.choice("abcdefghij") for _ in range(6)) for _ in range(300))
        w.write(Document(str(i), text, "src"))
        visible = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
        assert all(p.name.endswith(".jsonl.zst") for p in visible)
    shards = w.close()
    assert len(shards) > 1 and sum(n for _, n in shards) == 60
    assert [p.name for p, _ in shards] == [f"00000-{k:03d}.jsonl.zst" for k in range(len(shards))]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    from corpus.rundir import read_shards

    assert [d.id for d in read_shards([p for p, _ in shards])] == [str(i) for i in range(60)]


@given(st.lists(st.integers(min_value=-(10**40), max_value=10**40), min_size=1, max_size=4),
       st.floats(allow_nan=False, allow_infinity=False))
def test_integers_of_any_size_are_read_exactly(ints, f):
    """orjson turns an integer outside [-2**63, 2**64) into a float; `loads` must keep every integer exact
    (two ids that differ past the 17th digit stay two ids), anywhere in the record, and leave floats floats."""
    from corpus.io.jsonl import loads
    from corpus.io.writers import dumps

    record = {"id": ints[0], "metadata": {"n": ints, "deep": [[{"v": ints[-1]}]], "f": f}, "text": "1" * 25}
    back = loads(dumps(record))
    assert back == record
    assert all(type(a) is int for a in back["metadata"]["n"]) and type(back["metadata"]["f"]) is float
