"""Inputs as people have them: a folder, ``.json`` arrays, CSV/TSV with a text column, and ids that
repeat (issue 19 part 5). Every record still ends kept, excluded or quarantined."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import read_docs, thresher, write_pipeline
from testdata import SENTENCES


def _rows(start: int, n: int) -> list[dict]:
    lines = SENTENCES.read_text(encoding="utf-8").splitlines()[start:start + n]
    return [{"id": f"s{start + i}", **json.loads(line)} for i, line in enumerate(lines)]


def _csv_field(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _build(root: Path, paths: list[str], **extra) -> dict:
    p = write_pipeline(root / "p.yaml", name="forms", input={"paths": paths}, output="out", workers=2,
                       stages=[{"stage": "normalize"}], **extra)
    r = thresher("build", str(p), "--quiet", cwd=root)
    assert r.returncode == 0, r.stderr
    stats = json.loads((root / "out" / "stats.json").read_text())
    assert stats["invariant"]["holds"], stats["invariant"]
    return stats


def test_a_folder_means_every_supported_file_below_it_sorted_hidden_skipped(tmp_path: Path) -> None:
    corpus = tmp_path / "texts"
    (corpus / "b" / "deeper").mkdir(parents=True)
    (corpus / ".git").mkdir()
    rows = _rows(0, 12)
    (corpus / "z.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:3]))
    (corpus / "b" / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[3:6]))
    (corpus / "b" / "deeper" / "c.json").write_text(json.dumps(rows[6:9]))
    (corpus / "b" / "t.txt").write_text(rows[9]["text"])
    (corpus / ".hidden.jsonl").write_text(json.dumps(rows[10]) + "\n")
    (corpus / ".git" / "x.jsonl").write_text(json.dumps(rows[11]) + "\n")
    (corpus / "README").write_text("not an input")
    (corpus / "p.yaml").write_text("name: not an input\n")
    stats = _build(tmp_path, ["texts"])
    assert stats["records_read"] == 10
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert [i["path"] for i in manifest["inputs"]] == [
        "texts/b/a.jsonl", "texts/b/deeper/c.json", "texts/b/t.txt", "texts/z.jsonl"]
    # a run inside the folder (here: a second build whose output lies in it) is never read as input
    p = write_pipeline(tmp_path / "q.yaml", name="inside", input={"paths": ["texts"]}, output="texts/run",
                       workers=1, stages=[])
    for _ in range(2):
        r = thresher("build", str(p), "--quiet", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert json.loads((tmp_path / "texts" / "run" / "stats.json").read_text())["records_read"] == 10


def test_json_arrays_and_csv_tsv_with_a_text_column(tmp_path: Path) -> None:
    rows = _rows(20, 9)
    (tmp_path / "a.json").write_text(json.dumps(rows[:3] + [["not", "an", "object"]]))
    (tmp_path / "lines.json").write_text("".join(json.dumps(r) + "\n" for r in rows[3:5]))  # JSON Lines as .json
    (tmp_path / "broken.json").write_text('[{"id": "x", "text": "cut')
    csv_lines = ["id,text,lang"] + [f'{r["id"]},{_csv_field(r["text"])},{r["lang"]}' for r in rows[5:7]]
    csv_lines += ['multi,"first line\nsecond line, quoted",en', "short,row"]
    (tmp_path / "b.csv").write_text("\n".join(csv_lines) + "\n")
    (tmp_path / "c.tsv").write_bytes(("id\ttext\n" + f'{rows[7]["id"]}\t{rows[7]["text"]}\n').encode()
                                     + b"badbytes\tcaf\xe9\n")
    stats = _build(tmp_path, ["a.json", "lines.json", "broken.json", "b.csv", "c.tsv"])
    assert stats["quarantined"] == {"malformed_csv": 1, "malformed_json": 1, "not_an_object": 1, "invalid_utf8": 1}
    docs = {d["id"]: d for d in read_docs(tmp_path / "out")}
    assert set(docs) == {r["id"] for r in rows[:8]} | {"multi"}
    assert docs["multi"]["text"] == "first line\nsecond line, quoted" and docs["multi"]["metadata"]["lang"] == "en"
    assert docs[rows[0]["id"]]["metadata"]["lang"] == rows[0]["lang"]
    entries = [json.loads(x) for p in (tmp_path / "out" / "quarantine").glob("*.jsonl") for x in p.read_text().splitlines()]
    where = {(e["file"], e["line"]) for e in entries}
    assert where == {("a.json", 4), ("broken.json", 1), ("b.csv", 6), ("c.tsv", 3)}


@pytest.mark.parametrize("policy,ids,quarantined", [
    ("suffix", ["dup", "s1", "dup#3", "dup#2", "dup#4"], 0),  # a rename never takes an id the input spells
    ("keep", ["dup", "s1", "dup", "dup#2", "dup"], 0),
    ("quarantine", ["dup", "s1", "dup#2"], 2),
])
def test_duplicate_ids_are_counted_per_source_and_handled_as_configured(
        tmp_path: Path, policy: str, ids: list[str], quarantined: int) -> None:
    rows = _rows(40, 5)
    for r, new in zip(rows, ["dup", "s1", "dup", "dup#2", "dup"], strict=True):
        r["id"] = new
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    extra = {} if policy == "suffix" else {"reader": {"duplicate_ids": policy}}
    stats = _build(tmp_path, ["in.jsonl"], **extra)
    assert [d["id"] for d in read_docs(tmp_path / "out")] == ids
    assert stats["duplicate_ids"] == {"in.jsonl": 2}
    assert stats["quarantined"].get("duplicate_id", 0) == quarantined
    report = thresher("report", str(tmp_path / "out"), "--format", "md")
    assert report.returncode == 0, report.stderr
    md = (tmp_path / "out" / "report" / "report.md").read_text()
    assert "records with an id seen before" in md and "in.jsonl=" in md


def _dup_inputs(root: Path) -> None:
    """``dup`` in two files and in two tasks of one large file (its first and last lines), ``twice``
    twice within the large file's first task; the large file splits into several tasks at 0.002 MB."""
    big = _rows(0, 24)
    big[0]["id"] = big[-1]["id"] = "dup"
    big[1]["id"] = big[2]["id"] = "twice"
    big[5]["text"] = " "  # excluded by the reader (empty_text); its id is still logged
    (root / "big.jsonl").write_text("".join(json.dumps(r) + "\n" for r in big))
    small = _rows(30, 3)
    small[1]["id"] = "dup"
    (root / "small.jsonl").write_text("".join(json.dumps(r) + "\n" for r in small))


