"""``language``: fastText language identification; annotates every document, keeps chosen languages.

The default model is lid.176 (``corpus.assets``: placed by ``make setup``); any fastText LID model
works by path (GlotLID, lid.176.bin). Labels are normalised to the shortest ISO 639 code, the BCP 47
convention: ``__label__en`` and GlotLID's ``__label__eng_Latn`` both become ``en``; a language with
no two-letter code keeps its three-letter one (``__label__cmn_Hani`` is ``cmn``). The table is data:
``rules/language/iso639.yaml``.

fastText reads one line at a time, so line breaks become spaces before scoring. A document longer
than ``max_chars`` is scored on ``samples`` windows spread across it (cut at spaces), and the
window predictions are combined weighted by length: the cost stays bounded, and one odd section
(a code block, a quoted passage) cannot decide for the whole document.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache

from corpus import keys, rules
from corpus.document import Document
from corpus.errors import UserError
from corpus.stages.base import Filter, register

_TOP_K = 5  # labels kept per window when windows are combined


@lru_cache(maxsize=1)
def _iso639_1() -> dict[str, str]:
    return rules.load("language/iso639.yaml")["iso639_1"]


@lru_cache(maxsize=4096)
def normalize_label(label: str) -> str:
    """``__label__eng_Latn`` -> ``en``; ``__label__zh`` -> ``zh``; ``cmn`` stays ``cmn``."""
    code = label.removeprefix("__label__").split("_")[0].split("-")[0].lower()
    return _iso639_1().get(code, code)


@dataclass
class LanguageParams:
    model: str | None = None
    keep: list[str] | None = None
    min_score: float = 0.65
    min_scores: dict[str, float] = field(default_factory=dict)
    max_chars: int = 10_000
    samples: int = 5

    def check(self) -> None:
        if self.model is not None and not os.path.isfile(self.model):
            raise UserError(f"stage 'language': model file not found: {self.model}")
        for name, value in [("min_score", self.min_score), *self.min_scores.items()]:
            if not 0.0 <= value <= 1.0:
                raise UserError(f"stage 'language': scores must be in [0, 1], got {name}: {value}")
        if self.max_chars < 100 or self.samples < 1:
            raise UserError("stage 'language': max_chars must be >= 100 and samples >= 1")


def windows(text: str, max_chars: int, samples: int) -> list[str]:
    """``samples`` windows of ``max_chars // samples`` characters spread evenly over ``text``."""
    size = max_chars // samples
    step = (len(text) - size) / max(samples - 1, 1)
    out = []
    for i in range(samples):
        start = int(i * step)
        if start:  # start and end at word boundaries
            space = text.find(" ", start, start + 100)
            start = space + 1 if space >= 0 else start
        end = text.rfind(" ", start, start + size)
        out.append(text[start:end if end > start + size // 2 else start + size])
    return out


@register
class Language(Filter):
    name = "language"
    category = keys.LANGUAGE_ID
    path_params = ("model",)
    Params = LanguageParams
    doc = "fastText language ID (lid.176 or any LID model): metadata.language/language_score; keep languages."

    def setup(self) -> None:
        import fasttext

        from corpus import assets

        fasttext.FastText.eprint = lambda *args, **kwargs: None  # the load_model notice on stderr
        p: LanguageParams = self.p
        self._model = fasttext.load_model(str(p.model or assets.path("lid.176.ftz")))
        self._keep = {normalize_label(c) for c in p.keep} if p.keep else None
        self._min = {normalize_label(c): s for c, s in p.min_scores.items()}

    def warnings(self) -> list[str]:
        p: LanguageParams = self.p
        named = sorted({normalize_label(c) for c in [*(p.keep or []), *p.min_scores]})
        if not named:
            return []
        self.ensure_setup()  # the model's labels, asked in the driver
        known = {normalize_label(label) for label in self._model.get_labels()}
        return [f"stage {self.label}: the model knows no language {code!r} (codes are ISO 639, such as en, de, "
                f"zh): no document will be identified as it" for code in named if code not in known]

    def identify(self, text: str) -> tuple[str, float]:
        """(shortest ISO 639 code, probability) for ``text``."""
        p: LanguageParams = self.p
        flat = text.replace("\n", " ")
        if len(flat) <= p.max_chars:
            # the binding itself (the wrapper adds a numpy round trip per call); "replace" keeps a
            # stray surrogate from failing the document
            top = self._model.f.predict(flat + "\n", 1, 0.0, "replace")
            if not top:
                return "und", 0.0
            prob, label = top[0]
            return normalize_label(label), min(prob, 1.0)  # the softmax can exceed 1 by a rounding error
        parts = windows(flat, p.max_chars, p.samples)
        totals: dict[str, float] = {}
        for part, (labels, probs) in zip(parts, zip(*self._model.predict(parts, k=_TOP_K), strict=True), strict=True):
            for label, prob in zip(labels, probs, strict=True):
                code = normalize_label(label)
                totals[code] = totals.get(code, 0.0) + len(part) * float(prob)
        code = max(totals, key=totals.__getitem__)
        return code, min(totals[code] / sum(len(part) for part in parts), 1.0)

    def decide(self, doc: Document) -> str | None:
        code, score = self.identify(doc.text)
        doc.metadata[keys.LANGUAGE] = code
        doc.metadata[keys.LANGUAGE_SCORE] = round(score, 4)
        if self._keep is not None and code not in self._keep:
            return "language_not_kept"
        if score < self._min.get(code, self.p.min_score):
            return "language_low_score"
        return None
