"""``quality_classifier``: score documents with a fastText quality classifier (DCLM style).

Train one with ``thresher quality train --positive P --negative N --output M`` (labels ``hq`` and
``lq``). Every document gets ``metadata.quality_score``, the model's probability of the positive
label; documents below ``min_score`` are dropped (``quality_low_score``), and with ``top_fraction``
only that share of the best-scoring documents of the whole run is kept (``quality_not_top``): the
threshold is the score of the last document inside that share, found in a first pass over the run.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from corpus import keys
from corpus.document import Document
from corpus.errors import UserError
from corpus.io import atomic
from corpus.stages.base import GlobalStage, register
from corpus.stages.context import ReduceContext, StageContext

POSITIVE, NEGATIVE = "hq", "lq"
_SPACES = re.compile(r"\s+")


def fasttext_line(text: str) -> str:
    """fastText reads one line per example and splits on whitespace: one line, single spaces."""
    return _SPACES.sub(" ", text).strip()


class Scorer:
    """A loaded fastText classifier that returns P(positive label) for a text."""

    def __init__(self, path: str, positive: str = POSITIVE):
        import fasttext

        fasttext.FastText.eprint = lambda *args, **kwargs: None
        self.model = fasttext.load_model(path)
        self.label = f"__label__{positive}"
        if self.label not in self.model.get_labels():
            raise UserError(f"model {path} has no label {positive!r} (labels: {self.model.get_labels()})")

    def score(self, text: str) -> float:
        labels, probs = self.model.predict(fasttext_line(text), k=-1)
        for label, prob in zip(labels, probs, strict=True):
            if label == self.label:
                return min(float(prob), 1.0)
        return 0.0


@dataclass
class QualityClassifierParams:
    model: str
    min_score: float | None = None
    top_fraction: float | None = None
    positive_label: str = POSITIVE

    def check(self) -> None:
        if not os.path.isfile(self.model):
            raise UserError(f"stage 'quality_classifier': model file not found: {self.model}")
        if self.min_score is None and self.top_fraction is None:
            raise UserError("stage 'quality_classifier': give min_score, top_fraction or both")
        if self.min_score is not None and not 0.0 <= self.min_score <= 1.0:
            raise UserError("stage 'quality_classifier': min_score must be in [0, 1]")
        if self.top_fraction is not None and not 0.0 < self.top_fraction <= 1.0:
            raise UserError("stage 'quality_classifier': top_fraction must be in (0, 1]")


@register
class QualityClassifier(GlobalStage):
    name = "quality_classifier"
    category = keys.QUALITY
    path_params = ("model",)
    Params = QualityClassifierParams
    doc = "fastText quality classifier: metadata.quality_score; keep above min_score or the top fraction."

    def setup(self) -> None:
        self._scorer = Scorer(self.p.model, self.p.positive_label)

    def needs_global(self) -> bool:
        """Only ``top_fraction`` needs every score first; a fixed ``min_score`` decides each document alone."""
        return self.p.top_fraction is not None

    def _score(self, doc: Document) -> float:
        return self._scorer.score(doc.text)

    def scan(self, docs: Iterable[Document], ctx: StageContext) -> None:
        scores = np.fromiter((self._score(d) for d in docs), dtype=np.float64)
        atomic.write_bytes(ctx.state_dir / f"scores-{ctx.task_id}.npy", scores.astype("<f8").tobytes())

    def reduce(self, ctx: ReduceContext) -> None:
        parts = [np.frombuffer((ctx.state_dir / f"scores-{t}.npy").read_bytes(), dtype="<f8") for t in ctx.task_ids]
        scores = np.sort(np.concatenate(parts))[::-1] if parts else np.empty(0)
        keep = math.ceil(self.p.top_fraction * len(scores))
        threshold = float(scores[keep - 1]) if keep else 1.0
        atomic.write_json(ctx.state_dir / "threshold.json", {"threshold": threshold, "documents": len(scores)})
        ctx.phases["top_fraction_threshold"] = threshold

    def process(self, docs: Iterable[Document], ctx: StageContext) -> Iterator[Document]:
        top = None
        if self.p.top_fraction is not None:
            top = atomic.read_json(ctx.state_dir / "threshold.json")["threshold"]
        yield from self.route(((doc, self._decide(doc, top)) for doc in docs), ctx)

    def _decide(self, doc: Document, top: float | None) -> str | None:
        """Score ``doc`` (kept in ``metadata.quality_score``) and say why it falls short, if it does."""
        score = self._score(doc)
        doc.metadata[keys.QUALITY_SCORE] = round(score, 6)
        if self.p.min_score is not None and score < self.p.min_score:
            return "quality_low_score"
        if top is not None and score < top:
            return "quality_not_top"
        return None
