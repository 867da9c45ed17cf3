"""Real documents for the quality-rule parity tests and benchmarks, built from the bundled ``tests/data``.

Whole speeches, windows of consecutive paragraphs cut from them (short documents sit near the
thresholds, where differences show), windows where some of their lines recur (the one derived
form, so that the repetition rules see both outcomes), and groups of real sentences in 75 languages.
"""

from __future__ import annotations

import random

from testdata import sentences_by_language, speech_paths, speech_text


def speeches() -> list[str]:
    """Every bundled speech, whole, in file-name order."""
    return [speech_text(p) for p in speech_paths()]


def windows(texts: list[str], n: int, seed: int = 0) -> list[str]:
    """``n`` documents of 1-15 consecutive non-empty lines, joined by one or two line breaks."""
    rng = random.Random(seed)
    paragraphs = [[ln for ln in t.splitlines() if ln.strip()] for t in texts]
    out = []
    while len(out) < n:
        lines = rng.choice(paragraphs)
        size = rng.randint(1, 15)
        start = rng.randrange(max(1, len(lines) - size))
        out.append(rng.choice(["\n", "\n\n"]).join(lines[start:start + size]))
    return out


def with_repeats(texts: list[str], n: int, seed: int = 1) -> list[str]:
    """``n`` windows where some real lines appear again (as boilerplate does on crawled pages).

    The share of repeated lines varies from none to most, so documents fall on both sides of the
    repetition thresholds.
    """
    rng = random.Random(seed)
    out = []
    for base in windows(texts, n, seed):
        lines = base.splitlines()
        extra = [rng.choice(lines) for _ in range(rng.randint(0, len(lines)))]
        for line in extra:
            lines.insert(rng.randrange(len(lines) + 1), line)
        out.append("\n".join(lines))
    return out


def sentence_groups(per_doc: int = 20) -> list[tuple[str, str]]:
    """(language, text) documents of ``per_doc`` real sentences of one language, one per line."""
    return [(lang, "\n".join(sents[i:i + per_doc])) for lang, sents in sorted(sentences_by_language().items())
            for i in range(0, len(sents), per_doc)]


def documents(n_windows: int = 1200) -> list[str]:
    texts = speeches()
    return (texts + windows(texts, n_windows) + with_repeats(texts, n_windows // 4)
            + [t for _, t in sentence_groups()])
