"""Nothing lost, nothing escapes: bad records in multi-pass pipelines, stages that raise on one
document, documents with no JSON form. Every record ends kept, excluded or quarantined, and the
quarantine outlives every pass."""

from __future__ import annotations

import json
from pathlib import Path

import faulty_stage  # noqa: F401 - registers test_fault
import pytest
from conftest import read_docs, thresher, write_pipeline
from testdata import SENTENCES

from corpus import cli, config
from corpus.engine import build

DEEP = 500  # orjson writes at most 254 levels


def _sentences(n: int) -> list[dict]:
    rows = [json.loads(line) for line in SENTENCES.read_text(encoding="utf-8").splitlines()[:n]]
    return [{"id": f"s{i}", **r} for i, r in enumerate(rows)]


def _hostile_input(path: Path, n: int = 60, boom: int = 0) -> dict[str, int]:
    """Real sentences with bad records among them; returns the line number of each bad one."""
    lines = [json.dumps(r) for r in _sentences(n)]
    bad = {}
    lines.insert(3, '{"text": "cut')
    lines.insert(10, '{"id": "no-text", "body": "x"}')
    lines.insert(20, '{"id": "deep", "text": "Metadata nested far too deep to write.", "m": '
                 + "[" * DEEP + "]" * DEEP + "}")
    for i in range(boom):
        lines.insert(30 + i, json.dumps({"id": f"boom{i}", "text": f"BOOM number {i} in a sentence."}))
    lines.append(lines[5])  # an exact duplicate, for dedup_exact to remove
    for i, line in enumerate(lines, start=1):
        if '"cut' in line:
            bad["malformed"] = i
        elif '"deep"' in line:
            bad["deep"] = i
    path.write_text("\n".join(lines) + "\n")
    return bad


def _quarantine(run: Path) -> list[dict]:
    return [json.loads(line) for p in sorted((run / "quarantine").glob("*.jsonl"))
            for line in p.read_text().splitlines()]


