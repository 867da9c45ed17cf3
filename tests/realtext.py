"""Real documents for the quality-rule parity tests and benchmarks, built from ``shared/data``.

Whole speeches, windows of consecutive paragraphs cut from them (short documents sit near the
thresholds, where differences show), windows where some of their lines recur (the one derived
form, so that the repetition rules see both outcomes), and groups of real sentences in 75 languages.
"""

from __future__ import annotations

import random
from pathlib import Path

import orjson


def read_text(path: Path) -> str:
    """The file's text: UTF-8, or Windows-1252 for the few older transcripts that use it."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def speeches(data: Path) -> list[str]:
    return [read_text(p) for p in sorted((data / "prose").glob("*/*.txt"))]


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


def sentence_groups(data: Path, per_doc: int = 20) -> list[tuple[str, str]]:
    """(language, text) documents of ``per_doc`` real sentences of one language, one per line."""
    by_lang: dict[str, list[str]] = {}
    for line in (data / "langid-dev" / "sentences.jsonl").read_bytes().splitlines():
        rec = orjson.loads(line)
        by_lang.setdefault(rec["lang"], []).append(rec["text"])
    return [(lang, "\n".join(sents[i:i + per_doc])) for lang, sents in sorted(by_lang.items())
            for i in range(0, len(sents), per_doc * 5)]


def documents(data: Path, n_windows: int = 1200) -> list[str]:
    texts = speeches(data)
    return (texts + windows(texts, n_windows) + with_repeats(texts, n_windows // 4)
            + [t for _, t in sentence_groups(data)])
