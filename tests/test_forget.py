"""``thresher forget`` on 1% of a tokenized run: the forgotten texts are in no data or token shard (decoded),
every other document line and token sequence is byte-identical, ``verify`` passes and checks the chain,
the erasure log holds hashes only, and a forget interrupted part-way resumes to the unbroken result."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import orjson
import pytest
from conftest import read_docs, thresher, write_pipeline
from testdata import speech_pieces
from tokenizer_fixtures import read_sequences, trained_tokenizer  # noqa: F401

from corpus.io.jsonl import open_compressed
from corpus.io.writers import list_shards
from corpus.rights.forget import FORGOTTEN
from corpus.rundir import STATS


@pytest.fixture(scope="module")
def built(tmp_path_factory, trained_tokenizer) -> Path:  # noqa: F811
    tmp = tmp_path_factory.mktemp("forget")
    records = [{"id": i, "text": t, "url": f"https://{'a' if n % 2 else 'b'}.speeches.example.org/{i}"}
               for n, (i, t) in enumerate(speech_pieces("inaugural", 1500))]
    (tmp / "in.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    cfg = write_pipeline(tmp / "p.yaml", name="f", output="run", workers=2, stages=[
        {"stage": "normalize"},
        {"stage": "tokenize", "tokenizer": str(trained_tokenizer), "val_fraction": 0.1, "shard_size_mb": 0.05}],
        input={"paths": [str(tmp / "in.jsonl")], "task_size_mb": 0.3})
    r = thresher("build", str(cfg), "--quiet", cwd=tmp)
    assert r.returncode == 0, r.stderr
    return tmp / "run"


def data_lines(run: Path) -> list[bytes]:
    out = []
    for p in list_shards(run / "data"):
        with open_compressed(str(p)) as f:
            out.extend(f)
    return out


def token_sequences(run: Path) -> list[tuple[str, bytes]]:
    out = []
    for d in (run / "tokens", run / "tokens" / "val"):
        for s in orjson.loads((d / "manifest.json").read_bytes())["shards"]:
            seqs, ids = read_sequences(d / s["name"])
            out.extend((i, orjson.dumps(q)) for i, q in zip(ids, seqs, strict=True))
    return out


@pytest.fixture(scope="module")
def forgotten(built, tmp_path_factory) -> tuple[Path, Path, list[dict]]:
    """A copy of the run with 1% of its documents forgotten (``--ids``); the original stays as it was."""
    tmp = tmp_path_factory.mktemp("forgot")
    run = tmp / "run"
    shutil.copytree(built, run)
    docs = read_docs(built)
    gone = docs[::100]
    (tmp / "ids.txt").write_text("".join(d["id"] + "\n" for d in gone))
    r = thresher("forget", str(run), "--ids", str(tmp / "ids.txt"), "--reason", "GDPR Art. 17 request 42")
    assert r.returncode == 0, r.stderr
    return built, run, gone


def test_forgotten_texts_are_gone_and_the_rest_is_byte_identical(forgotten, trained_tokenizer):  # noqa: F811
    from transformers import AutoTokenizer

    before, after, gone = forgotten
    ids = {d["id"] for d in gone}
    assert 0 < len(ids) <= len(read_docs(before)) // 50
    assert data_lines(after) == [ln for ln in data_lines(before) if orjson.loads(ln)["id"] not in ids]
    assert token_sequences(after) == [(i, s) for i, s in token_sequences(before) if i not in ids]
    assert {i for i, _ in token_sequences(before)} & ids  # the forgotten documents had been tokenized
    untouched = [p for p in (before / "tokens").rglob("*.ids") if not ids & set(p.read_text().split("\n"))]
    assert untouched  # only the shards holding a forgotten document were rewritten
    for p in untouched:
        for ext in ("bin", "idx", "ids"):
            q = p.with_suffix(f".{ext}")
            assert q.read_bytes() == (after / q.relative_to(before)).read_bytes()
    hf = AutoTokenizer.from_pretrained(str(trained_tokenizer))
    decoded = [hf.decode(orjson.loads(s)) for _, s in token_sequences(after)]
    stored = [orjson.loads(ln)["text"] for ln in data_lines(after)]
    for d in gone:
        probe = d["text"].strip()[:200]
        assert not any(probe in t for t in stored)
        assert not any(hf.decode(hf(probe, add_special_tokens=False).input_ids) in t for t in decoded)
    m = orjson.loads((after / "manifest.json").read_bytes())
    assert m["documents"] == len(read_docs(before)) - len(ids) == len(read_docs(after))
    assert m["previous"]["merkle_root"] == orjson.loads((before / "manifest.json").read_bytes())["merkle_root"]
    tm = orjson.loads((after / "tokens" / "manifest.json").read_bytes())
    assert tm["totals"]["sequences"] == sum(s["sequences"] for s in tm["shards"])


def test_stats_move_the_forgotten_documents_out_of_kept(forgotten):
    before, after, gone = forgotten
    old, new = (orjson.loads((r / STATS).read_bytes()) for r in (before, after))
    assert new["kept"] == old["kept"] - len(gone) == len(read_docs(after))
    assert new[FORGOTTEN] == {"erasures": 1, "documents": len(gone), "characters": sum(len(d["text"]) for d in gone)}
    assert new["records_read"] == (new["kept"] + new["excluded_total"] + new["quarantined_total"]
                                   + new["skipped_total"] + new[FORGOTTEN]["documents"])
    assert new["invariant"]["rule"].endswith("+ forgotten.documents") and new["invariant"]["holds"]


def test_verify_passes_and_checks_the_chain(forgotten, tmp_path):
    _, run, _ = forgotten
    r = thresher("verify", str(run))
    assert r.returncode == 0, r.stderr
    broken = tmp_path / "run"
    shutil.copytree(run, broken)
    log = broken / "erasures.jsonl"
    entry = orjson.loads(log.read_bytes())
    log.write_bytes(orjson.dumps({**entry, "previous_root": "0" * 64}) + b"\n")
    r = thresher("verify", str(broken))
    assert r.returncode == 1 and "erasures.jsonl" in r.stderr


def test_erasure_log_holds_hashes_only(forgotten):
    _, run, gone = forgotten
    raw = (run / "erasures.jsonl").read_bytes()
    entry = orjson.loads(raw)
    for d in gone:
        assert d["id"].encode() not in raw and d["metadata"]["url"].encode() not in raw
        assert d["text"][:30].encode() not in raw
        assert hashlib.sha256(d["id"].encode()).hexdigest() in entry["ids_sha256"]
    assert entry["reason"] == "GDPR Art. 17 request 42" and entry["counts"]["documents"] == len(gone)
    assert b"speeches.example.org" not in raw and "time" in entry


def test_report_has_an_erasures_section(forgotten, tmp_path):
    before, after, _ = forgotten
    for run, expect in ((after, "GDPR Art. 17 request 42"), (before, "No erasures")):
        out = tmp_path / run.parent.name
        r = thresher("report", str(run), "--format", "md", "--output", str(out), "--workers", "1")
        assert r.returncode == 0, r.stderr
        md = (out / "report.md").read_text()
        assert expect in md.split("Erasures\n", 1)[1].split("\n#", 1)[0]


def test_report_after_forget_counts_the_forgotten_and_its_invariant_holds(forgotten, tmp_path):
    """The overview names the forgotten documents and the invariant with them; the per-source rows (read from
    the shards, where a forgotten document no longer is) add up with them; a run nothing was erased from
    shows neither."""
    from corpus.report import write_reports

    before, after, gone = forgotten
    for run in (before, after):
        write_reports(run, ["md", "json"], tmp_path / run.parent.name, workers=1)
    f = orjson.loads((tmp_path / after.parent.name / "report.json").read_bytes())
    o, w = f["overview"], f["waterfall"]
    assert o["documents_forgotten"] == w["documents_forgotten"] == len(gone)
    assert o["characters_forgotten"] == sum(len(d["text"]) for d in gone)
    assert o["invariant_holds"] and o["records_read"] == (o["documents_kept"] + o["documents_excluded"]
                                                          + o["records_quarantined"] + o["records_skipped"]
                                                          + o["documents_forgotten"])
    assert o["documents_kept"] == len(read_docs(after)) == sum(s["documents_kept"] for s in w["per_source"])
    assert sum(s["records_read"] for s in w["per_source"]) + len(gone) == w["records_read"]
    md = (tmp_path / after.parent.name / "report.md").read_text()
    assert "holds: records read = kept + excluded + quarantined + skipped + forgotten" in md
    assert f"{len(gone)} documents, {o['characters_forgotten']:,} characters" in md
    assert f"{len(gone)} document(s) were forgotten since the build" in md
    card = (tmp_path / after.parent.name / "dataset_card.md").read_text()
    assert f"{o['documents_kept']:,} documents kept ({len(gone)} forgotten since by `thresher forget`)." in card
    plain = orjson.loads((tmp_path / before.parent.name / "report.json").read_bytes())
    assert "documents_forgotten" not in plain["overview"] and "documents_forgotten" not in plain["waterfall"]
    assert "+ forgotten" not in (tmp_path / before.parent.name / "report.md").read_text()


def test_contains_follows_the_erasure(forgotten, tmp_path):
    before, after, gone = forgotten
    assert thresher("contains", str(before), "--id", gone[0]["id"]).returncode == 0
    assert thresher("contains", str(after), "--id", gone[0]["id"]).returncode == 1


def test_interrupted_forget_resumes_to_the_same_result(forgotten, tmp_path, monkeypatch):
    from corpus.rights import forget as fg

    before, after, gone = forgotten
    run = tmp_path / "run"
    shutil.copytree(before, run)
    (tmp_path / "ids.txt").write_text("".join(d["id"] + "\n" for d in gone))
    real, calls = fg._install_file, []

    def dies_on_the_third(staged: Path, target: Path, **kw) -> None:
        calls.append(target)
        if len(calls) == 3:
            raise KeyboardInterrupt
        real(staged, target, **kw)

    monkeypatch.setattr(fg, "_install_file", dies_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        fg.forget(run, fg.Request("ids", [d["id"] for d in gone], "GDPR Art. 17 request 42"))
    monkeypatch.undo()
    r = thresher("forget", str(run), "--ids", str(tmp_path / "ids.txt"), "--reason", "GDPR Art. 17 request 42")
    assert r.returncode == 0, r.stderr
    assert data_lines(run) == data_lines(after) and token_sequences(run) == token_sequences(after)
    for name in ("manifest.json", "erasures.jsonl"):
        a, b = orjson.loads((run / name).read_bytes()), orjson.loads((after / name).read_bytes())
        assert a["merkle_root"] == b["merkle_root"]
    assert not (run / ".state" / "forget").exists()
    assert thresher("verify", str(run)).returncode == 0
    assert orjson.loads((run / STATS).read_bytes()) == orjson.loads((after / STATS).read_bytes())


def test_a_kill_after_the_stats_counts_the_erasure_once(forgotten, tmp_path, monkeypatch):
    from corpus.rights import forget as fg

    before, after, gone = forgotten
    run = tmp_path / "run"
    shutil.copytree(before, run)

    def dies(*args) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(fg, "_manifest", dies)  # stats.json is written, the manifest not yet
    request = fg.Request("ids", [d["id"] for d in gone], "GDPR Art. 17 request 42")
    with pytest.raises(KeyboardInterrupt):
        fg.forget(run, request)
    monkeypatch.undo()
    fg.forget(run, request)
    assert orjson.loads((run / STATS).read_bytes()) == orjson.loads((after / STATS).read_bytes())
    assert thresher("verify", str(run)).returncode == 0


def test_selectors_and_mistakes(built, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(built, run)
    (tmp_path / "domains.txt").write_text("a.speeches.example.org\n")
    n_before = len(read_docs(run))
    r = thresher("forget", str(run), "--domains", str(tmp_path / "domains.txt"), "--reason", "publisher opt-out")
    assert r.returncode == 0, r.stderr
    left = read_docs(run)
    assert left and all("//b." in d["metadata"]["url"] for d in left) and len(left) < n_before
    r = thresher("forget", str(run), "--match", "(?i)constitution", "--reason", "test")
    assert r.returncode == 0 and not any("constitution" in d["text"].lower() for d in read_docs(run))
    assert thresher("verify", str(run)).returncode == 0
    assert len(orjson.loads((run / "manifest.json").read_bytes())["previous"]["path"]) > 0
    assert thresher("forget", str(run), "--match", "x").returncode == 2  # no --reason
    assert thresher("forget", str(run), "--match", "(", "--reason", "r").returncode == 2
    assert thresher("forget", str(run), "--ids", str(tmp_path / "none.txt"), "--reason", "r").returncode == 2


def test_impacted_and_checkpoints_trained_before_the_erasure(built, trained_tokenizer, tmp_path):  # noqa: F811
    import os
    import subprocess
    import sys

    import yaml

    run = tmp_path / "run"
    shutil.copytree(built, run)
    out = tmp_path / "train"
    cfg = {"task": "pretrain", "tokenizer": str(trained_tokenizer),
           "model": {"arch": "llama", "hidden_size": 32, "num_layers": 1, "num_heads": 4, "intermediate_size": 64},
           "data": {"tokens": str(run / "tokens"), "seq_len": 32},
           "train": {"steps": 2, "micro_batch_size": 2, "grad_accum": 1, "lr": 0.01, "warmup_steps": 1, "seed": 0},
           "checkpoint": {"dir": str(out / "ckpt"), "every": 2, "keep": 2}, "eval": {"every": 0},
           "output": {"dir": str(out)}}
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(cfg))
    r = subprocess.run([sys.executable, "-m", "trainer", str(tmp_path / "train.yaml")], capture_output=True, text=True,
                       timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-2000:]
    ckpt = out / "ckpt" / "step-000002"
    batches = {step: orjson.loads(thresher("trace", str(ckpt), "--step", str(step), "--json").stdout)
               for step in (1, 2)}
    doc_id = batches[2]["windows"][0]["pieces"][0]["doc_id"]  # a document step 2 trained on
    held = [step for step, b in batches.items() if any(p["doc_id"] == doc_id for w in b["windows"] for p in w["pieces"])]
    r = thresher("impacted", str(run), "--id", doc_id, "--checkpoints", str(out), "--json")
    assert r.returncode == 0, r.stderr
    found = {Path(c["path"]).name: c for c in orjson.loads(r.stdout)}
    assert found["step-000002"]["steps"] == held and 2 in held
    assert found["hf"]["steps"] is None and "export" in found["hf"]["note"]  # an export has no order to replay
    never = next(d["id"] for d in read_docs(run)
                 if not any(p["doc_id"] == d["id"] for b in batches.values() for w in b["windows"] for p in w["pieces"]))
    r = thresher("impacted", str(run), "--id", never, "--checkpoints", str(out))
    assert r.returncode == 0 and f"steps with {never}: none" in r.stdout

    (tmp_path / "ids.txt").write_text(doc_id + "\n")
    r = thresher("forget", str(run), "--ids", str(tmp_path / "ids.txt"), "--reason", "r", "--checkpoints", str(out))
    assert r.returncode == 0, r.stderr
    assert "affected" in r.stdout and "step-000002" in r.stdout
    entry = orjson.loads((run / "erasures.jsonl").read_bytes())
    assert [(Path(c["path"]).relative_to(out.resolve()).as_posix(), c["step"]) for c in entry["affected_checkpoints"]] == [
        ("ckpt/step-000002", 2), ("hf", 2)]  # the checkpoint and the Hugging Face export beside it
    r = thresher("impacted", str(run), "--id", doc_id, "--checkpoints", str(out), "--json")
    assert r.returncode == 0, r.stderr  # replayed from the layout before the erasure, by the id's hash
    assert {Path(c["path"]).name: c["steps"] for c in orjson.loads(r.stdout)}["step-000002"] == held
    r = thresher("report", str(run), "--format", "md", "--output", str(tmp_path / "rep"), "--workers", "1")
    assert r.returncode == 0 and f"{out.resolve()}/hf (step 2)" in (tmp_path / "rep" / "report.md").read_text()
    assert thresher("forget", str(run), "--match", "x", "--reason", "r", "--checkpoints",
                    str(tmp_path / "nowhere")).returncode == 2


def test_forget_rewrites_parquet_shards(tmp_path):
    import pyarrow.parquet as pq

    records = [{"id": i, "text": t} for i, t in speech_pieces("state_union", 2000, files=6)]
    (tmp_path / "in.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    cfg = write_pipeline(tmp_path / "p.yaml", name="pq", output="run", workers=1, stages=[{"stage": "normalize"}],
                         input={"paths": [str(tmp_path / "in.jsonl")]}, writer={"format": "parquet", "shard_size_mb": 0.05})
    assert thresher("build", str(cfg), "--quiet", cwd=tmp_path).returncode == 0
    run = tmp_path / "run"

    def rows() -> list[dict]:
        return [r for p in list_shards(run / "data") for r in pq.read_table(p).to_pylist()]

    before = rows()
    assert len(list_shards(run / "data")) > 1
    gone = {r["id"] for r in before if "constitution" in r["text"].lower()}
    assert 0 < len(gone) < len(before)
    r = thresher("forget", str(run), "--match", "(?i)constitution", "--reason", "test")
    assert r.returncode == 0, r.stderr
    assert rows() == [r for r in before if r["id"] not in gone]  # every other row holds the same values
    assert thresher("verify", str(run)).returncode == 0
    stats = orjson.loads((run / STATS).read_bytes())
    assert stats["kept"] == len(before) - len(gone) and stats[FORGOTTEN]["documents"] == len(gone)
    kept = next(r for r in before if r["id"] not in gone)
    assert thresher("contains", str(run), "--id", sorted(gone)[0]).returncode == 1
    assert thresher("contains", str(run), "--id", kept["id"]).returncode == 0
    (tmp_path / "kept.txt").write_text(kept["text"])
    assert thresher("contains", str(run), "--text", str(tmp_path / "kept.txt")).returncode == 0


def test_forget_rewrites_the_saved_report(built, tmp_path):
    """A run's saved report (RUN/report/) is rewritten by forget in the formats it held: its Erasures section
    names the request and its counts no longer include the forgotten document."""
    run = tmp_path / "run"
    shutil.copytree(built, run)
    r = thresher("report", str(run), "--format", "md,json", "--workers", "1")
    assert r.returncode == 0, r.stderr
    report = run / "report"
    kept_before = orjson.loads((report / "report.json").read_bytes())["overview"]["documents_kept"]
    (tmp_path / "ids.txt").write_text(read_docs(run)[0]["id"] + "\n")
    r = thresher("forget", str(run), "--ids", str(tmp_path / "ids.txt"), "--reason", "request 7")
    assert r.returncode == 0, r.stderr
    assert "report rewritten" in r.stdout
    assert "request 7" in (report / "report.md").read_text().split("Erasures\n", 1)[1].split("\n#", 1)[0]
    assert orjson.loads((report / "report.json").read_bytes())["overview"]["documents_kept"] == kept_before - 1
    assert not (report / "report.html").exists()  # only the formats it held