def test_quarantine_survives_every_pass_and_verify_counts_it(tmp_path: Path) -> None:
    bad = _hostile_input(tmp_path / "in.jsonl")
    p = write_pipeline(tmp_path / "p.yaml", name="hostile", input={"paths": ["in.jsonl"]}, output="out", workers=2,
                       stages=[{"stage": "normalize"}, {"stage": "dedup_exact"}, {"stage": "length", "min_words": 1}])
    r = thresher("build", str(p), "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    run = tmp_path / "out"
    stats = json.loads((run / "stats.json").read_text())
    entries = _quarantine(run)
    assert stats["invariant"]["holds"], stats["invariant"]
    assert stats["quarantined"] == {"malformed_json": 1, "missing_text": 1, "unserialisable": 1}
    assert len(entries) == stats["quarantined_total"] == 3
    deep = next(e for e in entries if e.get("id") == "deep")
    assert deep["line"] == bad["deep"] and deep["file"] == "in.jsonl"
    assert deep["step"] == "write .work/dedup_exact" and "Recursion" in deep["error"]
    assert "nested far too deep" not in json.dumps(deep)
    manifest = json.loads((run / "manifest.json").read_text())
    listed = {f["path"]: f["sha256"] for f in manifest["files"]}
    assert "quarantine/00000-quarantine.jsonl" in listed
    assert thresher("verify", str(run)).returncode == 0

    # a quarantine file nobody listed, or a quarantine that lost an entry, is a failed verification
    (run / "quarantine" / "00001-quarantine.jsonl").write_text(json.dumps(entries[0]) + "\n")
    r = thresher("verify", str(run))
    assert r.returncode == 1 and "quarantine/00001-quarantine.jsonl: quarantine file not listed" in r.stdout + r.stderr
    (run / "quarantine" / "00001-quarantine.jsonl").unlink()
    q = run / "quarantine" / "00000-quarantine.jsonl"
    q.write_text("\n".join(q.read_text().splitlines()[:-1]) + "\n")
    r = thresher("verify", str(run))
    assert r.returncode == 1 and "2 entries, stats.json counts 3" in r.stdout + r.stderr


def _load(tmp_path: Path, **over) -> config.PipelineConfig:
    spec = {"name": "explode", "input": {"paths": ["in.jsonl"]}, "output": "out", "workers": 1,
            "stages": [{"stage": "normalize"}, {"stage": "dedup_exact"}, {"stage": "test_fault", "label": "boom"}],
            **over}
    return config.load(write_pipeline(tmp_path / "p.yaml", **spec))


def test_a_stage_that_raises_on_one_document_costs_that_document_only(tmp_path: Path) -> None:
    _hostile_input(tmp_path / "in.jsonl", n=100, boom=3)
    stats = build.run(_load(tmp_path, max_error_rate=0.05), quiet=True)
    run = tmp_path / "out"
    assert stats["invariant"]["holds"], stats["invariant"]
    assert stats["quarantined"]["stage_error"] == 3
    boom = next(s for s in stats["stages"] if s["label"] == "boom")
    assert boom["quarantined"] == {"stage_error": 3}
    assert boom["docs_in"] == boom["docs_out"] + 3
    errors = [e for e in _quarantine(run) if e["error"].startswith("stage_error")]
    assert sorted(e["id"] for e in errors) == ["boom0", "boom1", "boom2"]
    assert all(e["stage"] == "boom" and e["exception"] == "ValueError" for e in errors)
    assert "BOOM" not in (run / "quarantine" / "00000-pass1-quarantine.jsonl").read_text()  # never the text
    assert len(_quarantine(run)) == stats["quarantined_total"]
    kept_ids = {d["id"] for d in read_docs(run)}
    assert not kept_ids & {"boom0", "boom1", "boom2"} and "s50" in kept_ids  # documents after a failure go on


def test_too_many_stage_errors_stop_the_build_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _hostile_input(tmp_path / "in.jsonl", n=100, boom=3)
    _load(tmp_path)  # writes p.yaml with the default max_error_rate (1%)
    assert cli.main(["build", str(tmp_path / "p.yaml"), "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert "stages failed on 3 of 107 records" in err and "boom 3" in err and "max_error_rate 1.0%" in err
    # raising the budget lets the same run go on (it does not change what the output is)
    _load(tmp_path, max_error_rate=0.05)
    assert cli.main(["build", str(tmp_path / "p.yaml"), "--quiet"]) == 0


def test_a_global_stage_whose_scan_raises_on_a_document_quarantines_it(tmp_path: Path) -> None:
    """A scan cannot go on past a document it raised on; the task's pass is redone without it, so the
    document is quarantined as ``stage_error`` and every other document reaches the next pass."""
    _hostile_input(tmp_path / "in.jsonl", n=100, boom=2)
    stages = [{"stage": "normalize"}, {"stage": "test_fault_scan", "label": "scanner"}, {"stage": "length", "min_words": 1}]
    stats = build.run(_load(tmp_path, stages=stages, max_error_rate=0.05), quiet=True)
    run = tmp_path / "out"
    assert stats["invariant"]["holds"], stats["invariant"]
    assert stats["quarantined"]["stage_error"] == 2
    errors = [e for e in _quarantine(run) if e["error"].startswith("stage_error")]
    assert sorted(e["id"] for e in errors) == ["boom0", "boom1"]
    assert all(e["stage"] == "scanner" and e["exception"] == "ValueError" for e in errors)
    assert "BOOM" not in json.dumps(errors)
    kept_ids = {d["id"] for d in read_docs(run)}
    assert not kept_ids & {"boom0", "boom1"} and "s50" in kept_ids
    assert len(_quarantine(run)) == stats["quarantined_total"]


def test_a_global_stage_whose_scan_raises_after_its_documents_stops_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _hostile_input(tmp_path / "in.jsonl", n=20)
    _load(tmp_path, stages=[{"stage": "normalize"}, {"stage": "test_fault_scan", "at_end": True}])
    assert cli.main(["build", str(tmp_path / "p.yaml"), "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert "stage test_fault_scan failed (ValueError) after scanning task 00000's documents" in err


def test_every_quarantine_code_is_documented() -> None:
    from conftest import REPO

    from corpus.io import raw

    doc = (REPO / "docs" / "run-directory.md").read_text(encoding="utf-8")
    table = doc[doc.index("## Quarantine"):]
    codes = {code for _, code in raw._CODES} | {raw.error_code("anything else")}
    assert codes >= {"stage_error", "unserialisable", "duplicate_id", "malformed_csv", "unreadable_record"}
    for code in codes:
        assert f"| `{code}` |" in table, code


def test_what_already_held_still_holds(tmp_path: Path) -> None:
    """Binary files, invalid UTF-8, trailing garbage, arrays and strings for objects, truncated gzip, a
    20 MB one-line document, 300 tiny files and lone surrogates: each accounted for, with a reason."""
    import gzip
    import random

    inp = tmp_path / "in"
    (inp / "tiny").mkdir(parents=True)
    rows = _sentences(300)
    for i, r in enumerate(rows):
        (inp / "tiny" / f"{i:03d}.txt").write_text(r["text"])
    (inp / "binary.jsonl").write_bytes(random.Random(0).randbytes(3000).replace(b"\n", b"\x00") + b"\n")
    (inp / "odd.jsonl").write_text('{"id": "g", "text": "ok words"} trailing\n[1, 2]\n"a string"\n'
                                   '{"id": "lone", "text": "a \\ud800 surrogate"}\n{"id": "fine", "text": "kept"}\n')
    body = b"".join(json.dumps({"id": f"z{i}", "text": r["text"]}).encode() + b"\n"
                    for i, r in enumerate(_sentences(600)[300:]))
    gz = gzip.compress(body)
    (inp / "cut.jsonl.gz").write_bytes(gz[: len(gz) * 2 // 3])
    (inp / "big.jsonl").write_text(json.dumps({"id": "big", "text": "word " * 4_000_001}) + "\n")  # 20 MB
    p = write_pipeline(tmp_path / "p.yaml", name="held", input={"paths": ["in"]}, output="out", workers=2,
                       stages=[{"stage": "normalize"}, {"stage": "dedup_exact"}])
    r = thresher("build", str(p), "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    run = tmp_path / "out"
    stats = json.loads((run / "stats.json").read_text())
    assert stats["invariant"]["holds"], stats["invariant"]
    q = stats["quarantined"]
    assert q["invalid_utf8"] == 1 and q["not_an_object"] == 2 and q["truncated_stream"] == 1
    assert q["malformed_json"] == 2  # trailing garbage; a lone surrogate is not valid JSON text
    assert stats["excluded"]["read"] == 1  # the 20 MB document: doc_too_large
    assert len(_quarantine(run)) == stats["quarantined_total"]
    kept = {d["id"] for d in read_docs(run)}
    assert "fine" in kept and sum(1 for k in kept if k.startswith("in/tiny/")) >= 290  # a few tiny ones repeat
    assert thresher("verify", str(run)).returncode == 0
