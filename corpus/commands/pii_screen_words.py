"""``thresher pii-screen-words TEXT... --out FILE``: build the NER screen's word lists for a model.

The screen (`corpus/stages/pii/ner_screen.py`) skips sentences whose capitalised words are all
common ones. Which words are common depends on the model, so the lists are measured: the configured
NER model reads the given texts whole, and a word goes on a list when the model tagged at most
``--max-rate`` of its ``--min-count`` or more occurrences (capitalised, or in lower case). The output
holds words only, never a tagged value with its context; still, build from texts you may publish.
Inputs: ``.txt`` files (one document each) and JSONL files, plain or compressed (``--text-field``).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import yaml

from corpus.errors import UserError
from corpus.io.atomic import write_bytes
from corpus.io.jsonl import read_jsonl

TITLES = ["mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "madam", "herr", "frau", "mme", "mlle"]


def read_texts(paths: list[str], text_field: str) -> list[str]:
    """Whole ``.txt`` files, and the ``text_field`` of each record of JSONL files (plain, .gz, .zst)."""
    texts: list[str] = []
    for path in paths:
        if not Path(path).is_file():
            raise UserError(f"{path}: no such file")
        if path.endswith(".txt"):
            try:
                texts.append(Path(path).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError) as e:
                raise UserError(f"{path}: cannot read as UTF-8 text ({e})") from None
            continue
        for raw in read_jsonl(path, path):
            if raw.record is None:
                raise UserError(f"{path}:{raw.line}: {raw.error}")
            if isinstance(raw.record.get(text_field), str):
                texts.append(raw.record[text_field])
    if not texts:
        raise UserError("no text in the inputs")
    return texts


def cmd_pii_screen_words(args: Any) -> int:
    from corpus.commands.pii_eval import pii_spec
    from corpus.stages import base
    from corpus.stages.pii.ner_screen import ScreenFile, count_words
    from corpus.stages.pii.stage import build

    if args.min_count < 1 or not 0 <= args.max_rate < 1:
        raise UserError("--min-count must be >= 1 and --max-rate in [0, 1)")
    texts = read_texts(args.texts, args.text_field)
    stage, _ = base.build(pii_spec(args.config))
    engine, policy = build(stage.p)
    if engine.ner is None:
        raise UserError("ner.backend is none: there is no model to measure")
    t0 = time.perf_counter()
    counts = count_words(texts, engine.ner, set(engine.ner_entities), policy.accepts)
    data = dataclasses.asdict(ScreenFile(
        built_with={"backend": stage.p.ner.backend, "model": stage.p.ner.model or "default",
                    "texts": len(texts), "chars": sum(map(len, texts)), "about": args.about},
        min_count=args.min_count, max_rate=args.max_rate, titles=TITLES, short_line_chars=args.short_line_chars,
        neighbours=args.neighbours, capitalised=counts.common(True, args.min_count, args.max_rate),
        lowercase=counts.common(False, args.min_count, args.max_rate)))
    header = ("# NER screen word lists (docs/pii.md), built by `thresher pii-screen-words`.\n"
              "# capitalised: words that, written with a capital, the model tagged in at most max_rate of\n"
              "# their min_count or more occurrences; lowercase: the same in lower case.\n")
    write_bytes(args.out, (header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)).encode())
    print(f"{len(data['capitalised'])} capitalised and {len(data['lowercase'])} lower-case common words from "
          f"{len(texts)} texts ({time.perf_counter() - t0:.0f} s) -> {args.out}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("pii-screen-words", help="measure the NER screen's common-word lists for the configured model")
    p.add_argument("texts", nargs="+", help=".txt files (one document each) or .jsonl files")
    p.add_argument("--out", required=True, help="YAML to write (use it as the pii stage's ner.screen)")
    p.add_argument("--config", help="YAML with pii stage keys (ner, ner_labels, entities) for the model to measure")
    p.add_argument("--text-field", default="text", help="field of .jsonl records holding the text")
    p.add_argument("--min-count", type=int, default=3, help="occurrences a word needs before it can be called common")
    p.add_argument("--max-rate", type=float, default=0.02, help="largest share of tagged occurrences of a common word")
    p.add_argument("--short-line-chars", type=int, default=48, help="lines this short with a digit always go to the model")
    p.add_argument("--about", default="", help="where the texts come from, recorded in the file")
    p.add_argument("--neighbours", type=int, default=1, help="sentences of context either side of a screened-in one")
    p.set_defaults(func=cmd_pii_screen_words)
