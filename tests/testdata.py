"""The one place that names the suite's bundled real data, ``tests/data/`` (sources and licences in its README).

Tests, fixtures and benchmarks read real text only through these names, so a fresh clone needs
nothing beside itself and a moved or added file is changed here alone.
"""

from __future__ import annotations

import re
from pathlib import Path

import orjson

DATA = Path(__file__).resolve().parent / "data"
PROSE = DATA / "prose"  # prose/inaugural/*.txt, prose/state_union/*.txt: public-domain speeches
SENTENCES = DATA / "langid-dev" / "sentences.jsonl"  # {"text", "lang"}: 20 real sentences per language
PII_SET = DATA / "pii-dev" / "generated_large.json"  # presidio-research's labelled synthetic texts
SEED_TASKS = DATA / "sft-dev" / "seed_tasks.jsonl"  # self-instruct's 175 seed tasks


def speech_paths(folder: str = "*") -> list[Path]:
    """The speeches of ``prose/<folder>`` (``*``: both folders), in name order."""
    return sorted(PROSE.glob(f"{folder}/*.txt"))


def speech_text(path: Path) -> str:
    """A speech's text: UTF-8, or Latin-1 for the few older transcripts that use it."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def speech_pieces(folder: str, chars: int, files: int | None = None) -> list[tuple[str, str]]:
    """``(doc_id, text)``: the first ``files`` speeches of ``prose/<folder>``, each cut at paragraph
    breaks into pieces of about ``chars`` characters (documents of a realistic, even size)."""
    out = []
    for path in speech_paths(folder)[:files]:
        piece, n = "", 0
        for para in re.split(r"\n\s*\n", speech_text(path)):
            piece = f"{piece}\n\n{para.strip()}" if piece else para.strip()
            if len(piece) >= chars:
                out.append((f"{folder}/{path.stem}#{n}", piece))
                piece, n = "", n + 1
        if piece:
            out.append((f"{folder}/{path.stem}#{n}", piece))
    return out


def sentences() -> list[dict]:
    """Every ``{"text", "lang"}`` record of the language-identification sentences, in file order."""
    return [orjson.loads(line) for line in SENTENCES.read_bytes().splitlines()]


def sentences_by_language() -> dict[str, list[str]]:
    """Language code -> its sentences, in file order."""
    out: dict[str, list[str]] = {}
    for rec in sentences():
        out.setdefault(rec["lang"], []).append(rec["text"])
    return out
