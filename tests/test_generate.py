"""``thresher generate`` and ``eval.sample_prompt``: greedy continuations equal to transformers' own greedy
``generate`` on the exported model, from an export, a checkpoint or a training output alike."""

from __future__ import annotations

import pytest
import torch
from conftest import thresher
from test_trainer import fx, train_here, write_config  # noqa: F401

PROMPT = "Fellow citizens of the"


@pytest.fixture(scope="module")
def run(fx):  # noqa: F811
    cfg = write_config(fx, "sampled", train={"steps": 4, "grad_accum": 1},
                       eval={"every": 2, "sample_prompt": PROMPT, "sample_max_new_tokens": 6},
                       checkpoint={"every": 4})
    return cfg.parent, train_here(cfg)  # in this process: `thresher generate` is the command line tested


def test_a_sample_is_printed_at_each_evaluation(run):
    out, stdout = run
    samples = [ln for ln in stdout.splitlines() if ln.startswith("thresher: sample at step")]
    assert [ln.split(":")[1] for ln in samples] == [" sample at step 2", " sample at step 4"]
    assert all(f"{PROMPT!r} -> '" in ln for ln in samples)


def test_generate_equals_transformers_greedy_decoding(run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out, stdout = run
    model = AutoModelForCausalLM.from_pretrained(out / "hf").eval()
    tok = AutoTokenizer.from_pretrained(out / "hf")
    ids = tok(PROMPT, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        ref = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=6, do_sample=False,
                             eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    expected = tok.decode(ref[0, ids.shape[1]:])
    r = thresher("generate", str(out / "hf"), "--prompt", PROMPT, "--max-new-tokens", "6")
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout == expected + "\n"
    from trainer.evaluate import load_model
    from trainer.generate import complete

    for model_ref in (out / "ckpt" / "step-000004", out):  # what `thresher generate` runs, in this process
        assert complete(*load_model(str(model_ref)), PROMPT, 6) == expected
    assert f"sample at step 4: {PROMPT!r} -> {expected!r}" in stdout  # the training-time sample, too


def test_generate_mistakes_are_one_line(run, tmp_path):
    out, _ = run
    for args, words in ((["--max-new-tokens", "0"], "--max-new-tokens must be >= 1"),
                        (["--chat"], None)):
        r = thresher("generate", str(out / "hf"), "--prompt", PROMPT, *args)
        if words is None:  # the fixture tokenizer has a chat template: --chat renders through it
            assert r.returncode == 0, r.stderr[-3000:]
            continue
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and words in r.stderr, r.stderr
    r = thresher("generate", str(tmp_path / "missing"), "--prompt", PROMPT)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
