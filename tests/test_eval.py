"""``thresher eval``: every figure recomputed directly with `transformers` on a tiny model, to 1e-4."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import trainer_data as td
from conftest import thresher

torch.set_num_threads(1)
WINDOW = 48  # the model's positions: the long documents need the sliding window


@pytest.fixture(scope="module")
def fx(tmp_path_factory) -> dict[str, Path]:
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    root = tmp_path_factory.mktemp("eval")
    tok_dir = td.build_tokenizer(root / "tok")
    tok = AutoTokenizer.from_pretrained(tok_dir)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, max_position_embeddings=WINDOW, eos_token_id=tok.eos_token_id,
                      bos_token_id=tok.bos_token_id, pad_token_id=tok.pad_token_id)
    model = LlamaForCausalLM(cfg)
    model.save_pretrained(root / "model")
    tok.save_pretrained(root / "model")
    docs = [t for _, t in td.documents("state_union", chars=700)[:3]] + ["Short één."]
    (root / "news.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in docs))
    items = [{"context": "The people of the United", "choices": ["States", "banana", "of"], "gold": 0},
             {"context": "We hold these truths to be ", "choices": ["self-evident", "purple"], "gold": 0},
             {"context": "", "choices": ["Congress shall make no law", "zzz qqq"], "gold": 1},
             {"context": "Ask not what your country can do for you, ask what you can do for your",
              "choices": ["country", "neighbour's cat", "taxes"], "gold": 0}]
    (root / "cloze.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items))
    return {"root": root, "model": root / "model", "docs": docs, "items": items}


def reference(fx, stride: int) -> dict:
    """The figures computed the plain way: Hugging Face's sliding-window perplexity recipe for held-out
    text, lm-evaluation-harness's context/continuation split for choices, the model's own loss."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(fx["model"])
    model = AutoModelForCausalLM.from_pretrained(fx["model"], dtype=torch.float32).eval()
    bits = nbytes = ntok = 0
    for text in fx["docs"]:
        ids = torch.tensor([[tok.eos_token_id] + tok(text, add_special_tokens=False)["input_ids"]])
        ntok += ids.shape[1] - 1
        nbytes += len(text.encode())
        prev = 0
        for begin in range(0, ids.shape[1], stride):
            end = min(begin + WINDOW, ids.shape[1])
            start = min(begin, max(prev, 1) - 1)  # the token before the first target starts the window
            x = ids[:, start:end]
            labels = x.clone()
            labels[:, :max(prev, 1) - start] = -100
            with torch.no_grad():
                loss = model(input_ids=x, labels=labels).loss
            bits += loss.item() * int((labels[:, 1:] != -100).sum()) / math.log(2)
            prev = end
            if end == ids.shape[1]:
                break

    def ll(context: str, choice: str) -> float:
        cont = " " + choice
        n = len(context) - len(context.rstrip())
        if n:
            context, cont = context[:-n], context[-n:] + cont
        whole = tok(context + cont, add_special_tokens=False)["input_ids"]
        ctx = tok(context, add_special_tokens=False)["input_ids"] if context else [tok.eos_token_id]
        c = whole[len(tok(context, add_special_tokens=False)["input_ids"]) if context else 0:]
        x = torch.tensor([ctx + c])
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=x).logits[0], -1)
        return sum(logp[len(ctx) + i - 1, t].item() for i, t in enumerate(c))

    acc = acc_norm = gold_ll = gold_bits = gold_bytes = 0.0
    for item in fx["items"]:
        lls = [ll(item["context"], ch) for ch in item["choices"]]
        sizes = [len((" " + ch).encode()) for ch in item["choices"]]
        g = item["gold"]
        acc += lls.index(max(lls)) == g
        norm = [a / b for a, b in zip(lls, sizes, strict=True)]
        acc_norm += norm.index(max(norm)) == g
        gold_ll += lls[g]
        gold_bits -= lls[g] / math.log(2)
        gold_bytes += sizes[g]
    n = len(fx["items"])
    return {"heldout": {"news": {"bpb": bits / nbytes, "bytes": nbytes, "tokens": ntok}},
            "tasks": {"cloze": {"acc": acc / n, "acc_norm": acc_norm / n, "gold_logprob": gold_ll / n,
                                "gold_bpb": gold_bits / gold_bytes, "n": n}}}