def _dup_build(root: Path, out: str, workers: int, policy: str, stages: list[dict]) -> dict:
    p = write_pipeline(root / f"{out}.yaml", name="dups", input={"paths": ["big.jsonl", "small.jsonl"],
                                                                  "task_size_mb": 0.002},
                       output=out, workers=workers, reader={"duplicate_ids": policy}, stages=stages)
    r = thresher("build", str(p), "--quiet", cwd=root)
    assert r.returncode == 0, r.stderr
    stats = json.loads((root / out / "stats.json").read_text())
    assert stats["invariant"]["holds"], stats["invariant"]
    return stats


def _data_bytes(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted((run / "data").iterdir())}


@pytest.mark.parametrize("policy,expected", [
    ("suffix", {"dup": 1, "dup#2": 1, "dup#3": 1, "twice": 1, "twice#2": 1}),
    ("keep", {"dup": 3, "twice": 2}),
    ("quarantine", {"dup": 1, "twice": 1}),
])
def test_duplicate_ids_across_files_and_tasks_are_decided_in_input_order(
        tmp_path: Path, policy: str, expected: dict[str, int]) -> None:
    _dup_inputs(tmp_path)
    stages = [{"stage": "normalize"}, {"stage": "dedup_exact"}]  # a multi-pass pipeline
    one = _dup_build(tmp_path, "one", 1, policy, stages)
    assert one["tasks"] >= 3  # the large file is two tasks or more
    assert one["duplicate_ids"] == {"big.jsonl": 2, "small.jsonl": 1}
    assert one["quarantined"].get("duplicate_id", 0) == (3 if policy == "quarantine" else 0)
    docs = read_docs(tmp_path / "one")
    ids = [d["id"] for d in docs]
    assert {i: ids.count(i) for i in set(ids) if i.startswith(("dup", "twice"))} == expected
    if policy == "suffix":  # in input order: the large file's first line, its last, then the small file
        assert [i for i in ids if i.startswith("dup")] == ["dup", "dup#2", "dup#3"]
        assert next(d for d in docs if d["id"] == "dup#3")["source"] == "small.jsonl"
        assert len(set(ids)) == len(ids)
    two = _dup_build(tmp_path, "two", 2, policy, stages)
    assert _data_bytes(tmp_path / "one") == _data_bytes(tmp_path / "two")
    assert one["duplicate_ids"] == two["duplicate_ids"] and one["quarantined"] == two["quarantined"]


def test_duplicate_ids_do_not_depend_on_task_size_and_resume_after_a_kill(tmp_path: Path) -> None:
    from corpus.engine import duplicate_ids

    _dup_inputs(tmp_path)
    stats = _dup_build(tmp_path, "split", 2, "suffix", [{"stage": "normalize"}])
    p = write_pipeline(tmp_path / "whole.yaml", name="dups", input={"paths": ["big.jsonl", "small.jsonl"]},
                       output="whole", workers=1, stages=[{"stage": "normalize"}])
    assert thresher("build", str(p), "--quiet", cwd=tmp_path).returncode == 0
    by_id = lambda run: sorted((d["id"], d["text"]) for d in read_docs(run))  # noqa: E731
    assert by_id(tmp_path / "split") == by_id(tmp_path / "whole")
    # killed after the ids were ranked, before a task's read pass was redone with its repeats
    run = tmp_path / "split"
    before = _data_bytes(run)
    settled = json.loads((run / ".state" / duplicate_ids.SETTLED).read_text())
    for task in settled["repeats"]:
        marker = run / ".state" / "pass-0" / f"{task}.json"
        entry = json.loads(marker.read_text())
        del entry[duplicate_ids.SETTLED_KEY]
        marker.write_text(json.dumps(entry))
        for shard in (run / "data").glob(f"{task}-*"):
            shard.write_bytes(b"stale")
    (run / "stats.json").unlink()
    again = _dup_build(tmp_path, "split", 2, "suffix", [{"stage": "normalize"}])
    assert _data_bytes(run) == before and again["duplicate_ids"] == stats["duplicate_ids"]


def test_an_unknown_duplicate_ids_policy_is_a_one_line_mistake(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text('{"id": "a", "text": "words"}\n')
    p = write_pipeline(tmp_path / "p.yaml", name="x", input={"paths": ["in.jsonl"]}, output="out",
                       reader={"duplicate_ids": "rename"}, stages=[])
    r = thresher("validate", str(p), cwd=tmp_path)
    assert r.returncode == 2 and "reader.duplicate_ids must be one of suffix, keep, quarantine" in r.stderr
