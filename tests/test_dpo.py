"""Preference tuning (``task: dpo``) on pairs built from the bundled self-instruct seed tasks: chosen is a
task's own output, rejected another task's output. A tiny SFT model is trained first, and DPO starts
from its export, so the SFT -> DPO lineage is checked end to end: one-process runs in the test's own process
(`train_here`, ``thresher train``'s code), several processes through real torchrun, trace and mistakes through
the command line."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import orjson
import pytest
import trainer_data as td
import yaml
from conftest import thresher
from test_trainer import TORCHRUN_ENV, kill_after_first_checkpoint, torchrun_cmd, train_here
from testdata import SEED_TASKS

SEQ_LEN = 128
N_PAIRS = 24
MODEL = {"arch": "llama", "hidden_size": 32, "num_layers": 2, "num_heads": 4, "intermediate_size": 64}


def seed_pairs(out: Path, fmt: str) -> Path:
    """Pair ``i``: task ``i``'s instruction, its output (chosen) and task ``i + N/2``'s output (rejected)."""
    tasks = [orjson.loads(line) for line in SEED_TASKS.read_bytes().splitlines()[:N_PAIRS]]
    prompts = [t["instruction"][:100] for t in tasks]
    outputs = [t["instances"][0]["output"][:120] for t in tasks]
    lines = []
    for i in range(N_PAIRS):
        chosen, rejected = outputs[i], outputs[(i + N_PAIRS // 2) % N_PAIRS]
        if fmt == "pairs":
            rec = {"id": tasks[i]["id"], "prompt": prompts[i], "chosen": chosen, "rejected": rejected}
        else:  # hh-rlhf style: one shared earlier exchange, then two endings
            history = [{"role": "user", "content": "Hello."}, {"role": "assistant", "content": "Hello! How can I help?"},
                       {"role": "user", "content": prompts[i]}]
            rec = {"chosen": history + [{"role": "assistant", "content": chosen}],
                   "rejected": history + [{"role": "assistant", "content": rejected}]}
        lines.append(orjson.dumps(rec))
    out.write_bytes(b"\n".join(lines) + b"\n")
    return out


@pytest.fixture(scope="module")
def fx(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("dpo")
    tok = td.build_tokenizer(root / "tok")
    sft = write_config(root / "sft", {
        "task": "sft", "tokenizer": str(tok), "model": MODEL,
        "data": {"path": str(td.chat_jsonl(root / "chat.jsonl", limit=40)), "format": "messages", "seq_len": SEQ_LEN},
        "train": {"steps": 8, "micro_batch_size": 4, "lr": 0.01}, "checkpoint": {"every": 0}})
    train_here(sft)
    return {"root": root, "tok": tok, "sft_hf": root / "sft" / "hf", "pairs": seed_pairs(root / "pairs.jsonl", "pairs"),
            "chat_pairs": seed_pairs(root / "chat_pairs.jsonl", "chat_pairs")}


def write_config(out: Path, cfg: dict) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    cfg.setdefault("output", {"dir": str(out)})
    (out / "train.yaml").write_text(yaml.safe_dump(cfg))
    return out / "train.yaml"


def dpo_config(fx, name: str, fmt: str = "pairs", model: dict | None = None, **train) -> Path:
    return write_config(fx["root"] / name, {
        "task": "dpo", "tokenizer": str(fx["tok"]), "model": model or {"from_pretrained": str(fx["sft_hf"])},
        "data": {"path": str(fx[fmt]), "format": fmt, "seq_len": SEQ_LEN, "val_fraction": 0.2},
        "train": {"steps": 30, "micro_batch_size": 10, "grad_accum": 2, "lr": 0.003, "beta": 0.1, "warmup_steps": 0,
                  **train},
        "checkpoint": {"every": 0}, "eval": {"every": 10, "batches": 1}})


def metrics(out: Path) -> tuple[list[dict], list[dict]]:
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [m for m in lines if "loss" in m], [m for m in lines if "val_loss" in m]


def test_dpo_learns_the_preferences_and_records_the_sft_run_it_started_from(fx):
    cfg = dpo_config(fx, "dpo")
    train_here(cfg)  # in this process: `thresher trace` below is the command line tested
    out = cfg.parent
    steps, val = metrics(out)
    assert len(steps) == 30 and all({"loss", "reward_margin", "pref_acc"} <= m.keys() for m in steps)
    # step 1: the policy is the reference, so every reward is 0 and the loss is log 2
    assert abs(steps[0]["reward_margin"]) < 1e-5 and abs(steps[0]["loss"] - 0.6931) < 1e-3
    assert steps[-1]["pref_acc"] > 0.9
    assert steps[-1]["reward_margin"] > steps[len(steps) // 2]["reward_margin"] > steps[0]["reward_margin"] + 0.1
    assert steps[-1]["loss"] < steps[0]["loss"]
    assert [m["step"] for m in val] == [10, 20, 30]
    assert all({"val_loss", "val_reward_margin", "val_pref_acc"} <= m.keys() for m in val)
    # trace names the pairs of a step: a global batch of 20 from the 19 training pairs
    r = thresher("trace", str(out / "ckpt" / "step-000030"), "--step", "30")
    assert r.returncode == 0, r.stderr
    ids = r.stdout.split()
    assert 1 <= len(ids) <= 19 and set(ids) <= {f"seed_task_{i}" for i in range(N_PAIRS)}
    ref = json.loads((out / "dpo_reference.json").read_text())
    assert len(ref["train"]) + len(ref["val"]) == N_PAIRS
    # lineage: the DPO export names the SFT export it started from, and that one's own lineage
    lin = json.loads((out / "hf" / "lineage.json").read_text())
    assert lin["task"] == "dpo" and lin["from_pretrained"]["path"] == str(fx["sft_hf"])
    assert lin["from_pretrained"]["lineage"]["task"] == "sft"
    from corpus.report import write_model_report

    written = write_model_report(out / "hf", ["json", "md"])
    report = next(p for p in written if p.suffix == ".md").read_text()
    assert "from_pretrained.lineage.task" in report and str(fx["sft_hf"]) in report


def test_chat_pairs_with_lora_use_the_model_without_adapters_as_reference_and_resume(fx):
    lora = {"from_pretrained": str(fx["sft_hf"]), "lora": {"r": 8, "alpha": 16}}
    cfg = dpo_config(fx, "dpo-lora", fmt="chat_pairs", model=lora, steps=12, lr=0.01)
    raw = yaml.safe_load(cfg.read_text())
    raw["checkpoint"] = {"every": 6}
    cfg.write_text(yaml.safe_dump(raw))
    train_here(cfg)
    steps, val = metrics(cfg.parent)
    # LoRA on two attention layers learns slowly: the rewards move the right way, not yet to 0.9 (measured)
    assert abs(steps[0]["reward_margin"]) < 1e-5
    last = steps[-4:]
    assert sum(m["reward_margin"] for m in last) / 4 > 0.01 and sum(m["loss"] for m in last) / 4 < 0.69
    assert val and "val_pref_acc" in val[-1]
    # The cache of step 0 is the base model's: peft's adapters start as zero (step 1's rewards are 0 above).
    ref_base = json.loads((cfg.parent / "dpo_reference.json").read_text())
    # a resume with the cache gone: the reference is rebuilt by switching the (now trained) adapters off
    (cfg.parent / "dpo_reference.json").unlink()
    raw["train"]["steps"] = 14
    cfg.write_text(yaml.safe_dump(raw))
    assert "resuming from" in train_here(cfg)
    ref_rebuilt = json.loads((cfg.parent / "dpo_reference.json").read_text())
    for key in ("train", "val"):
        for a, b in zip(ref_rebuilt[key], ref_base[key], strict=True):
            assert a == pytest.approx(b, abs=1e-4)


def test_dpo_from_an_sft_checkpoint_takes_its_weights_as_reference_and_chains_its_lineage(fx, one_process):
    """``train.init_from``: an SFT checkpoint instead of its export. The checkpoint is loaded before the reference
    is scored, so the reference is the SFT model's (as from its export) and step 1's rewards are 0."""
    ckpt = fx["root"] / "sft" / "ckpt" / "step-000008"
    cfg = dpo_config(fx, "dpo-init-from", model=dict(MODEL), steps=2, init_from=str(ckpt))
    assert f"starting from {ckpt} (step 8" in train_here(cfg)
    steps, _ = metrics(cfg.parent)
    assert abs(steps[0]["reward_margin"]) < 1e-5 and abs(steps[0]["loss"] - 0.6931) < 1e-3
    a, b = (json.loads((out / "dpo_reference.json").read_text()) for out in (cfg.parent, one_process))
    for key in ("train", "val"):
        np.testing.assert_allclose(a[key], b[key], atol=1e-4)
    lin = json.loads((cfg.parent / "hf" / "lineage.json").read_text())
    assert lin["task"] == "dpo" and lin["init_from"]["checkpoint"] == str(ckpt)
    assert lin["init_from"]["lineage"]["task"] == "sft"


def test_only_the_differing_answers_are_scored(fx):
    """A chat_pairs conversation scores the same tokens as the pairs form of it: the shared history, prompt
    and any common start of the two answers count for neither side."""
    from trainer.dpo import open_pairs
    from trainer.model import load_tokenizer

    tok = load_tokenizer(str(fx["tok"]))
    plain, chat = open_pairs(str(fx["pairs"]), "pairs", tok), open_pairs(str(fx["chat_pairs"]), "chat_pairs", tok)
    for i in range(N_PAIRS):
        for side in (0, 1):
            assert plain.masks[i][side].sum() == chat.masks[i][side].sum() > 0
            scored = chat.tokens[i][side][chat.masks[i][side]]
            assert (scored == plain.tokens[i][side][plain.masks[i][side]]).all()


@pytest.mark.parametrize("change, message", [
    ({"data": {"format": "messages"}}, "data.format must be one of pairs, chat_pairs"),
    ({"train": {"beta": 0}}, "train.beta must be > 0"),
])
def test_a_config_mistake_is_one_line_and_exit_2(fx, change, message):
    cfg = dpo_config(fx, "dpo-bad")
    raw = yaml.safe_load(cfg.read_text())
    for section, values in change.items():
        raw[section].update(values)
    cfg.write_text(yaml.safe_dump(raw))
    r = thresher("train", str(cfg))
    assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_a_pair_without_a_differing_answer_is_one_line_and_exit_2(fx):
    same = fx["root"] / "same.jsonl"
    same.write_text(json.dumps({"prompt": "Hi", "chosen": "Yes.", "rejected": "Yes."}) + "\n")
    cfg = dpo_config(fx, "dpo-same")
    raw = yaml.safe_load(cfg.read_text())
    raw["data"].update(path=str(same), val_fraction=0.0)
    cfg.write_text(yaml.safe_dump(raw))
    r = thresher("train", str(cfg))
    assert r.returncode == 2 and "do not differ" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def gloo_config(fx, name: str, nproc: int, **sections) -> Path:
    """A DPO run of ``GLOO_STEPS`` steps with a global batch of 20 pairs whatever ``nproc`` (2 x 5 x 2 or 1 x 10 x 2),
    evaluated and checkpointed every 2 steps; ``sections`` update the config's sections key by key."""
    cfg = dpo_config(fx, name, steps=GLOO_STEPS, micro_batch_size=10 // nproc)
    raw = yaml.safe_load(cfg.read_text())
    raw.update(eval={"every": 2, "batches": 1}, checkpoint={"every": 2, "keep": 10})
    raw["output"]["export"] = False
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value}
    cfg.write_text(yaml.safe_dump(raw))
    return cfg


