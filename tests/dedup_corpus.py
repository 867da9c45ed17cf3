"""Real near-duplicates for dedup tests and benchmarks: public-domain speeches, edited at known Jaccard.

Base documents are slices of the NLTK ``state_union`` and ``inaugural`` speeches bundled in
``tests/data/prose/`` (public domain). An edited copy replaces, deletes or inserts tokens at
random positions; the number of edits is searched so that the copy's exact Jaccard with its original
(on the same shingles the stage uses) lands just at or above a target, and that exact value is
returned with it.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from testdata import speech_paths, speech_text

from corpus.stages.dedup.shingles import jaccard, shingle_set, shingles


def prose_text() -> str:
    """All bundled speeches, in file order, as one text."""
    return "\n".join(speech_text(p) for p in speech_paths())


def word_slices(text: str, words: int, limit: int | None = None) -> list[str]:
    """Consecutive non-overlapping slices of ``words`` words (distinct documents, near-zero Jaccard)."""
    toks = text.split()
    out = [" ".join(toks[i:i + words]) for i in range(0, len(toks) - words + 1, words)]
    return out[:limit]


def sentence_mixes(text: str, n: int, chars: int, rng: np.random.Generator) -> list[str]:
    """``n`` documents of about ``chars`` characters, each random sentences of the speeches, so that
    many distinct documents come from a small corpus while random pairs stay dissimilar."""
    sentences = [s.strip() + "." for s in text.replace("\n", " ").split(". ") if len(s.split()) >= 4]
    lengths = np.array([len(s) + 1 for s in sentences])
    per_doc = max(1, int(chars / lengths.mean()))
    picks = rng.integers(0, len(sentences), (n, per_doc))
    return [" ".join(sentences[i] for i in row) for row in picks.tolist()]


def _tokens(text: str, unit: str) -> list[str]:
    return text.split() if unit == "words" else list(text)


def _join(tokens: list[str], unit: str) -> str:
    return " ".join(tokens) if unit == "words" else "".join(tokens)


def edited_copy(text: str, target: float, rng: np.random.Generator, ngram: int = 5,
                unit: str = "words") -> tuple[str, float]:
    """A copy of ``text`` with exact shingle Jaccard >= ``target`` and as close to it as edits allow."""
    base = shingle_set(shingles(text, ngram, unit))
    toks = _tokens(text, unit)
    order = rng.permutation(len(toks))
    ops = rng.integers(0, 3, len(toks))  # 0 replace, 1 delete, 2 insert
    fresh = [f"q{rng.integers(1 << 40):x}" if unit == "words" else chr(0x4E00 + int(rng.integers(20000)))
             for _ in range(len(toks))]

    def apply(k: int) -> str:
        edits = {int(order[i]): (int(ops[i]), fresh[i]) for i in range(k)}
        out: list[str] = []
        for pos, tok in enumerate(toks):
            op, new = edits.get(pos, (-1, ""))
            if op == 0:
                out.append(new)
            elif op == 2:
                out.extend((new, tok))
            elif op != 1:
                out.append(tok)
        return _join(out, unit)

    def jac(k: int) -> float:
        return jaccard(base, shingle_set(shingles(apply(k), ngram, unit)))

    lo, hi = 0, len(toks)  # jac(lo) >= target; find the most edits that keep it so
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if jac(mid) >= target:
            lo = mid
        else:
            hi = mid - 1
    return apply(lo), jac(lo)


def unresembled(clusters: Iterable[list[str]], sets: dict[str, np.ndarray], floor: float = 0.5) -> tuple[int, list[str]]:
    """``(documents in clusters of two or more, those of them with Jaccard < floor to every other
    member)``: the dedup precision promise counts the second list, documents merged with nothing
    they resemble."""
    merged, lonely = 0, []
    for members in clusters:
        if len(members) < 2:
            continue
        merged += len(members)
        lonely += [i for i in members if all(jaccard(sets[i], sets[o]) < floor for o in members if o != i)]
    return merged, lonely
