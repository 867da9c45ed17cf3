"""Train-time mixtures (`data.tokens` as a weighted list of token folders): the sampler's shares and
order, then real torchrun runs (2 processes, gloo) killed and resumed, and resumed on one process."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import trainer_data as td
import yaml
from conftest import thresher
from test_trainer import MODEL, kill_after_first_checkpoint, losses, resume_on_one_process, steps, torchrun
from testdata import speech_pieces

torch.set_num_threads(1)
STEPS = 12
WEIGHTS = (0.7, 0.3)


@pytest.fixture(scope="module")
def fx(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("mixture")
    tok = td.build_tokenizer(root / "tok")
    speeches = td.build_tokens(root / "inaugural", td.documents("inaugural"), tok)
    union = td.build_tokens(root / "state_union", speech_pieces("state_union", 1500, files=2), tok, val_docs=4)
    return {"root": root, "tok": tok, "sources": [speeches, union]}


def write_config(fx: dict, name: str, **train) -> Path:
    out = fx["root"] / name
    cfg = {"task": "pretrain", "tokenizer": str(fx["tok"]), "model": dict(MODEL),
           "data": {"tokens": [{"path": str(p), "weight": w} for p, w in zip(fx["sources"], WEIGHTS, strict=True)],
                    "seq_len": 32},
           "train": {"steps": STEPS, "micro_batch_size": 2, "grad_accum": 2, "lr": 0.01, "warmup_steps": 2,
                     "seed": 0, **train},
           "checkpoint": {"dir": str(out / "ckpt"), "every": 4, "keep": 10},
           "eval": {"every": 6, "batches": 2}, "output": {"dir": str(out), "export": False}}
    out.mkdir(parents=True, exist_ok=True)
    (out / "train.yaml").write_text(yaml.safe_dump(cfg))
    return out / "train.yaml"


def open_mixture(fx: dict, seed: int = 0):
    from trainer import config, data
    from trainer.model import load_tokenizer, tokenizer_sha256

    cfg = config.load(write_config(fx, f"open-{seed}", seed=seed))
    sha = tokenizer_sha256(cfg.tokenizer)
    return data.open_data(cfg, load_tokenizer(cfg.tokenizer), sha)


def test_realised_shares_follow_the_weights_and_each_source_is_read_in_its_own_order(fx):
    mixed, val, _ = open_mixture(fx)
    names = [str(p) for p in fx["sources"]]
    located = [mixed.locate(g) for g in range(3000)]
    for n in (100, 250, 1000, 1777, 3000):
        share = mixed.mix_share(n)
        tally = np.bincount([s for s, _ in located[:n]], minlength=2) / n
        assert [share[name] for name in names] == pytest.approx(tally.tolist())  # exact arithmetic = replay
        assert abs(share[names[0]] - WEIGHTS[0]) <= 0.02 and abs(share[names[1]] - WEIGHTS[1]) <= 0.02
    for s in (0, 1):  # every source's windows are taken 0, 1, 2, ... in turn: none skipped, none twice
        assert [k for src, k in located if src == s] == list(range(sum(src == s for src, _ in located)))
    # window g is the source's own window k, and trace names the folder it came from
    for g in (0, 1, 2, 999, 1000, 2500):
        s, k = mixed.locate(g)
        np.testing.assert_array_equal(mixed.window(g)[0], mixed.parts[s].window(k)[0])
        assert {p["source"] for p in mixed.doc_ids([g])[0]} == {names[s]}
    # the small source wraps into further epochs (upsampled), the order stays a function of the seed
    assert max(k for src, k in located if src == 1) > mixed.parts[1].order.windows_per_epoch
    again, _, _ = open_mixture(fx)
    other, _, _ = open_mixture(fx, seed=1)
    x = mixed.batch(range(40, 48))[0]
    assert torch.equal(x, again.batch(range(40, 48))[0]) and not torch.equal(x, other.batch(range(40, 48))[0])
    assert val is not None and val.order.windows_per_epoch > 0  # both sources' val/ splits


def test_weights_are_apportioned_exactly_and_spread_evenly():
    from trainer.mixture import apportion, interleave

    counts = apportion([0.7, 0.2, 0.1], 1000)
    assert counts.tolist() == [700, 200, 100]
    assert apportion([1, 1, 1], 1000).tolist() == [334, 333, 333]
    order = interleave(counts)
    assert np.bincount(order).tolist() == [700, 200, 100]
    for n in range(1, 1001):  # every prefix within one window of its target
        assert np.all(np.abs(np.bincount(order[:n], minlength=3) - counts / 1000 * n) < 1)


@pytest.fixture(scope="module")
def mixed_run(fx) -> Path:
    config = write_config(fx, "run")
    torchrun(config)
    return config.parent


def test_metrics_and_lineage_record_the_mix(mixed_run, fx):
    rows = steps(mixed_run)
    assert [r["step"] for r in rows] == list(range(1, STEPS + 1))
    names = [str(p) for p in fx["sources"]]
    global_batch = 2 * 2 * 2
    for r in rows:
        assert set(r["mix_share"]) == set(names)
        assert sum(r["mix_share"].values()) == pytest.approx(1.0)
    assert rows[-1]["mix_share"][names[0]] == pytest.approx(WEIGHTS[0], abs=2 / (STEPS * global_batch))
    assert losses(mixed_run)[-1] < losses(mixed_run)[0]
    lin = json.loads((mixed_run / "ckpt" / "step-000012" / "lineage.json").read_text())
    assert [(m["path"], m["weight"]) for m in lin["mixture"]] == list(zip(names, WEIGHTS, strict=True))
    assert lin["data"] == names and lin["tokens_manifest_sha256"] is None


def test_killed_and_resumed_mixture_losses_equal_unbroken(mixed_run, fx):
    config = write_config(fx, "killed")
    kill_after_first_checkpoint(config, STEPS)
    r = torchrun(config)
    assert "resuming from" in r.stdout
    assert losses(config.parent) == losses(mixed_run)
    assert [s["mix_share"] for s in steps(config.parent)] == [s["mix_share"] for s in steps(mixed_run)]


def test_two_to_one_process_resume_keeps_the_mixed_order(mixed_run, fx):
    from trainer.trace import doc_ids, trace

    config = write_config(fx, "one", grad_accum=4)  # the same global batch on one process
    resume_on_one_process(mixed_run, config, STEPS)
    for step in (5, 12):
        a, b = trace(mixed_run / "ckpt" / "step-000012", step), trace(config.parent / "ckpt" / "step-000012", step)
        assert [w["pieces"] for w in a["windows"]] == [w["pieces"] for w in b["windows"]]
        assert {p["source"] for w in a["windows"] for p in w["pieces"]} <= {str(p) for p in fx["sources"]}
    r = thresher("trace", str(mixed_run / "ckpt" / "step-000012"), "--step", "5")
    assert r.returncode == 0 and r.stdout.splitlines() == doc_ids(trace(mixed_run / "ckpt" / "step-000012", 5)), r.stderr
    assert all(line.split("\t")[1] in {str(p) for p in fx["sources"]} for line in r.stdout.splitlines())


def test_mixture_config_mistakes_are_one_line(fx, tmp_path):
    for tokens, says in (([], "at least one"), ([{"path": str(fx["sources"][0]), "weight": 0}], "weight must be > 0"),
                         ([{"path": str(fx["sources"][0])}, {"path": str(fx["sources"][0])}], "folder twice"),
                         ([{"weight": 1.0}], "missing required key 'path'")):
        cfg = yaml.safe_load(write_config(fx, "bad").read_text())
        cfg["data"]["tokens"] = tokens
        path = tmp_path / "bad.yaml"
        path.write_text(yaml.safe_dump(cfg))
        r = thresher("train", str(path))
        assert r.returncode == 2 and says in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
