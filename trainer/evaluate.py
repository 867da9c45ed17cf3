"""``thresher eval``: bits per byte on held-out text and multiple-choice tasks, for any causal LM folder.

Why these figures: DataDecide (AI2, 2025) found that continuous metrics (bits per byte, the likelihood of
the right answer) rank small proxy models far more reliably than accuracy, so each task reports both.

- Bits per byte: the negative log-likelihood of every token of a document, in bits, over its UTF-8
  bytes; summed over documents, so the figure does not depend on the tokenizer. The first token is
  predicted after the EOS token (what preceded a document when it was packed for training, and the
  "end of text" prefix lm-evaluation-harness uses); a document longer than the model's window is scored
  with a sliding window whose step is ``stride`` tokens, each token once, with at least
  ``max_length - stride`` tokens of context.
- Multiple choice, as lm-evaluation-harness scores it: each choice is the continuation ``" " + choice``
  of the context (trailing whitespace of the context moves into the continuation; the continuation's
  tokens are those of ``context + continuation`` past the context's own), its log-likelihood the sum
  over its tokens. ``acc`` takes the best sum, ``acc_norm`` the best sum per byte of continuation,
  ``gold_logprob`` is the right answer's mean log-likelihood (nats) and ``gold_bpb`` its bits per byte.

Per-item figures are kept (`Scores`) so an ablation can bootstrap over eval items.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corpus.errors import UserError
from trainer.config import EXPORT_DIR

LM_EVAL = "lm_eval:"  # --tasks lm_eval:hellaswag runs through the lm-eval package
DELIMITER = " "  # lm-evaluation-harness's target_delimiter
DEFAULT_WINDOW = 2048  # tokens per window unless --max-length says otherwise (lm-evaluation-harness's default)


@dataclass
class Heldout:
    """Per document: NLL in bits, UTF-8 bytes, tokens scored."""
    bits: list[float] = field(default_factory=list)
    bytes: list[int] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"bpb": ratio(self.bits, self.bytes), "bytes": sum(self.bytes), "tokens": sum(self.tokens)}


@dataclass
class Choices:
    """Per item: right by sum, right per byte, the gold continuation's log-likelihood (nats) and bytes."""
    correct: list[float] = field(default_factory=list)
    correct_norm: list[float] = field(default_factory=list)
    gold_ll: list[float] = field(default_factory=list)
    gold_bytes: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        n = len(self.correct)
        return {"acc": mean(self.correct), "acc_norm": mean(self.correct_norm), "gold_logprob": mean(self.gold_ll),
                "gold_bpb": ratio([-ll / math.log(2) for ll in self.gold_ll], self.gold_bytes), "n": n}


@dataclass
class Scores:
    heldout: dict[str, Heldout] = field(default_factory=dict)
    tasks: dict[str, Choices | dict[str, Any]] = field(default_factory=dict)  # dict: lm-eval's own summary

    def summary(self) -> dict[str, Any]:
        """The ``--json`` shape: ``{"heldout": {NAME: {bpb, bytes, tokens}}, "tasks": {TASK: {acc, ...}}}``."""
        return {"heldout": {k: v.summary() for k, v in self.heldout.items()},
                "tasks": {k: v if isinstance(v, dict) else v.summary() for k, v in self.tasks.items()}}


def metrics(summary: dict[str, Any]) -> dict[str, float]:
    """Flat metric names, as everything outside ``--json`` spells them: ``bpb/NAME``, ``TASK/acc``, ..."""
    out = {f"bpb/{name}": h["bpb"] for name, h in summary["heldout"].items()}
    for task, t in summary["tasks"].items():
        out.update({f"{task}/{k}": v for k, v in t.items() if k != "n" and v is not None})
    return out


def mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def ratio(num: list[float], den: list[int]) -> float | None:
    return sum(num) / sum(den) if sum(den) else None


# ---- the model -------------------------------------------------------------------------------------------
def load_model(name: str) -> tuple[Any, Any]:
    """``(model, tokenizer)`` from a checkpoint ``step-NNNNNN``, a training output (its ``hf/``), a
    ``transformers`` folder (a Thresher export is one), or a hub id (through the Hugging Face cache)."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trainer.checkpoint import CONFIG_FILE

    transformers.utils.logging.disable_progress_bar()  # no "Loading weights" bar on stderr
    p = Path(name).expanduser()
    if (p / CONFIG_FILE).is_file():
        from trainer.export import load_checkpoint_model

        model, tok, _ = load_checkpoint_model(p)
        return model, tok
    if (p / EXPORT_DIR / "config.json").is_file():
        p = p / EXPORT_DIR
    if not p.exists() and name.startswith((".", "/", "~")):
        raise UserError(f"model not found: {name}")
    where = str(p) if p.exists() else name
    try:
        tok = AutoTokenizer.from_pretrained(where)
        model = AutoModelForCausalLM.from_pretrained(where, dtype=torch.float32)
    except (OSError, ValueError) as e:
        raise UserError(f"cannot load model {name!r}: {str(e).splitlines()[0]}") from None
    return model.eval(), tok


def max_length(model: Any) -> int:
    """The model's context in tokens (Llama: max_position_embeddings; GPT-2: n_positions)."""
    cfg = model.config
    return int(getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None) or 2048)


