"""The trainer, end to end: real torchrun (2 processes, gloo), DDP and FSDP2, on a real tokenizer and
real text (public-domain speeches, self-instruct tasks). Tiny models, so the file runs in minutes on
two cores."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import torch
import trainer_data as td
import yaml
from conftest import thresher

from corpus.tokenizer import folder_sha256

torch.set_num_threads(1)
MODEL = {"arch": "llama", "hidden_size": 32, "num_layers": 2, "num_heads": 4, "intermediate_size": 64}
STEPS = 12


@pytest.fixture(scope="module")
def fx(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("trainer")
    tok = td.build_tokenizer(root / "tok")
    tokens = td.build_tokens(root, td.documents(), tok)
    return {"root": root, "tok": tok, "tokens": tokens, "chat": td.chat_jsonl(root / "chat.jsonl")}


def write_config(fx: dict[str, Path], name: str, **sections) -> Path:
    """A pretraining config for the fixture data; keyword sections update the defaults key by key."""
    out = fx["root"] / name
    cfg = {"task": "pretrain", "tokenizer": str(fx["tok"]), "model": dict(MODEL),
           "data": {"tokens": str(fx["tokens"]), "seq_len": 32},
           "train": {"steps": STEPS, "micro_batch_size": 2, "grad_accum": 2, "lr": 0.01, "warmup_steps": 2,
                     "seed": 0},
           "checkpoint": {"dir": str(out / "ckpt"), "every": 4, "keep": 10},
           "eval": {"every": 6, "batches": 2}, "output": {"dir": str(out)}}
    for key, value in sections.items():
        cfg[key] = {**cfg[key], **value} if isinstance(value, dict) and isinstance(cfg.get(key), dict) else value
    out.mkdir(parents=True, exist_ok=True)
    path = out / "train.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def torchrun_cmd(config: Path, nproc: int = 2) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
            "-m", "trainer", str(config)]


TORCHRUN_ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def torchrun(config: Path) -> subprocess.CompletedProcess:
    r = subprocess.run(torchrun_cmd(config), capture_output=True, text=True, timeout=600, env=TORCHRUN_ENV)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def train_here(config: Path) -> str:
    """What ``thresher train CONFIG`` runs (`trainer.commands.cmd_train`), in this process, and what it printed:
    for a test that asserts nothing of the command line itself, it spares a Python, torch and transformers start."""
    from trainer import config as tconfig
    from trainer import loop

    with contextlib.redirect_stdout(io.StringIO()) as out:
        loop.run(tconfig.load(config))
    return out.getvalue()


def steps(out: Path) -> list[dict]:
    lines = [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines()]
    return [ln for ln in lines if "loss" in ln]


def losses(out: Path) -> list[float]:
    return [ln["loss"] for ln in steps(out)]


@pytest.fixture(scope="module")
def ddp(fx) -> Path:
    config = write_config(fx, "ddp")
    torchrun(config)
    return config.parent


@pytest.fixture(scope="module")
def fsdp(fx) -> Path:
    config = write_config(fx, "fsdp", parallel={"strategy": "fsdp"})
    torchrun(config)
    return config.parent


def test_ddp_loss_falls_with_metrics_checkpoints_and_lineage(ddp, fx):
    rows = steps(ddp)
    assert [r["step"] for r in rows] == list(range(1, STEPS + 1))
    for r in rows:
        assert set(r) >= {"step", "loss", "lr", "grad_norm", "tokens_per_s", "mfu"}
        assert r["mfu"] is None and r["tokens_per_s"] > 0 and r["grad_norm"] > 0
    assert rows[0]["lr"] == pytest.approx(0.005) and rows[1]["lr"] == pytest.approx(0.01)  # warmup
    assert rows[-1]["lr"] < rows[2]["lr"]  # cosine decay
    first, last = rows[0]["loss"], np.mean([r["loss"] for r in rows[-3:]])
    assert last < first - 0.2, (first, last)
    evals = [json.loads(ln) for ln in (ddp / "metrics.jsonl").read_text().splitlines() if "val_loss" in ln]
    assert [e["step"] for e in evals] == [6, 12]
    assert evals[1]["val_loss"] < evals[0]["val_loss"]
    assert all(e["perplexity"] == pytest.approx(math.exp(e["val_loss"])) for e in evals)

    ckpts = sorted(p.name for p in (ddp / "ckpt").iterdir())
    assert ckpts == ["step-000004", "step-000008", "step-000012"]
    lin = json.loads((ddp / "ckpt" / "step-000008" / "lineage.json").read_text())
    global_batch = 2 * 2 * 2  # micro batch x accumulation x ranks
    assert lin["step"] == 8 and lin["samples_consumed"] == 8 * global_batch
    assert lin["tokens_consumed"] == 8 * global_batch * 32 and lin["seed"] == 0
    manifest = (fx["tokens"] / "manifest.json").read_bytes()
    assert lin["tokens_manifest_sha256"] == hashlib.sha256(manifest).hexdigest()
    assert lin["tokenizer_sha256"] == folder_sha256(fx["tok"])  # as the tokens manifest names it
    assert lin["tokenizer_sha256"] == json.loads(manifest)["tokenizer"]["sha256"]
    assert len(lin["config_sha256"]) == 64
    hf_lin = json.loads((ddp / "hf" / "lineage.json").read_text())
    assert hf_lin["step"] == STEPS and hf_lin["samples_consumed"] == STEPS * global_batch


def kill_after_first_checkpoint(config: Path, steps: int) -> int:
    """Start a 2-process run of ``config``, SIGKILL it once its step-4 checkpoint exists, return the last step saved."""
    ckpt = config.parent / "ckpt"
    proc = subprocess.Popen(torchrun_cmd(config), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=TORCHRUN_ENV)
    try:
        while not (ckpt / "step-000004").exists():
            assert proc.poll() is None, "the run ended before its first checkpoint"
            time.sleep(0.005)
    finally:  # SIGKILL torchrun and its workers (they run in sessions of their own), mid-training
        run = psutil.Process(proc.pid)
        procs = [run, *run.children(recursive=True)]
        for p in procs:
            p.kill()
        psutil.wait_procs(procs)
    killed_at = max(int(p.name[5:]) for p in ckpt.glob("step-*"))
    assert killed_at < steps, "the run finished before it could be killed"
    return killed_at


def test_killed_and_resumed_losses_equal_unbroken(ddp, fx):
    config = write_config(fx, "killed")
    ckpt = config.parent / "ckpt"
    killed_at = kill_after_first_checkpoint(config, STEPS)
    r = torchrun(config)
    assert f"resuming from {ckpt / f'step-{killed_at:06d}'}" in r.stdout
    assert losses(config.parent) == losses(ddp)  # exactly, step by step
    assert [s["step"] for s in steps(config.parent)] == list(range(1, STEPS + 1))


def resume_on_one_process(run: Path, config: Path, total: int) -> None:
    """Resume ``run``'s step-4 checkpoint with ``config`` on one process; its losses must be ``run``'s from step 5."""
    shutil.copytree(run / "ckpt" / "step-000004", config.parent / "ckpt" / "step-000004")
    assert "resuming from" in train_here(config)
    one = steps(config.parent)
    assert [s["step"] for s in one] == list(range(5, total + 1))
    np.testing.assert_allclose([s["loss"] for s in one], losses(run)[4:], rtol=1e-4)


def test_fsdp_matches_ddp_and_resumes_on_one_process_in_the_same_order(fsdp, ddp, fx):
    np.testing.assert_allclose(losses(fsdp), losses(ddp), rtol=1e-5)
    # The sharded step-4 checkpoint, resumed by one process with the same global batch (2 x 4 x 1).
    config = write_config(fx, "one", train={"grad_accum": 4}, parallel={"strategy": "fsdp"})
    resume_on_one_process(fsdp, config, STEPS)
    from trainer.trace import trace

    for step in (5, 9, 12):
        a, b = trace(fsdp / "ckpt" / "step-000012", step), trace(config.parent / "ckpt" / "step-000012", step)
        assert [w["pieces"] for w in a["windows"]] == [w["pieces"] for w in b["windows"]]
        assert {w["rank"] for w in a["windows"]} == {0, 1} and {w["rank"] for w in b["windows"]} == {0}


def _tokens_by_doc(tokens_dir: Path) -> dict[str, np.ndarray]:
    from corpus.tokens import open_tokens

    return {doc_id: np.asarray(t, dtype=np.int64) for doc_id, t in open_tokens(tokens_dir)}


def test_trace_lists_the_documents_of_the_batch(ddp, fx, tmp_path):
    """Rebuild step 9's windows from trace's documents alone; the step-8 model's loss on them must be the
    loss the training loop logged for step 9, so trace named exactly the batch that was trained on."""
    r = thresher("trace", str(ddp / "ckpt" / "step-000012"), "--step", "9", "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert len(result["windows"]) == 8
    by_doc = _tokens_by_doc(fx["tokens"])
    windows = np.stack([np.concatenate([by_doc[p["doc_id"]][p["start"]:p["end"]] for p in w["pieces"]])
                        for w in result["windows"]])
    assert windows.shape == (8, 33)

    from transformers import AutoModelForCausalLM

    from trainer.export import export  # `thresher export`'s own code, in this process
    from trainer.masking import model_inputs, piece_positions

    export(ddp / "ckpt" / "step-000008", tmp_path / "hf8")

    model = AutoModelForCausalLM.from_pretrained(tmp_path / "hf8").eval()
    x = torch.from_numpy(windows)
    # document masking (the default): positions restart at each piece, no label crosses into the next piece
    lengths = [[p["end"] - p["start"] for p in w["pieces"]] for w in result["windows"]]
    positions = torch.from_numpy(np.stack([piece_positions(n)[:-1] for n in lengths]))
    labels = x[:, 1:].clone()
    for i, n in enumerate(lengths):
        labels[i, np.cumsum(n)[:-1] - 1] = -100
    with torch.no_grad():
        logits = model(**model_inputs(x[:, :-1], positions)).logits
    loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten()).item()
    assert loss == pytest.approx(losses(ddp)[8], rel=1e-5)

    from trainer.trace import doc_ids  # what the plain `thresher trace` prints, one id a line

    assert doc_ids(result) == list(dict.fromkeys(p["doc_id"] for w in result["windows"] for p in w["pieces"]))


def test_hf_export_logits_equal_the_trained_model(ddp, fx):
    """The live model's last val_loss (logged in training) and the DCP checkpoint's logits, both
    reproduced by `AutoModelForCausalLM.from_pretrained` on hf/."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trainer.data import PackedData, TokenSequences
    from trainer.export import load_checkpoint_model

    hf = ddp / "hf"
    assert {"config.json", "model.safetensors", "tokenizer.json", "lineage.json"} <= {p.name for p in hf.iterdir()}
    model = AutoModelForCausalLM.from_pretrained(hf).eval()
    from corpus.tokens import open_tokens
    from trainer.masking import model_inputs

    val = PackedData(TokenSequences(open_tokens(fx["tokens"]).val), 32, 0, shuffle=False, masking=True)
    x, y, positions = val.batch(range(4), positions=True)  # eval.batches x micro_batch_size windows
    with torch.no_grad():
        logits = model(**model_inputs(x, positions)).logits
        reference, _, _ = load_checkpoint_model(ddp / "ckpt" / f"step-{STEPS:06d}")
        assert torch.equal(logits, reference(**model_inputs(x, positions)).logits)
    val_loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten()).item()
    logged = [json.loads(ln) for ln in (ddp / "metrics.jsonl").read_text().splitlines() if "val_loss" in ln][-1]
    assert val_loss == pytest.approx(logged["val_loss"], rel=1e-5)
    assert AutoTokenizer.from_pretrained(hf).eos_token == "</s>"


