"""``decontaminate``: drop or flag documents sharing an n-gram (default 13 words) with an evaluation set.

Evaluation sets are user files (JSONL or text, see `corpus.stages.textfiles`), named in the pipeline
(``eval_sets: {gsm8k: evals/gsm8k.jsonl}``); the reason names the set (``contaminated_gsm8k``).
Text is compared as lower-cased words (letters and digits), so punctuation, case and spacing do
not hide an overlap. An evaluation item shorter than ``n`` words but at least ``min_words`` long is
matched whole (as GPT-3's decontamination did); shorter ones are ignored and counted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from corpus import keys
from corpus.document import Document
from corpus.errors import UserError
from corpus.stages.base import Filter, register
from corpus.stages.context import RunContext
from corpus.stages.textfiles import read_texts

_WORDS = re.compile(r"[^\W_]+")
_NAME = re.compile(r"[a-z0-9_]+")


def words(text: str) -> list[str]:
    return _WORDS.findall(text.lower())


def grams(ws: list[str], n: int) -> Iterator[int]:
    """Hashes of the n-word windows of ``ws`` (one process builds and probes, so ``hash`` is stable)."""
    return map(hash, zip(*(ws[i:] for i in range(n)), strict=False))


@dataclass
class DecontaminateParams:
    eval_sets: dict[str, str] = field(default_factory=dict)
    n: int = 13
    min_words: int = 8
    fields: list[str] | None = None

    def check(self) -> None:
        if not self.eval_sets:
            raise UserError("stage 'decontaminate': eval_sets must name at least one file ({name: path})")
        for name in self.eval_sets:
            if not _NAME.fullmatch(str(name)):
                raise UserError(f"stage 'decontaminate': set name {name!r} must be lower-case letters, digits, _")
        if self.n < 1 or not 1 <= self.min_words <= self.n:
            raise UserError("stage 'decontaminate': need n >= 1 and 1 <= min_words <= n")


@register
class Decontaminate(Filter):
    name = "decontaminate"
    category = keys.DECONTAMINATE
    path_params = ("eval_sets",)
    Params = DecontaminateParams
    doc = "Drop documents sharing an n-gram (default 13 words) with an evaluation set; the set is named in the reason."

    def check(self) -> None:
        """Every evaluation set is a file (each worker's setup reads them all)."""
        for name, path in self.p.eval_sets.items():
            if not Path(path).is_file():
                raise UserError(f"stage 'decontaminate': eval_sets.{name}: file not found: {path}")

    def _items(self) -> Iterator[tuple[str, list[str]]]:
        """``(set name, words)`` of every evaluation item, set by set."""
        p: DecontaminateParams = self.p
        for name, path in p.eval_sets.items():
            for text in read_texts(path, p.fields):
                yield name, words(text)

    def setup(self) -> None:
        p: DecontaminateParams = self.p
        grams_of: dict[str, tuple[set[int], set[int]]] = {name: (set(), set()) for name in p.eval_sets}
        self._short_lengths: set[int] = set()
        for name, ws in self._items():
            ngram_set, short = grams_of[name]
            if len(ws) >= p.n:
                ngram_set.update(grams(ws, p.n))
            elif len(ws) >= p.min_words:
                short.add(hash(tuple(ws)))
                self._short_lengths.add(len(ws))
        # name, n-gram hashes, whole short items
        self._sets: list[tuple[str, set[int], set[int]]] = [(name, *g) for name, g in grams_of.items()]

    def finalize(self, ctx: RunContext) -> None:
        """Count the evaluation items too short to match, once for the run (every worker sees them all)."""
        ctx.count("eval_items_too_short", sum(1 for _, ws in self._items() if len(ws) < self.p.min_words))

    def decide(self, doc: Document) -> str | None:
        ws = words(doc.text)
        doc_grams = set(grams(ws, self.p.n))
        for length in self._short_lengths:
            doc_grams.update(grams(ws, length))
        for name, ngram_set, short in self._sets:
            if not doc_grams.isdisjoint(ngram_set) or not doc_grams.isdisjoint(short):
                return f"contaminated_{name}"
        return None