@pytest.mark.parametrize("stride", [16, WINDOW])
def test_eval_equals_direct_transformers(fx, stride):
    """Through the command line with an overlapping window; in-process with windows end to end."""
    heldout, tasks = {"news": str(fx["root"] / "news.jsonl")}, [str(fx["root"] / "cloze.jsonl")]
    if stride == WINDOW:
        from trainer.evaluate import evaluate

        got = evaluate(str(fx["model"]), heldout, tasks, stride=stride).summary()
    else:
        r = thresher("eval", str(fx["model"]), "--heldout", f"news={heldout['news']}", "--tasks", *tasks,
                     "--stride", str(stride), "--json")
        assert r.returncode == 0, r.stderr
        got = json.loads(r.stdout)
    want = reference(fx, stride)
    assert set(got) == {"heldout", "tasks"}
    assert set(got["heldout"]["news"]) == {"bpb", "bytes", "tokens"}
    assert set(got["tasks"]["cloze"]) == {"acc", "acc_norm", "gold_logprob", "gold_bpb", "n"}
    assert got["heldout"]["news"]["tokens"] > 3 * WINDOW  # the window really slides
    for section in ("heldout", "tasks"):
        for name, figures in want[section].items():
            for key, value in figures.items():
                assert got[section][name][key] == pytest.approx(value, abs=1e-4), (section, name, key)


def test_eval_table_names_metrics(fx):
    from trainer.evaluate import evaluate, format_table

    summary = evaluate(str(fx["model"]), {"news": str(fx["root"] / "news.jsonl")},
                       [str(fx["root"] / "cloze.jsonl")]).summary()
    names = [line.split()[0] for line in format_table(summary).splitlines()]
    assert names == ["bpb/news", "cloze/acc", "cloze/acc_norm", "cloze/gold_logprob", "cloze/gold_bpb"]


@pytest.mark.parametrize("args, message", [
    (["--heldout", "news"], "NAME=PATH"),
    (["--heldout", "news=/nonexistent.jsonl"], "held-out file not found"),
    (["--tasks", "lm_eval:hellaswag"], "lm-eval package, which is not installed"),
    (["--stride", "0", "--heldout", "n=NEWS"], "--stride"),
])
def test_eval_user_mistakes_are_one_line(fx, args, message):
    if "lm_eval:hellaswag" in args and __import__("importlib").util.find_spec("lm_eval") is not None:
        pytest.skip("lm-eval is installed here")
    args = [a.replace("NEWS", str(fx["root"] / "news.jsonl")) for a in args]
    r = thresher("eval", str(fx["model"]), *args)
    assert r.returncode == 2
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_eval_bad_task_line(fx, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"context": "a", "choices": ["b", "c"], "gold": 5}\n')
    r = thresher("eval", str(fx["model"]), "--tasks", str(bad))
    assert r.returncode == 2 and "bad.jsonl:1: gold" in r.stderr


def test_a_special_token_spelled_in_text_is_scored_as_text(fx) -> None:
    """Held-out text that spells the EOS gets the ids of its characters, not the model's EOS."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trainer.evaluate import Scorer

    tok = AutoTokenizer.from_pretrained(fx["model"])
    scorer = Scorer(AutoModelForCausalLM.from_pretrained(fx["model"]), tok)
    ids = scorer.encode(f"before {tok.eos_token} after")
    assert tok.eos_token_id not in ids and tok.decode(ids) == f"before {tok.eos_token} after"
