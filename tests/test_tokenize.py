"""The ``tokenize`` stage and ``thresher tokenize``: shards read back with an independent reader match the
tokenizer token for token; ids, hashes, validation split, mixture, resume and stage/command agreement."""

from __future__ import annotations

import hashlib
import math
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest
from conftest import read_docs, thresher, tree_bytes, write_pipeline
from tokenizer_fixtures import read_megatron_index, read_sequences, trained_tokenizer, write_speech_pieces  # noqa: F401

from corpus.tokens import open_tokens

MIX = {"*state_union*": 0.5, "inaugural.jsonl": 2.5}
VAL = 0.1


def pipeline(tmp: Path, inputs: Path, tok: Path, output: str, *, workers: int = 2, tokenize: bool = True,
             task_size_mb: float = 0.2, **extra) -> Path:
    stages = [{"stage": "normalize"}]
    if tokenize:
        stages.append({"stage": "tokenize", "tokenizer": str(tok), "val_fraction": VAL, "mix": MIX,
                       "shard_size_mb": 0.1, **extra})
    return write_pipeline(tmp / f"{output}.yaml", name="tok", output=output, workers=workers, stages=stages,
                          input={"paths": [str(inputs / "*.jsonl")], "task_size_mb": task_size_mb})


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("inputs")
    write_speech_pieces(d / "inaugural.jsonl", "inaugural")
    write_speech_pieces(d / "state_union.jsonl", "state_union", files=25)
    return d


@pytest.fixture(scope="module")
def built(tmp_path_factory, inputs, trained_tokenizer) -> Path:  # noqa: F811
    """A run with ``tokenize`` last, two workers, several tasks, shards rolling over."""
    tmp = tmp_path_factory.mktemp("built")
    r = thresher("build", str(pipeline(tmp, inputs, trained_tokenizer, "run")), "--quiet")
    assert r.returncode == 0, r.stderr
    return tmp / "run"


def shard_sequences(tokens: Path) -> tuple[list[tuple[str, list[int]]], dict]:
    manifest = orjson.loads((tokens / "manifest.json").read_bytes())
    out = []
    for entry in manifest["shards"]:
        seqs, ids = read_sequences(tokens / entry["name"])
        assert len(seqs) == len(ids) == entry["sequences"]
        assert sum(map(len, seqs)) == entry["tokens"]
        for ext, digest in entry["sha256"].items():
            assert hashlib.sha256((tokens / f"{entry['name']}.{ext}").read_bytes()).hexdigest() == digest
        out.extend(zip(ids, seqs, strict=True))
    return out, manifest


def test_shards_are_the_tokenizer_encoding_plus_eos(built, trained_tokenizer):  # noqa: F811
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(str(trained_tokenizer))
    docs = {d["id"]: d for d in read_docs(built)}
    ids = list(docs)
    expected = dict(zip(ids, hf([docs[i]["text"] for i in ids], add_special_tokens=False).input_ids, strict=True))
    train, manifest = shard_sequences(built / "tokens")
    val, val_manifest = shard_sequences(built / "tokens" / "val")
    assert len(manifest["shards"]) > len({s["name"].split("-")[0] for s in manifest["shards"]})  # rolled over
    for doc_id, seq in train + val:
        assert seq == expected[doc_id] + [hf.eos_token_id]
    assert manifest["eos_id"] == hf.eos_token_id and manifest["vocab_size"] == len(hf)
    assert (manifest["dtype"], manifest["format"]) == ("uint16", "megatron-mmidx-v1")
    for m, pairs in ((manifest, train), (val_manifest, val)):
        assert m["totals"]["sequences"] == len(pairs)
        assert m["totals"]["tokens"] == sum(len(s) for _, s in pairs)
        assert m["totals"]["documents"] == len({d for d, _ in pairs})
    # every kept document is in exactly one split; sequences keep the order of data/
    val_ids = {d for d, _ in val}
    train_ids = {d for d, _ in train}
    assert not val_ids & train_ids
    assert val_ids | train_ids <= set(ids)
    assert [d for d, _ in val] == [i for i in ids if i in val_ids]
    order = [d for d, _ in train]
    assert sorted(set(order), key=order.index) == [i for i in ids if i in train_ids]


def test_manifest_identifies_the_tokenizer_and_its_copy(built, trained_tokenizer):  # noqa: F811
    from transformers import AutoTokenizer

    from corpus.tokenizer import folder_sha256

    corpus = open_tokens(built / "tokens")
    assert corpus.tokenizer["sha256"] == folder_sha256(trained_tokenizer)
    copy = built / "tokens" / corpus.tokenizer["path"]
    assert folder_sha256(copy) == corpus.tokenizer["sha256"]
    assert len(AutoTokenizer.from_pretrained(str(copy))) == corpus.vocab_size
    assert corpus.verify() == [] and corpus.val.verify() == []
    assert corpus.val.manifest["tokenizer"]["sha256"] == corpus.tokenizer["sha256"]
    # the ledger counts what the stage wrote
    stats = orjson.loads((built / "stats.json").read_bytes())
    extra = next(s for s in stats["stages"] if s["label"] == "tokenize")["extra"]
    assert extra["tokens"] == corpus.manifest["totals"]["tokens"]
    assert extra["val_sequences"] == len(corpus.val)