def launch(cfg: Path, nproc: int) -> str:
    """The run on ``nproc`` processes (real torchrun with gloo), or on one in this process; what it printed."""
    if nproc == 1:
        return train_here(cfg)
    r = subprocess.run(torchrun_cmd(cfg, nproc), capture_output=True, text=True, timeout=600, env=TORCHRUN_ENV)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


GLOO_STEPS = 6
PAIR_KEYS = ("loss", "reward_margin", "pref_acc", "val_loss", "val_reward_margin", "val_pref_acc")


def assert_same_metrics(a: Path, b: Path, abs_tol: float) -> None:
    """Every step and validation line of run ``a`` equals ``b``'s on the DPO keys (``abs_tol`` 0: exactly)."""
    rows_a, rows_b = (sum(metrics(out), []) for out in (a, b))
    assert [r["step"] for r in rows_a] == [r["step"] for r in rows_b] and len(rows_a) == GLOO_STEPS + GLOO_STEPS // 2
    for x, y in zip(rows_a, rows_b, strict=True):
        for k in PAIR_KEYS:
            if k in x:
                assert x[k] == pytest.approx(y[k], abs=abs_tol, rel=0), (k, x, y)


@pytest.fixture(scope="module")
def one_process(fx) -> Path:
    cfg = gloo_config(fx, "dpo-one", 1)
    launch(cfg, 1)
    return cfg.parent


