"""Maintainer's tool: write spaCy's English tokenizer rules into ``rules/quality/lang/en.yaml``.

The published rules count words as datatrove does, with spaCy's English tokenizer. Thresher does
not run spaCy (it costs more than every rule together): `text.WordSplitter` replays spaCy's
algorithm with spaCy's own data, which this module copies out of an installed spaCy (MIT licence;
the dev extra has it through datatrove) so that the runtime needs only the YAML file:

    .venv/bin/python -m corpus.stages.quality.spacy_rules [rules/quality/lang/en.yaml]

It rewrites the file's ``words:`` section and keeps its other sections. A test checks the
bundled file against the installed spaCy, so a spaCy upgrade that changes the rules shows up.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml

from corpus import rules
from corpus.io import atomic
from corpus.stages.quality import text

HEADER = """\
# English. Word splitting only: the rule files' defaults are the published English thresholds.
# `words:` is spaCy {version}'s English tokenizer (prefix, suffix and infix patterns, URL pattern,
# special cases; spaCy is MIT-licensed), which datatrove's filters use. Written by
#   .venv/bin/python -m corpus.stages.quality.spacy_rules
# do not edit it by hand. Other languages use these rules unless their file has its own `words:` keys.
"""


def spacy_words() -> dict[str, Any]:
    """The English tokenizer's data as `text.WordSplitter` takes it (whitespace specials left out:
    whitespace never reaches a chunk)."""
    import spacy

    tok = spacy.blank("en").tokenizer
    from spacy.symbols import ORTH

    specials = {key: [t[ORTH] for t in toks] for key, toks in sorted(tok.rules.items()) if key.strip() == key and key}
    return {
        "prefixes": tok.prefix_search.__self__.pattern,
        "suffixes": tok.suffix_search.__self__.pattern,
        "infixes": tok.infix_finditer.__self__.pattern,
        "url": tok.url_match.__self__.pattern,
        "special_cases": specials,
    }


def all_letters() -> list[str]:
    return [c for c in map(chr, range(sys.maxunicode + 1)) if c.isalpha()]


def letters_stay_whole(words: dict[str, Any], letters: list[str]) -> bool:
    """No prefix, suffix or infix pattern splits a string of letters: each of ``letters`` alone, doubled,
    before, after and between other letters, and every run of letters the patterns spell, in context."""
    split = text.WordSplitter(words["prefixes"], words["suffixes"], words["infixes"], words["url"])
    spelled = {run for key in ("prefixes", "suffixes", "infixes") for run in re.findall(r"[^\W\d_]+", words[key])}
    for c in [*letters, *spelled]:
        if any(split._split_affixes(t, {}) != [t] for t in (c, c + c, c + "a", "a" + c, "a" + c + "a")):
            return False
    return True


def render(words: dict[str, Any], rest: dict[str, Any]) -> str:
    import spacy

    body = yaml.safe_dump({"words": words, **rest}, allow_unicode=True, sort_keys=False, width=100,
                          default_flow_style=None)
    return HEADER.format(version=spacy.__version__) + body


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else rules.rules_dir() / "quality" / "lang" / "en.yaml"
    current = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}
    rest = {k: v for k, v in (current or {}).items() if k != "words"}
    words = spacy_words()
    specials = words.pop("special_cases")
    words.update(letters_stay_whole=letters_stay_whole(words, all_letters()), special_cases=specials)
    atomic.write_bytes(path, render(words, rest).encode("utf-8"))
    print(f"{path}: spaCy English tokenizer rules written")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
