"""Every record is accounted for: kept, excluded with a reason, or quarantined with file and line."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from conftest import read_docs, thresher, tree_bytes, write_pipeline

from corpus.engine.manifest import leaf, merkle_root, sha256_file
from corpus.io.jsonl import open_compressed


def _doc(i: int) -> dict:
    return {"id": f"doc-{i}", "text": f"Document number {i} has a few words in it, enough to pass.", "lang": "en"}


@pytest.fixture
def mixed(tmp_path: Path) -> dict:
    """Inputs in every format, with known numbers of good, bad and empty records."""
    inp = tmp_path / "in"
    inp.mkdir()
    # plain JSONL: 40 good, 3 malformed, 1 invalid UTF-8, 1 missing text, 1 non-string, 2 empty, 1 array,
    # 2 records without id (ids become <file>:<line>)
    lines = [json.dumps(_doc(i)).encode() for i in range(40)]
    lines[5:5] = [b'{"text": "cut', b"{'single': 'quotes'}", b'{"text": "x" "y"}']
    lines.insert(20, b'{"id": "bad-utf8", "text": "caf\xe9"}')
    lines.insert(25, b'{"id": "no-text", "body": "x"}')
    lines.insert(26, b'{"id": "num", "text": 3.5}')
    lines.insert(27, b'{"id": "e1", "text": ""}')
    lines.insert(28, b'{"id": "e2", "text": "   \\n  "}')
    lines.insert(29, b"[1, 2]")
    lines.append(b'{"text": "no id here, but text enough to keep"}')
    lines.append(b'{"text": "another record without an id field"}')
    (inp / "a.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    # gzip: 30 good then truncated in the middle of the stream
    body = b"".join(json.dumps(_doc(100 + i)).encode() + b"\n" for i in range(3000))
    gz = gzip.compress(body)
    (inp / "b.jsonl.gz").write_bytes(gz[: len(gz) // 2])
    # zstd: complete, 25 good
    (inp / "c.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(
        b"".join(json.dumps(_doc(5000 + i)).encode() + b"\n" for i in range(25))))
    # Parquet: 30 rows in 3 row groups, one with null text
    rows = [_doc(6000 + i) for i in range(30)]
    rows[7]["text"] = None
    pq.write_table(pa.Table.from_pylist(rows), inp / "d.parquet", row_group_size=10)
    # text files: 2 good, 1 empty, 1 not UTF-8
    (inp / "e1.txt").write_text("A plain text document, one per file.")
    (inp / "e2.txt").write_text("Another plain text document with words.")
    (inp / "e3.txt").write_text("")
    (inp / "e4.txt").write_bytes(b"\xff\xfe broken")
    p = write_pipeline(tmp_path / "p.yaml", name="mixed",
                       input={"paths": ["in/*.jsonl", "in/*.jsonl.gz", "in/*.zst", "in/*.parquet", "in/*.txt"]},
                       output="out", workers=2, stages=[{"stage": "normalize"}, {"stage": "length", "min_words": 5}])
    return {"root": tmp_path, "pipeline": p, "gz_lines": body.count(b"\n")}


def test_mixed_inputs_balance_exactly(mixed: dict) -> None:
    root = mixed["root"]
    r = thresher("build", str(mixed["pipeline"]), cwd=root)
    assert r.returncode == 0, r.stderr
    run = root / "out"
    stats = json.loads((run / "stats.json").read_text())
    q_entries = [json.loads(ln) for p in sorted((run / "quarantine").glob("*.jsonl")) for ln in p.read_text().splitlines()]
    assert stats["invariant"]["holds"], stats["invariant"]
    gz_read = next(e for e in q_entries if e["file"] == "in/b.jsonl.gz")["line"] - 1
    assert 0 < gz_read < 3000  # records before the damage were kept
    expected_read = (40 + 3 + 1 + 1 + 1 + 2 + 1 + 2) + (gz_read + 1) + 25 + 30 + 4
    assert stats["records_read"] == expected_read
    assert stats["quarantined"] == {"malformed_json": 3, "invalid_utf8": 2, "missing_text": 2, "text_not_string": 1,
                                    "not_an_object": 1, "truncated_stream": 1}
    assert stats["excluded"]["read"] == 3  # two empty JSONL texts and one empty text file
    kept = read_docs(run)
    assert stats["kept"] == len(kept)
    assert stats["records_read"] == stats["kept"] + stats["excluded_total"] + stats["quarantined_total"]
    # quarantine entries name file and line and keep the raw bytes
    by_id = {(e["file"], e["line"]): e for e in q_entries}
    utf = by_id[("in/a.jsonl", 21)]
    assert utf["error"].startswith("invalid UTF-8")
    assert base64.b64decode(utf["raw_base64"]) == b'{"id": "bad-utf8", "text": "caf\xe9"}\n'
    assert by_id[("in/a.jsonl", 6)]["error"].startswith("malformed JSON")
    assert by_id[("in/d.parquet", 8)]["error"].startswith("missing text field")
    assert ("in/e4.txt", 1) in by_id
    # ids: given ids kept, missing ids become <file>:<line>
    ids = {d["id"] for d in kept}
    n_lines = len((root / "in" / "a.jsonl").read_bytes().splitlines())
    assert {f"in/a.jsonl:{n_lines - 1}", f"in/a.jsonl:{n_lines}", "doc-0", "in/e1.txt"} <= ids
    # excluded documents carry their flags
    excluded = read_docs(run, "excluded/read")
    assert sorted(d["id"] for d in excluded) == ["e1", "e2", "in/e3.txt"]
    assert all(d["metadata"]["flags"] == [{"stage": "read", "reason": "empty_text"}] for d in excluded)
    # the input's other fields are kept in metadata
    assert next(d for d in kept if d["id"] == "doc-0")["metadata"] == {"lang": "en"}


def test_manifest_hashes_and_counts(mixed: dict) -> None:
    root = mixed["root"]
    assert thresher("build", str(mixed["pipeline"]), "--quiet", cwd=root).returncode == 0
    run = root / "out"
    m = json.loads((run / "manifest.json").read_text())
    assert {i["path"] for i in m["inputs"]} == {"in/a.jsonl", "in/b.jsonl.gz", "in/c.jsonl.zst", "in/d.parquet",
                                                 "in/e1.txt", "in/e2.txt", "in/e3.txt", "in/e4.txt"}
    for i in m["inputs"]:
        assert i["sha256"] == sha256_file(root / i["path"])
        assert i["size"] == (root / i["path"]).stat().st_size
    assert m["outputs"], "no data shards listed"
    for o in m["outputs"]:
        assert o["sha256"] == sha256_file(run / o["path"])
        with open_compressed(str(run / o["path"])) as f:
            assert o["docs"] == sum(1 for _ in f)
    assert sum(o["docs"] for o in m["outputs"]) == m["documents"] == len(read_docs(run))
    assert m["merkle_root"] == merkle_root([leaf(o["path"], o["sha256"]) for o in m["outputs"]])
    assert {f["path"] for f in m["files"]} >= {"stats.json", "config.yaml"}
    assert len(m["config_sha256"]) == 64 and m["versions"]["thresher"]


def test_same_output_whatever_the_worker_count(mixed: dict) -> None:
    root = mixed["root"]
    assert thresher("build", str(mixed["pipeline"]), "--quiet", "--workers", "1", "--output", "w1", cwd=root).returncode == 0
    assert thresher("build", str(mixed["pipeline"]), "--quiet", "--workers", "2", "--output", "w2", cwd=root).returncode == 0
    for sub in ("data", "excluded", "quarantine"):
        assert tree_bytes(root / "w1" / sub) == tree_bytes(root / "w2" / sub)


def test_rerun_of_a_finished_run_changes_nothing(mixed: dict) -> None:
    root = mixed["root"]
    assert thresher("build", str(mixed["pipeline"]), "--quiet", cwd=root).returncode == 0
    before = tree_bytes(root / "out" / "data")
    r = thresher("build", str(mixed["pipeline"]), cwd=root)
    assert r.returncode == 0
    assert "task(s) already done" in r.stderr and "to run" not in r.stderr
    assert tree_bytes(root / "out" / "data") == before


def test_large_file_split_into_tasks_reads_every_line(tmp_path: Path) -> None:
    lines = [orjson.dumps(_doc(i)) for i in range(5000)]
    (tmp_path / "big.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    p = write_pipeline(tmp_path / "p.yaml", name="split", input={"paths": ["big.jsonl"], "task_size_mb": 0.05},
                       output="out", workers=2, stages=[])
    r = thresher("build", str(p), "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["tasks"] > 3
    docs = read_docs(tmp_path / "out")
    assert [d["id"] for d in docs] == [f"doc-{i}" for i in range(5000)]  # every line once, in input order


def test_missing_ids_use_true_line_numbers_across_split_tasks(tmp_path: Path) -> None:
    lines = [b'{"text": "line %d of a file without ids"}' % (i + 1) for i in range(3000)]
    (tmp_path / "noid.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    p = write_pipeline(tmp_path / "p.yaml", name="ids", input={"paths": ["noid.jsonl"], "task_size_mb": 0.02},
                       output="out", workers=2, stages=[])
    assert thresher("build", str(p), "--quiet", cwd=tmp_path).returncode == 0
    for d in read_docs(tmp_path / "out"):
        line = int(d["id"].rsplit(":", 1)[1])
        assert d["text"] == f"line {line} of a file without ids"


def test_limit_reads_only_the_first_records(mixed: dict) -> None:
    root = mixed["root"]
    r = thresher("build", str(mixed["pipeline"]), "--quiet", "--limit", "30", "--output", "lim", cwd=root)
    assert r.returncode == 0, r.stderr
    stats = json.loads((root / "lim" / "stats.json").read_text())
    assert stats["records_read"] == 30 and stats["invariant"]["holds"]
