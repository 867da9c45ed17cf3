"""Schedules and phases: ``schedule: wsd`` learning rates as the formula gives them, read back from a real
run's metrics.jsonl, and an annealing phase started from another run's checkpoint (``train.init_from``)
with fresh or continued optimizer state, on new data made with the same tokenizer."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import trainer_data as td
from conftest import thresher
from test_trainer import fx, steps, train_here, write_config  # noqa: F401  (fx: the shared tokenizer and tokens)

from trainer.schedule import lr_multiplier


def wsd(step: int, total: int, warmup: int, fraction: float, shape: str, lr: float, min_lr: float) -> float:
    """The learning rate of ``step`` (from 1) written out by hand: warmup, stable, then decay to min_lr."""
    decay = max(1, round(fraction * total))
    start = total - decay  # the first 0-based step index that decays
    i = step - 1
    if i < warmup:
        return lr * (i + 1) / warmup
    if i < start:
        return lr
    p = (i - start) / decay
    f = {"linear": 1 - p, "cosine": 0.5 * (1 + math.cos(math.pi * p)), "sqrt": 1 - math.sqrt(p)}[shape]
    return min_lr + (lr - min_lr) * f


@pytest.mark.parametrize("shape", ["linear", "cosine", "sqrt"])
def test_wsd_multiplier_equals_the_formula_at_every_step(shape):
    for total, warmup, fraction in ((100, 10, 0.2), (37, 0, 0.5), (10, 3, 0.1)):
        for step in range(1, total + 1):
            got = lr_multiplier(step - 1, warmup, total, 0.05, "wsd", fraction, shape)
            assert got == pytest.approx(wsd(step, total, warmup, fraction, shape, 1.0, 0.05), abs=1e-12)


def test_wsd_learning_rates_of_a_real_run_equal_the_formula(fx):  # noqa: F811
    cfg = write_config(fx, "wsd", train={"steps": 10, "warmup_steps": 2, "schedule": "wsd", "decay_fraction": 0.4,
                                         "decay_shape": "sqrt", "lr": 0.01, "min_lr": 0.001, "grad_accum": 1},
                       eval={"every": 0}, checkpoint={"every": 0}, output={"export": False})
    train_here(cfg)
    lrs = {s["step"]: s["lr"] for s in steps(cfg.parent)}
    for step in (1, 2, 3, 6, 7, 8, 9, 10):  # warmup, stable, the first decay step, the decay, the last
        assert lrs[step] == pytest.approx(wsd(step, 10, 2, 0.4, "sqrt", 0.01, 0.001), rel=1e-9), step
    assert lrs[3] == lrs[6] == 0.01 and lrs[10] < lrs[9] < lrs[8] < lrs[7] == 0.01


@pytest.fixture(scope="module")
def stable(fx) -> Path:  # noqa: F811
    """The step-8 checkpoint of a stable phase: the start of the annealing phases and of the refused shape."""
    train = {"steps": 8, "warmup_steps": 2, "schedule": "wsd", "decay_fraction": 0.25, "grad_accum": 1}
    base = write_config(fx, "stable", train=train, eval={"every": 0}, checkpoint={"every": 8},
                        output={"export": False})
    train_here(base)
    return base.parent / "ckpt" / "step-000008"


def test_init_from_starts_a_new_phase_with_fresh_or_continued_optimizer(fx, stable):  # noqa: F811
    ckpt = stable
    new_mix = td.build_tokens(fx["root"] / "state_union", td.documents("state_union"), fx["tok"])
    phase = {"steps": 4, "warmup_steps": 0, "schedule": "linear", "lr": 0.003, "min_lr": 0.0, "grad_accum": 1,
             "init_from": str(ckpt)}
    runs = {}
    for opt in ("fresh", "continue"):
        cfg = write_config(fx, f"anneal-{opt}", train={**phase, "init_optimizer": opt},
                           data={"tokens": str(new_mix)}, eval={"every": 0}, checkpoint={"every": 4},
                           output={"export": False})
        assert f"starting from {ckpt} (step 8, optimizer {opt})" in train_here(cfg)
        runs[opt] = [s["loss"] for s in steps(cfg.parent)]
        lin = json.loads((cfg.parent / "ckpt" / "step-000004" / "lineage.json").read_text())
        assert lin["init_from"]["checkpoint"] == str(ckpt) and lin["init_from"]["optimizer"] == opt
        assert lin["init_from"]["lineage"]["step"] == 8 and lin["data"] == str(new_mix)
        # A rerun resumes its own checkpoint, not init_from again.
        out = train_here(cfg)
        assert "resuming from" in out and "starting from" not in out
    scratch = write_config(fx, "scratch", train={**phase, "init_from": None}, data={"tokens": str(new_mix)},
                           eval={"every": 0}, checkpoint={"every": 0}, output={"export": False})
    train_here(scratch)
    first_scratch = steps(scratch.parent)[0]["loss"]
    # The same weights see the same first batch; AdamW's moments then make the second step differ.
    assert runs["fresh"][0] == runs["continue"][0] < first_scratch - 0.5
    assert runs["fresh"][1] != runs["continue"][1]


def test_init_from_refuses_another_model_shape(fx, stable):  # noqa: F811
    cfg = write_config(fx, "shape-other", model={"num_layers": 3}, eval={"every": 0},
                       train={"steps": 2, "init_from": str(stable)})
    r = thresher("train", str(cfg))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "cannot start from" in r.stderr and "model.num_layers was 2, now 3" in r.stderr
    bad = write_config(fx, "bad-wsd", train={"steps": 10, "warmup_steps": 9, "schedule": "wsd"})
    r = thresher("train", str(bad))
    assert r.returncode == 2 and "runs into the wsd decay" in r.stderr