@pytest.fixture(scope="module")
def fsdp(fx) -> Path:
    cfg = gloo_config(fx, "dpo-fsdp", 2, parallel={"strategy": "fsdp"})
    launch(cfg, 2)
    return cfg.parent


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_two_gloo_processes_give_the_one_process_metrics(fx, one_process, fsdp, strategy):
    """DDP and FSDP2 split each global batch of pairs over ranks; the frozen reference's log-probabilities are
    computed by every rank (FSDP's all-gathers are collective) and are the one process's; the losses, margins and
    accuracies, on training and validation pairs, are the batch's."""
    if strategy == "fsdp":
        run = fsdp
    else:
        cfg = gloo_config(fx, "dpo-ddp", 2)
        launch(cfg, 2)
        run = cfg.parent
    assert_same_metrics(run, one_process, 1e-4)
    assert metrics(one_process)[0][-1]["pref_acc"] > metrics(one_process)[0][0]["pref_acc"]  # it learns meanwhile
    a, b = (json.loads((out / "dpo_reference.json").read_text()) for out in (run, one_process))
    for key in ("train", "val"):
        np.testing.assert_allclose(a[key], b[key], atol=1e-4)


def test_fsdp_killed_and_resumed_dpo_losses_equal_unbroken(fx, fsdp):
    """A killed 2-process FSDP run resumes from its sharded checkpoint and the cached reference log-probabilities:
    the same pairs in the same order, the same losses to the last bit."""
    cfg = gloo_config(fx, "dpo-fsdp-killed", 2, parallel={"strategy": "fsdp"})
    killed_at = kill_after_first_checkpoint(cfg, GLOO_STEPS)
    out = launch(cfg, 2)
    assert f"resuming from {cfg.parent / 'ckpt' / f'step-{killed_at:06d}'}" in out
    assert_same_metrics(cfg.parent, fsdp, 0)


def test_lora_under_fsdp_gives_the_one_process_metrics(fx):
    """LoRA adapters sharded with their blocks; the reference is the model with the adapters off, on every rank."""
    lora = {"from_pretrained": str(fx["sft_hf"]), "lora": {"r": 8, "alpha": 16}}
    runs = []
    for nproc in (2, 1):
        cfg = gloo_config(fx, f"dpo-lora-{nproc}", nproc, model=lora, parallel={"strategy": "fsdp"})
        launch(cfg, nproc)
        runs.append(cfg.parent)
    assert_same_metrics(*runs, 1e-4)