@pytest.mark.parametrize("fmt,template", [("messages", "diff"), ("prompt_response", "diff"),
                                          ("messages", "generation")])
def test_sft_labels_are_exactly_the_assistant_tokens(fx, tmp_path, fmt, template):
    """Without ``{% generation %}`` marks the assistant span is found by diffing renderings and runs to
    the end of the turn (its ``<|im_end|>`` and newline) plus the example's EOS, so the model learns to
    stop; with them, it is exactly what the template marks."""
    from transformers import AutoTokenizer

    from trainer.data import IGNORE, PackedData, open_sft

    tok = AutoTokenizer.from_pretrained(fx["tok"])
    if template == "generation":
        tok.chat_template = td.CHAT_TEMPLATE_GENERATION
    path = td.chat_jsonl(tmp_path / "chat.jsonl", limit=40, fmt=fmt)
    records = [json.loads(ln) for ln in path.read_text().splitlines()]
    seqs = open_sft(str(path), fmt, tok)
    tail = "<|im_end|>\n</s>" if template == "diff" else "<|im_end|>"
    for rec, ids, mask in zip(records, seqs.token_lists, seqs.masks, strict=True):
        response = rec["messages"][1]["content"] if fmt == "messages" else rec["response"]
        # Token by token: the masked-in tokens are one run, the assistant's text and the turn's end.
        on = np.flatnonzero(mask)
        assert (np.diff(on) == 1).all()
        assert tok.decode(ids[on]) == response + tail
        assert tok.decode(ids[: on[0]]).endswith("<|im_start|>assistant\n")
        assert not mask[: on[0]].any() and not mask[on[-1] + 1:].any()
        assert ids[-1] == tok.eos_token_id
    packed = PackedData(seqs, 64, seed=3)
    x, y = packed.batch(range(20))
    for g in range(20):
        pieces = packed.order.pieces(g)
        toks = np.concatenate([seqs.token_lists[s][a:b] for s, a, b in pieces])
        on = np.concatenate([seqs.masks[s][a:b] for s, a, b in pieces])
        assert (x[g].numpy() == toks[:-1]).all()
        assert ((y[g].numpy() != IGNORE) == on[1:]).all()
        assert (y[g].numpy()[on[1:]] == toks[1:][on[1:]]).all()