def test_validation_split_is_a_hash_of_the_id(built, trained_tokenizer):  # noqa: F811
    """About val_fraction of documents are held out, and the same ones whatever the mixture or seed."""
    val_ids = {d for d, _ in open_tokens(built / "tokens" / "val")}
    n_docs = len(read_docs(built))
    assert 0.5 * VAL * n_docs < len(val_ids) < 1.5 * VAL * n_docs
    other = built.parent / "other-tokens"
    r = thresher("tokenize", str(built), "--tokenizer", str(trained_tokenizer), "--val-fraction", str(VAL),
                 "--seed", "99", "--output", str(other))
    assert r.returncode == 0, r.stderr
    assert {d for d, _ in open_tokens(other / "val")} == val_ids
    # without a mixture every training document is written once
    assert Counter(Counter(d for d, _ in open_tokens(other)).values()) == {1: n_docs - len(val_ids)}


def test_mixture_realises_its_weights(built):
    corpus = open_tokens(built / "tokens")
    mix = corpus.manifest["mix"]
    assert mix["applied"] and mix["weights"] == MIX and mix["unused_patterns"] == []
    copies = Counter(d for d, _ in corpus)
    for source, row in mix["sources"].items():
        weight = MIX["*state_union*"] if "state_union" in source else MIX["inaugural.jsonl"]
        assert row["target_weight"] == weight
        assert abs(row["realised_weight"] - weight) < 0.15 * weight
        assert row["realised_weight"] == pytest.approx(row["tokens"] / row["tokens_in"], abs=1e-6)
        prefix = "state_union/" if "state_union" in source else "inaugural/"
        seen = {c for d, c in copies.items() if d.startswith(prefix)}
        assert seen <= {math.floor(weight), math.ceil(weight)} - {0}  # each document floor(w) or ceil(w) times
        assert corpus.manifest["totals"]["per_source"][source]["tokens"] == row["tokens"]
    assert sum(r["realised_share"] for r in mix["sources"].values()) == pytest.approx(1, abs=1e-5)
    assert corpus.val.manifest["mix"]["applied"] is False  # validation is never resampled


def test_command_on_a_run_writes_what_the_stage_writes(tmp_path, built, inputs, trained_tokenizer):  # noqa: F811
    """Same inputs without the stage, one worker instead of two, then `thresher tokenize`: identical bytes."""
    plain = pipeline(tmp_path, inputs, trained_tokenizer, "plain", workers=1, tokenize=False)
    assert thresher("build", str(plain), "--quiet").returncode == 0
    mix_args = [a for p, w in MIX.items() for a in ("--mix", f"{p}={w}")]
    r = thresher("tokenize", str(tmp_path / "plain"), "--tokenizer", str(trained_tokenizer), "--val-fraction",
                 str(VAL), "--shard-size-mb", "0.1", *mix_args)
    assert r.returncode == 0, r.stderr
    assert tree_bytes(tmp_path / "plain" / "tokens") == tree_bytes(built / "tokens")
    again = thresher("tokenize", str(tmp_path / "plain"), "--tokenizer", str(trained_tokenizer))
    assert again.returncode == 2 and "another tokenizer or settings" in again.stderr


def test_kill_and_resume_gives_identical_shards(tmp_path, built, inputs, trained_tokenizer):  # noqa: F811
    cfg = pipeline(tmp_path, inputs, trained_tokenizer, "killed", workers=1)
    cmd = [sys.executable, "-m", "corpus.cli", "build", str(cfg), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    markers = tmp_path / "killed" / ".state" / "pass-0"
    while proc.poll() is None and len(list(markers.glob("*.json"))) < 2:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "killed" / "tokens" / "manifest.json").exists(), "the build ended before the kill"
    r = thresher("build", str(cfg), "--quiet")
    assert r.returncode == 0, r.stderr
    assert tree_bytes(tmp_path / "killed" / "tokens") == tree_bytes(built / "tokens")


@pytest.mark.parametrize("extra, message", [
    ({"val_fraction": 1.0}, "val_fraction"),
    ({"mix": {"*": -1}}, "mix"),
    ({"tokenizer": "./no/such/folder"}, "no such folder"),
])
def test_bad_settings_fail_at_config_time(tmp_path, inputs, trained_tokenizer, extra, message):  # noqa: F811
    from corpus import config
    from corpus.errors import UserError

    with pytest.raises(UserError, match=message):
        config.load(pipeline(tmp_path, inputs, trained_tokenizer, "bad", **extra))


def test_tokenize_must_be_last(tmp_path, trained_tokenizer):  # noqa: F811
    (tmp_path / "a.jsonl").write_text('{"id": "1", "text": "A short text."}\n')
    cfg = write_pipeline(tmp_path / "p.yaml", name="t", input={"paths": ["a.jsonl"]}, output="run", workers=1,
                         stages=[{"stage": "tokenize", "tokenizer": str(trained_tokenizer)}, {"stage": "normalize"}])
    r = thresher("build", str(cfg), "--quiet")
    assert r.returncode == 2 and "must be the last stage" in r.stderr
    r = thresher("tokenize", str(tmp_path), "--tokenizer", str(trained_tokenizer))
    assert r.returncode == 2 and "not a Thresher run" in r.stderr
