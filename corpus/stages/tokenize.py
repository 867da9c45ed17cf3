"""``tokenize``: the last stage: every kept document also becomes one token sequence in ``RUN/tokens/``.

Documents pass through unchanged (they still go to ``data/``); as a side output each task writes
Megatron ``.bin/.idx`` shards with ``.ids`` beside them (see `corpus.token_shards`), and
``finalize`` joins the tasks into ``tokens/manifest.json``. The ``tokenizers`` Rust pool of each
worker gets the cores divided by the number of worker processes, so workers never oversubscribe.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields

from corpus import keys
from corpus.document import Document
from corpus.errors import UserError
from corpus.stages.base import Stage, register
from corpus.stages.context import RunContext, StageContext
from corpus.token_shards import Settings, TaskTokens, write_manifests


@dataclass
class TokenizeParams(Settings):
    """`Settings` (what decides the tokens) plus how to run: documents per batch and encoder threads."""

    batch_size: int = 512
    threads: int | None = None

    def check(self) -> None:
        super().check()
        if self.batch_size < 1:
            raise UserError("stage 'tokenize': batch_size must be >= 1")
        if self.threads is not None and self.threads < 1:
            raise UserError("stage 'tokenize': threads must be >= 1 (or left out: cores / workers)")

    def settings(self) -> Settings:
        return Settings(**{f.name: getattr(self, f.name) for f in fields(Settings)})


@register
class Tokenize(Stage):
    name = "tokenize"
    category = keys.TOKENIZE
    Params = TokenizeParams
    path_params = ("tokenizer",)
    ordered_params = ("mix",)
    must_be_last = "documents a later stage removes would still be in the tokens"
    doc = "Last stage: each document also becomes tokens + EOS in Megatron shards under RUN/tokens/ (with .ids)."

    def setup(self) -> None:
        from corpus.tokenizer import load, rayon_threads, set_threads

        p: TokenizeParams = self.p
        # THRESHER_WORKERS: how many worker processes the executor started (unset in-process: one)
        set_threads(p.threads or rayon_threads(int(os.environ.get("THRESHER_WORKERS", "1"))))
        self.tok = load(p.tokenizer, p.eos_token)

    def check(self) -> None:
        """The tokenizer loads and has the EOS token every sequence ends with (setup loads it again in
        each worker)."""
        from corpus.tokenizer import load

        load(self.p.tokenizer, self.p.eos_token)

    def process(self, docs: Iterable[Document], ctx: StageContext) -> Iterator[Document]:
        p: TokenizeParams = self.p
        out = TaskTokens(self.tok, p.settings(), ctx.run.tokens, ctx.task_id)
        yield from out.run(docs, p.batch_size)
        summary = out.summary
        for split in ("train", "val"):
            for c in summary[split]["sources"].values():
                prefix = "" if split == "train" else "val_"
                ctx.count(f"{prefix}sequences", c.get("sequences", 0))
                ctx.count(f"{prefix}tokens", c.get("tokens", 0))
                ctx.count(f"{prefix}documents", c.get("documents", 0))

    def finalize(self, ctx: RunContext) -> None:
        write_manifests(ctx.run.tokens, [r.task for r in ctx.results], self.p.settings())
