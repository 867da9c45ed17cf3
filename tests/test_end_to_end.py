"""The whole chain a user runs: build, train a tokenizer on what was kept, tokenize, train, verify,
report on the model; the model's lineage leads back to the corpus by its Merkle root."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml
from conftest import REPO, thresher, write_pipeline


def test_build_tokenize_train_verify_and_trace_lineage(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(REPO / "corpus" / "demo" / "data", data)
    write_pipeline(tmp_path / "p.yaml", name="e2e", input={"paths": ["data/*.jsonl.gz", "data/*.parquet"]},
                   output="run", workers=2,
                   stages=[{"stage": "normalize"}, {"stage": "length", "min_words": 20}, {"stage": "dedup_exact"}])
    r = thresher("build", "p.yaml", "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = thresher("tokenizer", "train", "--input", "run", "--vocab-size", "512", "--output", "tok", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = thresher("tokenize", "run", "--tokenizer", "tok", "--val-fraction", "0.1", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    (tmp_path / "train.yaml").write_text(yaml.safe_dump({
        "task": "pretrain", "tokenizer": "tok",
        "model": {"arch": "llama", "hidden_size": 32, "num_layers": 1, "num_heads": 2, "intermediate_size": 64},
        "data": {"tokens": "run/tokens", "seq_len": 32},
        "train": {"steps": 4, "micro_batch_size": 2, "lr": 0.003, "warmup_steps": 1, "seed": 0},
        "checkpoint": {"dir": "ckpt", "every": 2, "keep": 1},
        "eval": {"every": 4, "batches": 1},
        "output": {"dir": "model"}}))
    r = thresher("train", "train.yaml", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert thresher("verify", "run", cwd=tmp_path).returncode == 0
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    lineage = json.loads((tmp_path / "model" / "hf" / "lineage.json").read_text())
    assert lineage["corpus_merkle_root"] == manifest["merkle_root"]
    assert lineage["tokens_consumed"] == 4 * 2 * 32
    r = thresher("report", "model/hf", "--format", "json,md", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    md = (tmp_path / "model" / "hf" / "report" / "report.md").read_text()
    assert manifest["merkle_root"] in md and "matches" in md and "DIFFERS" not in md
