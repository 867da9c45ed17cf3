"""``thresher quality train`` and the ``quality_classifier`` stage (min_score and top_fraction) end to end."""

from __future__ import annotations

import json

import realtext
import testdata
from conftest import read_docs, thresher, write_pipeline


def test_train_then_keep_the_top_fraction_of_a_run(tmp_path):
    speeches = realtext.speeches()
    prose = [p for s in speeches for p in s.splitlines() if len(p) > 300]
    sentences = [rec["text"] for rec in testdata.sentences()]
    # positives: long real prose; negatives: single real sentences (as fragments of a crawl would be)
    (tmp_path / "pos.txt").write_text("\n".join(prose[::2]) + "\n")
    negatives = [s for i, s in enumerate(sentences) if i % 10 != 5]  # every tenth is held out below
    (tmp_path / "neg.jsonl").write_text("".join(json.dumps({"text": s}) + "\n" for s in negatives))
    r = thresher("quality", "train", "--positive", str(tmp_path / "pos.txt"), "--negative",
                 str(tmp_path / "neg.jsonl"), "--output", str(tmp_path / "m" / "q.bin"),
                 "--bucket", "20000", "--dim", "16", "--epoch", "10", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "m" / "q.bin.json").read_text())
    assert report["validation"]["accuracy"] > 0.9 and report["train_examples"] > 1000

    held_out = prose[1::2][:60] + sentences[5::10][:60]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"id": f"d{i}", "text": t}) + "\n"
                                               for i, t in enumerate(held_out)))
    p = write_pipeline(tmp_path / "p.yaml", name="q", input={"paths": ["in.jsonl"]}, output="out", workers=2,
                       stages=[{"stage": "quality_classifier", "model": str(tmp_path / "m" / "q.bin"),
                                "top_fraction": 0.25}])
    r = thresher("build", str(p), "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    kept, dropped = read_docs(tmp_path / "out"), read_docs(tmp_path / "out", "excluded/quality_classifier")
    assert len(kept) == 30 and len(dropped) == 90
    assert min(d["metadata"]["quality_score"] for d in kept) >= max(d["metadata"]["quality_score"] for d in dropped)
    assert sum(d["text"] in prose for d in kept) >= 28  # the best quarter is prose
    assert {f["reason"] for d in dropped for f in d["metadata"]["flags"]} == {"quality_not_top"}

    p = write_pipeline(tmp_path / "p2.yaml", name="q2", input={"paths": ["in.jsonl"]}, output="out2", workers=1,
                       stages=[{"stage": "quality_classifier", "model": str(tmp_path / "m" / "q.bin"),
                                "min_score": 0.5, "mode": "annotate"}])
    assert thresher("build", str(p), "--quiet", cwd=tmp_path).returncode == 0
    docs = read_docs(tmp_path / "out2")
    assert len(docs) == 120
    low = [d for d in docs if d["metadata"]["quality_score"] < 0.5]
    assert low and all(d["metadata"]["flags"] == [{"stage": "quality_classifier", "reason": "quality_low_score"}]
                       for d in low)


def test_train_reports_user_mistakes(tmp_path):
    r = thresher("quality", "train", "--positive", "missing.txt", "--negative", "missing2.txt",
                 "--output", "m.bin", cwd=tmp_path)
    assert r.returncode == 2 and "file not found" in r.stderr and "Traceback" not in r.stderr
