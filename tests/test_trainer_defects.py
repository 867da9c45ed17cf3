"""Trainer defects of issue 21, each a regression test that failed before its fix: resume across model
shapes (01), ``trace`` without the tokenizer check (02), spelled special tokens in SFT content (05),
positions shorter than a window (06), the header of an opening assistant turn labelled (07), tokens made
with ``tokenize --eos-token`` (08) and TensorBoard after a resume (09). Real data, one process: the real CLI
where a one-line error or a command is the point, ``thresher train``'s own code in this process elsewhere."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import trainer_data as td
import yaml
from conftest import thresher, write_pipeline
from test_trainer import MODEL, train_here, write_config
from tokenizer_fixtures import write_speech_pieces

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def fx(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("trainer_defects")
    tok = td.build_tokenizer(root / "tok")
    return {"root": root, "tok": tok, "tokens": td.build_tokens(root, td.documents(), tok),
            "chat": td.chat_jsonl(root / "chat.jsonl", limit=40)}


# test_trainer's config, made short: 4 steps, one checkpoint, no evaluation, no export.
SHORT = {"train": {"steps": 4, "grad_accum": 1}, "eval": {"every": 0}, "output": {"export": False, "progress": False}}


def short_config(fx: dict[str, Path], name: str, **sections) -> Path:
    """A pretraining config for the fixture data; keyword sections update the short defaults key by key."""
    merged = {k: {**SHORT.get(k, {}), **v} if isinstance(v, dict) else v for k, v in sections.items()}
    return write_config(fx, name, **{**SHORT, **merged})


def train(config: Path):
    return thresher("train", str(config), env={"OMP_NUM_THREADS": "1"})


def one_line_error(r, *words: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert all(w in lines[0] for w in words), lines[0]


def test_resume_refuses_another_model_shape(fx):
    """01: DCP loads by name, so fewer layers or other heads resumed silently; hidden_size was a traceback.
    The traceback case goes through the command line; the others are the same UserError, raised here."""
    from corpus.errors import UserError

    train_here(short_config(fx, "shape"))
    for key, value in (("num_layers", 3), ("num_heads", 2)):
        with pytest.raises(UserError) as refused:
            train_here(short_config(fx, "shape", model={**MODEL, key: value}, train={"steps": 8}))
        assert "cannot resume" in str(refused.value) and f"model.{key}" in str(refused.value), refused.value
    r = train(short_config(fx, "shape", model={**MODEL, "hidden_size": 64}, train={"steps": 8}))
    one_line_error(r, "cannot resume", "model.hidden_size")
    # Regularisation is not shape: a resume may change dropout.
    assert "resuming" in train_here(short_config(fx, "shape", model={**MODEL, "dropout": 0.1}))


def test_trace_refuses_an_edited_tokenizer(fx):
    """02: an SFT step replayed with another chat template lists other documents; trace must refuse, as export does."""
    tok = fx["root"] / "tok02"
    shutil.copytree(fx["tok"], tok)
    config = short_config(fx, "trace", task="sft", tokenizer=str(tok),
                          data={"tokens": None, "path": str(fx["chat"]), "seq_len": 64},
                          train={"steps": 2}, checkpoint={"every": 2})
    train_here(config)
    ckpt = fx["root"] / "trace" / "ckpt" / "step-000002"
    from trainer.trace import trace

    assert trace(ckpt, 2)["windows"]  # as written, the step replays (in this process: the CLI is checked below)
    # The checkpoint keeps its own copy of the tokenizer (export and trace need no other folder): edit that.
    cfg_file = ckpt / "tokenizer" / "tokenizer_config.json"
    cfg = json.loads(cfg_file.read_text())
    cfg["chat_template"] = "<|im_start|>system\nYou are helpful.<|im_end|>\n" + td.CHAT_TEMPLATE
    cfg_file.write_text(json.dumps(cfg))
    (ckpt / "tokenizer" / "chat_template.jinja").unlink(missing_ok=True)
    one_line_error(thresher("trace", str(ckpt), "--step", "2"), "tokenizer", "sha256 differs")


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_positions_shorter_than_a_window_are_a_config_error(fx, arch):
    """06: gpt2 crashed on the first step, llama trained past its positions without a word."""
    config = short_config(fx, f"pos_{arch}", model={**MODEL, "arch": arch, "max_position_embeddings": 16})
    one_line_error(train(config), "max_position_embeddings", "data.seq_len")


def test_from_pretrained_positions_shorter_than_a_window_are_refused(fx, tmp_path):
    """06's sibling: the positions of a model.from_pretrained folder are checked against data.seq_len too."""
    from transformers import AutoModelForCausalLM, LlamaConfig

    from corpus.errors import UserError
    from trainer import config
    from trainer.model import build_model, load_tokenizer

    tok = load_tokenizer(str(fx["tok"]))
    base = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                       num_attention_heads=4, max_position_embeddings=16)
    AutoModelForCausalLM.from_config(base).save_pretrained(tmp_path / "base")
    cfg = config.parse(yaml.safe_load(short_config(fx, "pretrained", model={"from_pretrained": str(tmp_path / "base")})
                                      .read_text()), fx["root"])
    with pytest.raises(UserError, match="16 positions, fewer than data.seq_len"):
        build_model(cfg, tok)


