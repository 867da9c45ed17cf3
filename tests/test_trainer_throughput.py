"""Throughput without changing results: an async DCP checkpoint (``checkpoint.async: true``) resumes to the
same losses as a synchronous one, and step lines fetched once per ``output.log_every`` interval are
still one per step, in order, with the interval's mean throughput."""

from __future__ import annotations

import json
import shutil

import pytest
from test_trainer import fx, losses, steps, train_here, write_config  # noqa: F401

QUIET = {"eval": {"every": 0}, "output": {"export": False, "log_every": 3}}


def test_async_checkpoints_resume_to_the_same_losses(fx):  # noqa: F811
    train = {"steps": 8, "grad_accum": 1}
    sync = write_config(fx, "sync", train=train, checkpoint={"every": 4}, **QUIET)
    train_here(sync)
    background = write_config(fx, "async", train=train, checkpoint={"every": 4, "async": True}, **QUIET)
    train_here(background)
    assert losses(background.parent) == losses(sync.parent)
    ckpts = background.parent / "ckpt"
    assert sorted(p.name for p in ckpts.iterdir()) == ["step-000004", "step-000008"]
    for step in (4, 8):
        assert json.loads((ckpts / f"step-{step:06d}" / "lineage.json").read_text())["step"] == step
    assert json.loads((ckpts / "step-000004" / "train_config.json").read_text())["checkpoint"]["async"] is True

    resumed = write_config(fx, "async-resumed", train=train, checkpoint={"every": 4, "async": True}, **QUIET)
    shutil.copytree(ckpts / "step-000004", resumed.parent / "ckpt" / "step-000004")
    assert "resuming from" in train_here(resumed)
    assert losses(resumed.parent) == losses(sync.parent)[4:]

    rows = steps(sync.parent)
    assert [r["step"] for r in rows] == list(range(1, 9))
    # Lines are written at steps 3, 4 (checkpoint), 6, 8: each interval shares one throughput figure.
    assert rows[0]["tokens_per_s"] == rows[1]["tokens_per_s"] == rows[2]["tokens_per_s"] > 0
    assert rows[4]["tokens_per_s"] == rows[5]["tokens_per_s"]


def test_new_keys_are_checked_and_async_is_spelled_as_in_yaml(tmp_path):
    from corpus.errors import UserError
    from trainer import config

    base = {"tokenizer": "gpt2", "data": {"tokens": "t"}}
    cfg = config.parse({**base, "checkpoint": {"async": True}}, tmp_path)
    assert cfg.checkpoint.async_ is True and cfg.to_dict()["checkpoint"]["async"] is True
    assert config.parse(cfg.to_dict(), tmp_path).checkpoint.async_ is True  # as train_config.json is read back
    for bad, words in (({"checkpoint": {"async_": True}}, "unknown key 'async_'"),
                       ({"model": {"dtype": "fp16"}}, "model.dtype must be one of fp32, bf16"),
                       ({"output": {"export_dtype": "int8"}}, "output.export_dtype"),
                       ({"train": {"decay_shape": "step"}}, "train.decay_shape"),
                       ({"train": {"init_optimizer": "keep"}}, "train.init_optimizer")):
        with pytest.raises(UserError, match=words):
            config.parse({**base, **bad}, tmp_path)
