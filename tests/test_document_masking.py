"""Document masking (`data.document_masking`) and whole-example SFT packing, on the real tokenizer,
token shards and chat data of the trainer's tests, with tiny models built from trainer configs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import trainer_data as td
import yaml
from conftest import thresher
from test_trainer import train_here

torch.set_num_threads(1)
SEQ_LEN = 96


@pytest.fixture(scope="module")
def fx(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("masking")
    tok = td.build_tokenizer(root / "tok")
    # short documents, so a window holds several of them
    docs = [(doc_id, text[:100]) for doc_id, text in td.documents(chars=120)[:60]]
    tokens = td.write_tokens(root / "tokens", tok, docs, shards=1)
    return {"root": root, "tok": tok, "tokens": tokens, "chat": td.chat_jsonl(root / "chat.jsonl", limit=60)}


def trainer_config(fx: dict[str, Path], arch: str = "llama", **data):
    from trainer import config

    raw = {"task": "pretrain", "tokenizer": str(fx["tok"]), "data": {"tokens": str(fx["tokens"]), "seq_len": SEQ_LEN},
           "model": {"arch": arch, "hidden_size": 32, "num_layers": 2, "num_heads": 4, "intermediate_size": 64}}
    raw["data"].update(data)
    return config.parse(raw, fx["root"])


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_each_documents_logits_in_a_packed_window_equal_its_logits_alone(fx, arch):
    from trainer.data import IGNORE, open_data
    from trainer.masking import model_inputs
    from trainer.model import build_model, load_tokenizer, tokenizer_sha256

    cfg = trainer_config(fx, arch)
    tok = load_tokenizer(cfg.tokenizer)
    packed, _, _ = open_data(cfg, tok, tokenizer_sha256(cfg.tokenizer))
    model = build_model(cfg, tok).eval()
    checked = 0
    for g in range(4):
        x, y, positions = packed.batch([g], positions=True)
        with torch.no_grad():
            packed_logits = model(**model_inputs(x, positions)).logits[0]
            plain_logits = model(input_ids=x).logits[0]
        pieces = packed.order.pieces(g)
        assert len(pieces) >= 3  # several documents share the window
        at = 0
        for i, (seq, a, b) in enumerate(pieces):
            n = min(b - a, SEQ_LEN - at)  # the last piece's final token is only a label
            alone = torch.from_numpy(np.asarray(packed.source.tokens(seq)[a:a + n], dtype=np.int64))[None]
            with torch.no_grad():
                own = model(input_ids=alone).logits[0]
            np.testing.assert_allclose(packed_logits[at:at + n].numpy(), own.numpy(), atol=1e-5, rtol=0)
            if i:  # without masking a later document sees the ones before it
                assert not torch.allclose(plain_logits[at:at + n], own, atol=1e-3)
                assert y[0, at - 1] == IGNORE  # the previous document's last token predicts nothing here
            checked += 1
            at += n
        assert at == SEQ_LEN
    assert checked >= 12


def test_masking_off_keeps_plain_positions_and_labels(fx):
    from trainer.data import IGNORE, open_data
    from trainer.model import load_tokenizer, tokenizer_sha256

    cfg = trainer_config(fx, document_masking=False)
    tok = load_tokenizer(cfg.tokenizer)
    packed, _, _ = open_data(cfg, tok, tokenizer_sha256(cfg.tokenizer))
    x, y, positions = packed.batch(range(3), positions=True)
    assert (positions == torch.arange(SEQ_LEN)).all() and (y != IGNORE).all()
    assert (y[:, :-1] == x[:, 1:]).all()


def sft_config(fx: dict[str, Path], name: str, **data) -> Path:
    out = fx["root"] / name
    cfg = {"task": "sft", "tokenizer": str(fx["tok"]),
           "model": {"arch": "llama", "hidden_size": 32, "num_layers": 2, "num_heads": 4, "intermediate_size": 64},
           "data": {"path": str(fx["chat"]), "format": "messages", "seq_len": SEQ_LEN, **data},
           "train": {"steps": 4, "micro_batch_size": 2, "lr": 0.01},
           "checkpoint": {"every": 0}, "eval": {"every": 2, "batches": 2}, "output": {"dir": str(out), "export": False}}
    out.mkdir(parents=True, exist_ok=True)
    (out / "train.yaml").write_text(yaml.safe_dump(cfg))
    return out / "train.yaml"


def test_sft_packs_whole_examples_truncates_long_ones_and_holds_out_a_validation_split(fx):
    from trainer import config
    from trainer.data import IGNORE, open_data, open_sft, split_sft
    from trainer.masking import PAD_ID
    from trainer.model import load_tokenizer, tokenizer_sha256

    cfg = config.load(sft_config(fx, "sft-open", val_fraction=0.2))
    tok = load_tokenizer(cfg.tokenizer)
    train, val, _ = open_data(cfg, tok, tokenizer_sha256(cfg.tokenizer))
    seqs = open_sft(str(fx["chat"]), "messages", tok)
    lengths = {i: len(t) for i, t in zip(seqs.ids, seqs.token_lists, strict=True)}
    long = [i for i, n in lengths.items() if n > SEQ_LEN + 1]
    assert long, "the fixture should hold examples longer than a window"
    # the split: a fifth held out, disjoint, stable, independent of the seed
    held = set(val.source.ids)
    assert len(held) == 12 and held.isdisjoint(train.source.ids) and held | set(train.source.ids) == set(lengths)
    assert set(split_sft(seqs, 0.2)[1].ids) == held
    # every training example exactly once per epoch, never cut across windows
    for epoch in range(2):
        W = train.order.windows_per_epoch
        seen = [p for g in range(epoch * W, (epoch + 1) * W) for p in train.order.pieces(g)]
        assert sorted(s for s, _, _ in seen) == list(range(len(train.source.ids)))
        for s, a, b in seen:
            assert a == 0 and b == min(lengths[train.source.ids[s]], SEQ_LEN + 1)
    assert train.truncated + val.truncated == len(long)
    # a window's tail is padding with no labels, and no label crosses into the next example
    for g in range(train.order.windows_per_epoch):
        x, y, positions = (t[0] for t in train.batch([g], positions=True))
        ends = np.cumsum([b - a for _, a, b in train.order.pieces(g)])
        if ends[-1] < SEQ_LEN + 1:
            assert (x[ends[-1]:] == PAD_ID).all() and (y[ends[-1] - 1:] == IGNORE).all()
        assert (y[ends[:-1] - 1] == IGNORE).all()
        assert all(positions[e] == 0 for e in ends[:-1] if e < SEQ_LEN)


def test_sft_run_reports_truncation_and_logs_validation_loss(fx):
    """The run and its refused resume go through `train_here` (``thresher train``'s own code, in this process)."""
    from corpus.errors import UserError

    config = sft_config(fx, "sft-run", val_fraction=0.2)
    out = train_here(config)
    assert "SFT examples are longer than seq_len + 1 = 97 tokens and were truncated" in out
    lines = [json.loads(ln) for ln in (config.parent / "metrics.jsonl").read_text().splitlines()]
    evals = [ln for ln in lines if "val_loss" in ln]
    assert [e["step"] for e in evals] == [2, 4] and all(np.isfinite(e["val_loss"]) for e in evals)
    lin = json.loads((config.parent / "ckpt" / "step-000004" / "lineage.json").read_text())
    assert lin["val_fraction"] == 0.2 and lin["sft_truncated"] > 0
    # val_loss is the mean over the validation windows' label tokens (assistant turns), not over every position
    from trainer import config as trainer_config
    from trainer.data import IGNORE, open_data
    from trainer.export import load_checkpoint_model
    from trainer.masking import model_inputs
    from trainer.model import load_tokenizer, tokenizer_sha256

    cfg = trainer_config.load(config)
    _, val, _ = open_data(cfg, load_tokenizer(cfg.tokenizer), tokenizer_sha256(cfg.tokenizer))
    x, y, positions = val.batch(range(min(4, val.order.windows_per_epoch)), positions=True)  # batches x micro
    model, _, _ = load_checkpoint_model(config.parent / "ckpt" / "step-000004")
    with torch.no_grad():
        nll = torch.nn.functional.cross_entropy(model(**model_inputs(x, positions)).logits.flatten(0, 1), y.flatten(),
                                                ignore_index=IGNORE, reduction="sum").item()
    labels = int((y != IGNORE).sum())
    assert 0 < labels < y.numel() and nll / labels == pytest.approx(evals[-1]["val_loss"], rel=1e-5)
    # another split would train on other examples: a resume refuses it
    cfg = yaml.safe_load(config.read_text())
    cfg["data"]["val_fraction"], cfg["train"]["steps"] = 0.3, 6
    config.write_text(yaml.safe_dump(cfg))
    with pytest.raises(UserError, match="val_fraction was 0.2, now 0.3"):
        train_here(config)


def test_val_fraction_mistakes_are_one_line(fx, tmp_path):
    for data, says in (({"val_fraction": 1.0}, "data.val_fraction must be in [0, 1)"),
                       ({"document_masking": "yes"}, "data.document_masking must be true or false")):
        cfg = yaml.safe_load(sft_config(fx, "bad").read_text())
        cfg["data"].update(data)
        path = tmp_path / "bad.yaml"
        path.write_text(yaml.safe_dump(cfg))
        r = thresher("train", str(path))
        assert r.returncode == 2 and says in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    cfg = {"task": "pretrain", "tokenizer": str(fx["tok"]), "data": {"tokens": str(fx["tokens"]), "val_fraction": 0.1}}
    path = tmp_path / "pre.yaml"
    path.write_text(yaml.safe_dump(cfg))
    r = thresher("train", str(path))
    assert r.returncode == 2 and "data.val_fraction is for task: sft" in r.stderr, r.stderr


def test_sft_eval_without_a_validation_split_says_so(fx, capsys):
    """``eval:`` with ``data.val_fraction: 0`` has nothing to evaluate: the run says so instead of ignoring it."""
    from trainer import config
    from trainer.loop import Trainer

    Trainer(config.load(sft_config(fx, "sft-no-val")))
    out = capsys.readouterr().out
    assert "eval.every is set but data.val_fraction is 0: no validation loss for this sft run" in out
