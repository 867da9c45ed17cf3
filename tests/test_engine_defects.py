"""Regression tests for the engine defects of issue 21: each reproduces one defect end to end."""

from __future__ import annotations

import random
from pathlib import Path

import orjson
from conftest import read_docs, thresher, write_pipeline
from tokenizer_fixtures import trained_tokenizer  # noqa: F401

REPEATED = "the same repeated text"


def _jsonl(path: Path, records: list[dict]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def _built(tmp_path: Path, paths: list[str], stages: list[dict], **cfg) -> Path:
    """Write ``p.yaml`` (one worker, output ``out`` unless given) and build it; returns the run folder."""
    cfg = {"output": "out", "workers": 1, **cfg}
    write_pipeline(tmp_path / "p.yaml", name="t", input={"paths": paths}, stages=stages, **cfg)
    r = thresher("build", "p.yaml", "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    return tmp_path / cfg["output"]


def _stats(run: Path) -> dict:
    return orjson.loads((run / "stats.json").read_bytes())


# ---------------------------------------------------------------- b1: shard order by index, not name

def test_global_stage_reads_more_than_1000_shards_back_in_writing_order(tmp_path: Path) -> None:
    """A tiny ``shard_size_mb`` puts every document in its own shard: 1,200 shards in one task, so the
    pass after ``dedup_exact``'s scan must read ``-1000`` after ``-999``, not after ``-100``."""
    _jsonl(tmp_path / "in.jsonl", [{"id": f"d{i}", "text": REPEATED if i % 10 == 0 else f"unique text {i}"}
                                   for i in range(1200)])
    run = _built(tmp_path, ["in.jsonl"], [{"stage": "dedup_exact"}], writer={"shard_size_mb": 0.000001})
    assert len(list((run / "data").glob("00000-*"))) > 1000
    kept, excluded = read_docs(run), read_docs(run, "excluded")
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


# ---------------------------------------------------------------- b3: an input field ``flags`` that is not a flag list

def test_input_field_flags_that_is_not_a_flag_list_is_quarantined_not_a_crash(tmp_path: Path) -> None:
    _jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": "short", "flags": "nsfw"},
                                   {"id": "b", "text": "long enough text here"},
                                   {"id": "c", "text": "tiny", "flags": [{"stage": "old", "reason": "kept_as_is"}]}])
    write_pipeline(tmp_path / "p.yaml", name="b3", input={"paths": ["in.jsonl"]}, output="out", workers=1,
                   stages=[{"stage": "length", "min_words": 3}])
    for _ in range(2):  # and on the rerun
        r = thresher("build", "p.yaml", "--quiet", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
    stats = _stats(tmp_path / "out")
    assert stats["quarantined"] == {"reserved_field": 1} and stats["invariant"]["holds"]
    assert [d["id"] for d in read_docs(tmp_path / "out")] == ["b"]
    (c,) = read_docs(tmp_path / "out", "excluded")
    assert c["metadata"]["flags"] == [{"stage": "old", "reason": "kept_as_is"},
                                      {"stage": "length", "reason": "too_few_words"}]


# ---------------------------------------------------------------- b4: chaining runs through Parquet output

def test_a_run_reading_another_runs_parquet_output_keeps_source_and_flags(tmp_path: Path) -> None:
    _jsonl(tmp_path / "in.jsonl", [{"id": "d1", "text": "one two", "url": "http://x"}])
    write_pipeline(tmp_path / "s1.yaml", name="s1", input={"paths": ["in.jsonl"]}, output="s1", workers=1,
                   writer={"format": "parquet"}, stages=[{"stage": "length", "min_words": 3, "mode": "annotate"}])
    write_pipeline(tmp_path / "s2.yaml", name="s2", input={"paths": ["s1/data/*"]}, output="s2", workers=1,
                   stages=[])
    for name in ("s1", "s2"):
        r = thresher("build", f"{name}.yaml", "--quiet", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
    (doc,) = read_docs(tmp_path / "s2")
    assert doc["source"] == "in.jsonl"
    assert doc["metadata"] == {"url": "http://x", "flags": [{"stage": "length", "reason": "too_few_words"}]}


def test_parquet_output_honours_a_shard_size_below_10000_rows(tmp_path: Path) -> None:
    rng = random.Random(0)
    _jsonl(tmp_path / "in.jsonl", [{"id": f"d{i}", "text": f"{rng.getrandbits(256):064x}"} for i in range(3000)])
    run = _built(tmp_path, ["in.jsonl"], [], writer={"format": "parquet", "shard_size_mb": 0.02})
    shards = sorted((run / "data").glob("*.parquet"))
    assert len(shards) > 5
    assert all(p.stat().st_size < 2 * 0.02 * (1 << 20) for p in shards)


# ---------------------------------------------------------------- b8: tokenize not last fails before any work

def test_tokenize_not_last_is_refused_by_validate_and_before_the_build(
        tmp_path: Path, trained_tokenizer: Path) -> None:  # noqa: F811
    _jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": "some words here"}])
    write_pipeline(tmp_path / "p.yaml", name="b8", input={"paths": ["in.jsonl"]}, output="out", workers=1,
                   stages=[{"stage": "tokenize", "tokenizer": str(trained_tokenizer)}, {"stage": "length", "min_words": 3}])
    for cmd in ("validate", "build"):
        r = thresher(cmd, "p.yaml", cwd=tmp_path)
        assert r.returncode == 2 and "must be the last stage" in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- minor: numbers, byte order marks, emptied text

def test_integers_beyond_64_bits_stay_exact_ids_and_values(tmp_path: Path) -> None:
    (tmp_path / "big.jsonl").write_bytes(b'{"id":18446744073709551616,"text":"first","n":-9223372036854775809}\n'
                                         b'{"id":18446744073709551617,"text":"second"}\n')
    run = _built(tmp_path, ["big.jsonl"], [{"stage": "dedup_exact"}])
    docs = read_docs(run)
    assert [d["id"] for d in docs] == ["18446744073709551616", "18446744073709551617"]
    data = b"".join(p.read_bytes() for p in (run / "data").glob("*"))
    import zstandard

    assert b'"n":-9223372036854775809' in zstandard.ZstdDecompressor().decompressobj().decompress(data)


def test_a_byte_order_mark_opens_the_file_not_its_first_record(tmp_path: Path) -> None:
    (tmp_path / "bom.jsonl").write_bytes(b'\xef\xbb\xbf{"id":"a","text":"first record"}\n{"id":"b","text":"second"}\n')
    (tmp_path / "t.txt").write_bytes(b"\xef\xbb\xbfhello")
    run = _built(tmp_path, ["bom.jsonl", "t.txt"], [])
    assert _stats(run)["quarantined_total"] == 0
    assert [(d["id"], d["text"]) for d in read_docs(run)] == [
        ("a", "first record"), ("b", "second"), ("t.txt", "hello")]


def test_text_that_normalize_empties_is_excluded_with_a_reason(tmp_path: Path) -> None:
    _jsonl(tmp_path / "zw.jsonl", [{"id": "z", "text": "\u200b\u200b \u2060"}, {"id": "k", "text": "kept"}])
    run = _built(tmp_path, ["zw.jsonl"], [{"stage": "normalize"}])
    assert [d["id"] for d in read_docs(run)] == ["k"]
    (row,) = [s for s in _stats(run)["stages"] if s["label"] == "normalize"]
    assert row["removed"] == {"normalized_empty": 1}


# ---------------------------------------------------------------- b2: inputs and the files stages name, by content

def test_an_input_edited_after_a_build_is_refused_on_the_rerun_and_the_manifest_hashes_what_was_read(
        tmp_path: Path) -> None:
    import hashlib

    a = _jsonl(tmp_path / "a.jsonl", [{"id": f"a{i}", "text": f"original text {i}"} for i in range(3)])
    read = hashlib.sha256(a.read_bytes()).hexdigest()
    _jsonl(tmp_path / "b.jsonl", [{"id": "b", "text": "other text"}])
    write_pipeline(tmp_path / "p.yaml", name="b2", input={"paths": ["a.jsonl", "b.jsonl"]}, output="out",
                   workers=1, stages=[{"stage": "normalize"}])
    r = thresher("build", "p.yaml", "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    manifest = orjson.loads((tmp_path / "out" / "manifest.json").read_bytes())
    assert [i["sha256"] for i in manifest["inputs"] if i["path"] == "a.jsonl"] == [read]
    a.write_bytes(a.read_bytes().replace(b"original", b"CHANGED!"))  # same size, same task plan
    r = thresher("build", "p.yaml", "--quiet", cwd=tmp_path)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "input a.jsonl changed since the run started" in r.stderr
    assert orjson.loads((tmp_path / "out" / "manifest.json").read_bytes()) == manifest


def test_an_eval_set_is_identified_by_its_content_not_its_path(tmp_path: Path) -> None:
    from corpus import config

    item = "the quick brown fox jumps over the lazy dog again and again and again today\n"
    for d in ("one", "two"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "eval.txt").write_text(item)
        _jsonl(tmp_path / d / "in.jsonl", [{"id": "a", "text": "some text"}])
        write_pipeline(tmp_path / d / "p.yaml", name="ev", input={"paths": ["in.jsonl"]}, output="out", workers=1,
                       stages=[{"stage": "decontaminate", "eval_sets": {"ev": "eval.txt"}}])
    one, two = (config.load(tmp_path / d / "p.yaml").sha256() for d in ("one", "two"))
    assert one == two  # the same eval set in another folder is the same config
    r = thresher("build", "p.yaml", "--quiet", cwd=tmp_path / "one")
    assert r.returncode == 0, r.stderr
    (tmp_path / "one" / "eval.txt").write_text(item + "another evaluation item that a rerun must not ignore at all\n")
    assert config.load(tmp_path / "one" / "p.yaml").sha256() != one
    r = thresher("build", "p.yaml", "--quiet", cwd=tmp_path / "one")
    assert r.returncode == 2 and "config" in r.stderr, r.stderr


# ---------------------------------------------------------------- b6: a recursive glob never reads a run's output

def test_a_recursive_glob_never_reads_a_runs_own_output(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "a.jsonl").write_bytes(b'{"id":"a","text":"hello world"}\nnot json\n')
    write_pipeline(tmp_path / "p.yaml", name="b6", input={"paths": ["**/*.jsonl"]}, output="out", workers=1,
                   stages=[])
    for out in ("out", "out", "out2"):  # the build, its rerun (a no-op resume), a second run beside it
        r = thresher("build", "p.yaml", "--quiet", "--output", out, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        stats = _stats(tmp_path / out)
        assert (stats["records_read"], stats["quarantined"]) == (2, {"malformed_json": 1})
    write_pipeline(tmp_path / "chain.yaml", name="c", input={"paths": ["out/quarantine/*.jsonl"]}, output="c",
                   workers=1, stages=[])
    r = thresher("build", "chain.yaml", "--quiet", cwd=tmp_path)  # a glob pointing into a run reads it
    assert r.returncode == 0 and _stats(tmp_path / "c")["records_read"] == 1, r.stderr


# ---------------------------------------------------------------- b7: a run's counter counted once, not per worker

def test_eval_items_too_short_does_not_depend_on_the_worker_count(tmp_path: Path) -> None:
    (tmp_path / "eval.txt").write_text("the quick brown fox jumps over the lazy dog again and again and again today\n"
                                       "short one\ntoo short too\n")
    for n in "abcd":
        _jsonl(tmp_path / f"{n}.jsonl", [{"id": f"{n}{i}", "text": f"some text {i}"} for i in range(5)])
    write_pipeline(tmp_path / "p.yaml", name="b7", input={"paths": ["*.jsonl"]}, output="out",
                   stages=[{"stage": "decontaminate", "eval_sets": {"ev": "eval.txt"}}])
    for workers in ("1", "3"):
        r = thresher("build", "p.yaml", "--quiet", "--output", f"o{workers}", "--workers", workers, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        (row,) = [s for s in _stats(tmp_path / f"o{workers}")["stages"] if s["label"] == "decontaminate"]
        assert row["extra"] == {"eval_items_too_short": 2}


# ---------------------------------------------------------------- minor: verify, leftovers

def test_verify_notices_a_file_added_to_excluded_or_a_stage_folder(tmp_path: Path) -> None:
    _jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": "one two three"}, {"id": "b", "text": "one two three"}])
    run = _built(tmp_path, ["in.jsonl"], [{"stage": "dedup_exact"}])
    assert thresher("verify", "out", cwd=tmp_path).returncode == 0
    shard = next((run / "data").glob("*.jsonl.zst"))
    (run / "excluded" / "dedup_exact" / "00099-000.jsonl.zst").write_bytes(shard.read_bytes())
    r = thresher("verify", "out", cwd=tmp_path)
    assert r.returncode == 1 and "excluded/dedup_exact/00099-000.jsonl.zst: file not listed" in r.stdout + r.stderr


def test_a_rerun_removes_temp_files_a_killed_build_left_in_a_stage_folder(tmp_path: Path) -> None:
    _jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": "one two three"}])
    left = _built(tmp_path, ["in.jsonl"], [{"stage": "dedup_exact"}]) / "dedup_exact" / ".ids.json.4242.tmp"
    left.write_bytes(b"half a file")
    r = thresher("build", "p.yaml", "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert not left.exists()