class Scorer:
    """Log-likelihoods of token sequences under one model, one window at a time."""

    def __init__(self, model: Any, tok: Any, length: int | None = None, stride: int | None = None):
        import torch

        self.torch = torch
        self.model, self.tok = model, tok
        self.device = next(model.parameters()).device
        self.length = min(length or DEFAULT_WINDOW, max_length(model))
        self.stride = min(stride or max(1, self.length // 2), self.length)
        self.prefix = tok.eos_token_id if tok.eos_token_id is not None else tok.bos_token_id
        if self.prefix is None:
            raise UserError("the tokenizer has neither EOS nor BOS: the first token would have no context")

    def encode(self, text: str) -> list[int]:
        """Text is only text: a document spelling ``<|end_of_text|>`` is scored on those characters,
        never as the EOS (``split_special_tokens``; ``add_special_tokens`` only stops adding them)."""
        return self.tok(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]

    def _logprobs(self, window: list[int], first: int) -> Any:
        """log p(window[i] | window[:i]) for ``i`` in ``first..len(window)-1`` (the model sees ``window[:-1]``)."""
        torch = self.torch
        with torch.no_grad():
            x = torch.tensor([window], device=self.device)
            logits = self.model(input_ids=x[:, :-1]).logits[0, first - 1:].float()  # the last token is only a target
        return torch.log_softmax(logits, -1).gather(1, x[0, first:, None]).squeeze(1)

    def nll(self, ids: list[int]) -> float:
        """Total NLL (nats) of ``ids`` after the prefix token: windows of ``length`` tokens starting every
        ``stride`` tokens, each scoring the tokens the previous one did not (Hugging Face's perplexity recipe,
        except that no token goes unscored when the stride is the whole window)."""
        seq = [self.prefix, *ids]
        total, scored = 0.0, 1
        for begin in range(0, len(seq), self.stride):
            end = min(begin + self.length, len(seq))
            if end > scored:  # reach back one token when the window would start on its first target
                start = min(begin, scored - 1)
                total -= float(self._logprobs(seq[start:end], scored - start).sum())
                scored = end
            if end == len(seq):
                break
        return total

    def continuation_ll(self, context: str, continuation: str) -> float:
        """Log-likelihood (nats) of ``continuation`` after ``context``, as lm-evaluation-harness computes it."""
        spaces = len(context) - len(context.rstrip())
        if spaces:
            context, continuation = context[:-spaces], context[-spaces:] + continuation
        whole = self.encode(context + continuation)
        ctx = self.encode(context) if context else []
        cont = whole[len(ctx):]
        if not cont:
            return 0.0
        seq = ((ctx or [self.prefix]) + cont)[-(self.length + 1):]  # cut from the left, as the harness does
        return float(self._logprobs(seq, max(1, len(seq) - len(cont))).sum())

    def heldout(self, texts: list[str]) -> Heldout:
        h = Heldout()
        for text in texts:
            ids = self.encode(text)
            h.bits.append(self.nll(ids) / math.log(2))
            h.bytes.append(len(text.encode("utf-8")))
            h.tokens.append(len(ids))
        return h

    def choices(self, items: list[dict[str, Any]]) -> Choices:
        c = Choices()
        for item in items:
            conts = [DELIMITER + ch for ch in item["choices"]]
            lls = [self.continuation_ll(item["context"], cont) for cont in conts]
            sizes = [len(cont.encode("utf-8")) for cont in conts]
            gold = item["gold"]
            c.correct.append(float(argmax(lls) == gold))
            c.correct_norm.append(float(argmax([ll / max(1, b) for ll, b in zip(lls, sizes, strict=True)]) == gold))
            c.gold_ll.append(lls[gold])
            c.gold_bytes.append(sizes[gold])
        return c


def argmax(xs: list[float]) -> int:
    return max(range(len(xs)), key=xs.__getitem__)


# ---- the inputs ------------------------------------------------------------------------------------------
def read_texts(path: str) -> list[str]:
    """Held-out documents: JSONL (``.jsonl``, ``.gz``, ``.zst``) with a ``text`` field, or one plain text file."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"held-out file not found: {path}")
    if ".jsonl" not in p.name:
        return [p.read_text(encoding="utf-8")]
    return [str(rec["text"]) for _, rec in _jsonl(p, ("text",))]


def read_items(path: str) -> list[dict[str, Any]]:
    """Multiple-choice items ``{"context", "choices": [...], "gold": i}``, checked line by line."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"task file not found: {path}")
    items = []
    for lineno, rec in _jsonl(p, ("context", "choices", "gold")):
        ch, gold = rec["choices"], rec["gold"]
        if not (isinstance(rec["context"], str) and isinstance(ch, list) and len(ch) >= 2
                and all(isinstance(c, str) for c in ch)):
            raise UserError(f"{path}:{lineno}: context must be a string and choices a list of two or more strings")
        if not (isinstance(gold, int) and not isinstance(gold, bool) and 0 <= gold < len(ch)):
            raise UserError(f"{path}:{lineno}: gold must be the index of the right choice (0..{len(ch) - 1})")
        items.append(rec)
    if not items:
        raise UserError(f"{path}: no items")
    return items


def _jsonl(p: Path, keys: tuple[str, ...]) -> Iterator[tuple[int, dict[str, Any]]]:
    from corpus.io.jsonl import open_compressed
    from trainer.data import jsonl_objects  # imports torch: only once a file is read

    with open_compressed(str(p)) as f:
        for lineno, rec in jsonl_objects(f, p):
            missing = [k for k in keys if k not in rec]
            if missing:
                raise UserError(f"{p}:{lineno}: missing field {missing[0]!r}")
            yield lineno, rec


def parse_heldout(specs: list[str]) -> dict[str, str]:
    """``NAME=PATH`` pairs, names unique."""
    out: dict[str, str] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise UserError(f"--heldout takes NAME=PATH, got {spec!r}")
        if name in out:
            raise UserError(f"--heldout name {name!r} is given twice")
        out[name] = path
    return out


def task_name(spec: str) -> str:
    """A task's key: the file's stem (``cloze.jsonl`` -> ``cloze``), or the lm-eval task's name."""
    return spec[len(LM_EVAL):] if spec.startswith(LM_EVAL) else Path(spec).name.split(".")[0]


def check_window(stride: int | None, length: int | None) -> None:
    for name, v in (("--stride", stride), ("--max-length", length)):
        if v is not None and v < 1:
            raise UserError(f"{name} must be >= 1, got {v}")


def check_tasks(tasks: list[str]) -> None:
    """Refuse, before any model is loaded, what cannot run: lm-eval tasks without lm-eval, duplicate names."""
    names = [task_name(t) for t in tasks]
    for t in tasks:
        if t.startswith(LM_EVAL) and importlib.util.find_spec("lm_eval") is None:
            raise UserError(f"{t} needs the lm-eval package, which is not installed: pip install lm-eval")
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise UserError(f"two tasks are both named {dup!r}; rename one of the files")


def _lm_eval(model_path: str, task: str) -> dict[str, Any]:
    """One lm-eval task through the package unchanged; its ``acc``/``acc_norm`` (no per-item figures)."""
    import lm_eval

    try:
        out = lm_eval.simple_evaluate(model="hf", model_args=f"pretrained={model_path}", tasks=[task])
    except Exception as e:  # noqa: BLE001 - the package's own failure (task data unreachable, unknown task)
        raise UserError(f"lm_eval:{task}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    res = out["results"][task]
    return {"acc": res.get("acc,none"), "acc_norm": res.get("acc_norm,none"), "gold_logprob": None,
            "gold_bpb": None, "n": out.get("n-samples", {}).get(task, {}).get("effective")}


def evaluate(model_path: str, heldout: dict[str, str], tasks: list[str], stride: int | None = None,
             length: int | None = None, loaded: tuple[Any, Any] | None = None) -> Scores:
    """Every figure of one model; inputs are read (and checked) before the model is loaded."""
    check_window(stride, length)
    check_tasks(tasks)
    texts = {name: read_texts(path) for name, path in heldout.items()}
    items = {task_name(t): read_items(t) for t in tasks if not t.startswith(LM_EVAL)}
    model, tok = loaded or load_model(model_path)
    import torch

    if torch.cuda.is_available():
        model = model.to("cuda")
    scorer = Scorer(model, tok, length, stride)
    scores = Scores({name: scorer.heldout(t) for name, t in texts.items()})
    for t in tasks:
        scores.tasks[task_name(t)] = _lm_eval(model_path, task_name(t)) if t.startswith(LM_EVAL) \
            else scorer.choices(items[task_name(t)])
    return scores


def format_table(summary: dict[str, Any]) -> str:
    rows = [f"{k}  {v:.6f}" for k, v in metrics(summary).items()]
    return "\n".join(rows) if rows else "nothing to evaluate: give --heldout NAME=PATH or --tasks PATH"