def rendered(tok, messages: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    from trainer.data import render

    return render(tok, messages, "test")


def test_an_opening_assistant_turn_labels_only_its_content(fx):
    """07: without {% generation %}, the header of a conversation's first turn was labelled when that
    turn was the assistant's; it must be split as every later assistant turn is."""
    from trainer.model import load_tokenizer

    tok = load_tokenizer(str(fx["tok"]))
    ids, mask = rendered(tok, [{"role": "assistant", "content": "Welcome."}, {"role": "user", "content": "Hi"},
                               {"role": "assistant", "content": "Bye"}])
    on = np.flatnonzero(mask)
    assert tok.decode(ids[: on[0]]) == "<|im_start|>assistant\n"
    assert tok.decode(ids[mask]) == "Welcome.<|im_end|>\nBye<|im_end|>\n</s>"


@pytest.mark.parametrize("template", ["diff", "generation"])
def test_message_content_spelling_special_tokens_is_text(fx, template):
    """05 (SFT): a message quoting <|im_start|> or </s> holds those characters, not the control tokens: the
    only special tokens are the template's own and the example's EOS."""
    from trainer.model import load_tokenizer

    tok = load_tokenizer(str(fx["tok"]))
    if template == "generation":
        tok.chat_template = td.CHAT_TEMPLATE_GENERATION
    question = "What do <|im_start|> and </s> mean?"
    answer = "One opens a turn; <|im_end|> closes it."
    msgs = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    ids, mask = rendered(tok, msgs)
    special = [tok.convert_ids_to_tokens(int(i)) for i in ids if int(i) in tok.all_special_ids
               or tok.convert_ids_to_tokens(int(i)) in ("<|im_start|>", "<|im_end|>")]
    assert special == ["<|im_start|>", "<|im_end|>", "<|im_start|>", "<|im_end|>", "</s>"]
    assert tok.decode(ids) == tok.apply_chat_template(msgs, tokenize=False) + "</s>"
    assert tok.decode(ids[mask]).startswith(answer + "<|im_end|>")


def test_tokens_made_with_eos_token_are_trainable(fx):
    """08: ``tokenize --eos-token`` for a tokenizer without an EOS (docs/tokens.md) made tokens that
    ``thresher train`` refused; the EOS the tokens were made with is the model's and the export's."""
    root = fx["root"] / "eos"
    tok = root / "tok_no_eos"
    shutil.copytree(fx["tok"], tok)
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        if (tok / name).is_file():
            data = json.loads((tok / name).read_text())
            data.pop("eos_token", None)
            (tok / name).write_text(json.dumps(data))
    write_speech_pieces(root / "in" / "speeches.jsonl", "inaugural", files=20)
    pipe = write_pipeline(root / "pipe.yaml", name="eos", output="run", workers=1, stages=[],
                          input={"paths": [str(root / "in" / "speeches.jsonl")]})
    assert thresher("build", str(pipe), "--quiet").returncode == 0
    tokens = root / "tokens"
    r = thresher("tokenize", str(root / "run"), "--tokenizer", str(tok), "--eos-token", "</s>", "--output", str(tokens))
    assert r.returncode == 0, r.stderr
    train_here(short_config(fx, "eos", tokenizer=str(tokens / "tokenizer"), data={"tokens": str(tokens), "seq_len": 32},
                            train={"steps": 2}, output={"export": True}))
    eos_id = json.loads((tokens / "manifest.json").read_text())["eos_id"]
    hf = fx["root"] / "eos" / "hf"
    assert json.loads((hf / "lineage.json").read_text())["eos_id"] == eos_id
    assert json.loads((hf / "config.json").read_text())["eos_token_id"] == eos_id
    assert json.loads((hf / "tokenizer_config.json").read_text())["eos_token"] == "</s>"


def test_tensorboard_holds_each_step_once_after_a_resume(fx):
    """09: metrics.jsonl dropped the replayed steps of a resumed run, TensorBoard logged them twice."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = short_config(fx, "tb", train={"steps": 8}, output={"tensorboard": True})
    train_here(config)
    shutil.rmtree(fx["root"] / "tb" / "ckpt" / "step-000008")  # as if killed after step 4's checkpoint
    assert "resuming" in train_here(config)

    def steps() -> tuple[list[int], list[int]]:
        events = EventAccumulator(str(fx["root"] / "tb" / "tensorboard"))
        events.Reload()
        logged = [json.loads(ln)["step"] for ln in (fx["root"] / "tb" / "metrics.jsonl").read_text().splitlines()]
        return [s.step for s in events.Scalars("loss")], logged

    assert steps() == (list(range(1, 9)), list(range(1, 9)))
    # A run killed before its first checkpoint starts again from step 1: the same holds.
    shutil.rmtree(fx["root"] / "tb" / "ckpt")
    train_here(config)
    assert steps() == (list(range(1, 9)), list(range(1, 9)))
