"""Throughput without changing results: an async DCP checkpoint (``checkpoint.async: true``) resumes to the
same losses as a synchronous one, and step lines fetched once per ``output.log_every`` interval are
still one per step, in order, with the interval's mean throughput."""

from __future__ import annotations

import json
import shutil

from conftest import thresher
from test_trainer import fx, losses, steps, write_config  # noqa: F401

QUIET = {"eval": {"every": 0}, "output": {"export": False, "log_every": 3}}


def test_async_checkpoints_resume_to_the_same_losses(fx):  # noqa: F811
    train = {"steps": 8, "grad_accum": 1}
    sync = write_config(fx, "sync", train=train, checkpoint={"every": 4}, **QUIET)
    assert thresher("train", str(sync)).returncode == 0
    background = write_config(fx, "async", train=train, checkpoint={"every": 4, "async": True}, **QUIET)
    r = thresher("train", str(background))
    assert r.returncode == 0, r.stderr[-3000:]
    assert losses(background.parent) == losses(sync.parent)
    ckpts = background.parent / "ckpt"
    assert sorted(p.name for p in ckpts.iterdir()) == ["step-000004", "step-000008"]
    for step in (4, 8):
        assert json.loads((ckpts / f"step-{step:06d}" / "lineage.json").read_text())["step"] == step
    assert json.loads((ckpts / "step-000004" / "train_config.json").read_text())["checkpoint"]["async"] is True

    resumed = write_config(fx, "async-resumed", train=train, checkpoint={"every": 4, "async": True}, **QUIET)
    shutil.copytree(ckpts / "step-000004", resumed.parent / "ckpt" / "step-000004")
    r = thresher("train", str(resumed))
    assert r.returncode == 0 and "resuming from" in r.stdout, r.stderr[-3000:]
    assert losses(resumed.parent) == losses(sync.parent)[4:]

    rows = steps(sync.parent)
    assert [r["step"] for r in rows] == list(range(1, 9))
    # Lines are written at steps 3, 4 (checkpoint), 6, 8: each interval shares one throughput figure.
    assert rows[0]["tokens_per_s"] == rows[1]["tokens_per_s"] == rows[2]["tokens_per_s"] > 0
    assert rows[4]["tokens_per_s"] == rows[5]["tokens_per_s"]