def test_an_all_masked_example_is_an_error_naming_it(fx, tmp_path):
    bad = tmp_path / "bad.jsonl"
    lines = fx["chat"].read_text().splitlines()[:3]
    lines.insert(2, json.dumps({"id": "no_answer", "messages": [{"role": "user", "content": "Hello?"}]}))
    bad.write_text("\n".join(lines) + "\n")
    config = write_config(fx, "bad_sft", task="sft", data={"path": str(bad), "seq_len": 32, "tokens": None})
    r = subprocess.run([sys.executable, "-m", "trainer", str(config)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1
    assert "no_answer" in r.stderr and ":3" in r.stderr and "assistant" in r.stderr


def test_sft_gpt2_and_lora_train_and_export(fx):
    """Fine-tuning in process (one rank): GPT-2 from the config, then LoRA on the exported model."""
    from transformers import AutoModelForCausalLM

    from trainer import config as tconfig
    from trainer import loop

    path = write_config(fx, "sft", task="sft", model={**MODEL, "arch": "gpt2"},
                        data={"path": str(fx["chat"]), "format": "messages", "seq_len": 64, "tokens": None},
                        train={"steps": 8, "lr": 0.01, "warmup_steps": 1}, eval={"every": 0})
    loop.run(tconfig.load(path))
    rows = steps(path.parent)
    assert rows[-1]["loss"] < rows[0]["loss"] - 0.3
    assert AutoModelForCausalLM.from_pretrained(path.parent / "hf").config.model_type == "gpt2"
    assert json.loads((path.parent / "hf" / "lineage.json").read_text())["task"] == "sft"

    lora = write_config(fx, "lora", task="sft", model={"from_pretrained": str(path.parent / "hf"),
                                                       "lora": {"r": 4, "target_modules": ["c_attn"]}},
                        data={"path": str(fx["chat"]), "format": "messages", "seq_len": 64, "tokens": None},
                        train={"steps": 3, "lr": 0.01}, eval={"every": 0})
    loop.run(tconfig.load(lora))
    merged = AutoModelForCausalLM.from_pretrained(lora.parent / "hf")
    base = AutoModelForCausalLM.from_pretrained(path.parent / "hf")
    assert not any("lora" in k for k in merged.state_dict())
    assert not torch.equal(merged.transformer.h[0].attn.c_attn.weight, base.transformer.h[0].attn.c_attn.weight)
    assert torch.equal(merged.transformer.h[0].mlp.c_fc.weight, base.transformer.h[0].mlp.c_fc.weight)


def test_resume_refuses_other_tokens_or_tokenizer(ddp, fx, tmp_path):
    from corpus.errors import UserError
    from trainer import config as tconfig
    from trainer import loop

    other = td.write_tokens(tmp_path / "other_tokens", fx["tok"], td.documents()[:200])
    path = write_config(fx, "refuse", data={"tokens": str(other)})
    shutil.copytree(ddp / "ckpt" / "step-000004", path.parent / "ckpt" / "step-000004")
    with pytest.raises(UserError, match="tokens manifest differs"):
        loop.Trainer(tconfig.load(path)).train()

    tok2 = td.build_tokenizer(tmp_path / "tok2", vocab_size=520)
    path = write_config(fx, "refuse", tokenizer=str(tok2))
    with pytest.raises(UserError, match="tokenized by another tokenizer"):  # caught by the manifest's hash
        loop.Trainer(tconfig.load(path)).train()


def test_config_mistakes_are_one_line(fx):
    path = write_config(fx, "typo", train={"stepz": 3})
    r = thresher("train", str(path))
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [r.stderr.strip()]
    assert "unknown key 'stepz' in train" in r.stderr
    from corpus.errors import UserError
    from trainer import config as tconfig

    for bad, msg in (({"model": {"arch": "bert"}}, "model.arch"), ({"train": {"lr": "fast"}}, "train.lr"),
                     ({"data": {"seq_len": 32}}, "data.tokens is required")):
        data = yaml.safe_load(write_config(fx, "typo").read_text())
        data.update(bad)
        with pytest.raises(UserError, match=msg):
            tconfig.parse(data, fx["root"])
