"""``thresher pii-eval DATA.json``: precision, recall and F2 per entity type for the ``pii`` stage.

The data is presidio-research's span format: a JSON list of ``{"full_text", "spans": [{"entity_type",
"start_position", "end_position"}]}``. A labelled span counts as found when a detected span of the
same type overlaps it; a detection counts as correct when it overlaps a labelled span of its type.
F2 weighs recall twice as much as precision, since a missed identifier costs more than an extra
placeholder. Over-redaction is measured too: the share of words outside every labelled span that no
acted-on detection touches. Records with a ``locale`` field (``--generate`` writes them) are also
scored per locale, so a weak country shows. ``--generate N`` evaluates on seeded multi-locale records
instead of a file (``--styles``: in the styles `synth` does not write). Only counts are printed,
never text.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import yaml

from corpus.errors import UserError
from corpus.io.atomic import write_json

STRUCTURED = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "IP_ADDRESS")
_WORD = re.compile(r"\S+")


def load_dataset(path: str, limit: int | None = None) -> list[dict[str, Any]]:
    """Texts with gold spans ``(type, start, end)``; a malformed file is the user's to fix."""
    try:
        data = orjson.loads(Path(path).read_bytes())
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except orjson.JSONDecodeError as e:
        raise UserError(f"{path}: not JSON ({e})") from None
    if not isinstance(data, list):
        raise UserError(f"{path}: expected a JSON list of {{full_text, spans}} records")
    out = []
    for i, rec in enumerate(data[:limit] if limit is not None else data):
        try:
            spans = [(s["entity_type"], int(s["start_position"]), int(s["end_position"])) for s in rec["spans"]]
            text = rec["full_text"]
        except (KeyError, TypeError, ValueError):
            raise UserError(f"{path}: record {i} lacks full_text or spans[entity_type, start_position, "
                            "end_position]") from None
        if not isinstance(text, str):
            raise UserError(f"{path}: record {i}: full_text is not a string")
        out.append({"text": text, "spans": spans, "locale": rec.get("locale")})
    return out


def generated_dataset(n: int, seed: int, save: str | None, styles: bool = False) -> list[dict[str, Any]]:
    """``n`` multi-locale records from `corpus.stages.pii.synth`, or with ``styles`` from
    `corpus.stages.pii.synth_styles` (chat, forms, signatures, records; Faker: the dev extra),
    optionally saved."""
    if n < 1:
        raise UserError("--generate must be >= 1")
    try:
        if styles:
            from corpus.stages.pii.synth_styles import generate
        else:
            from corpus.stages.pii.synth import generate
        records = generate(n, seed)
    except ImportError as e:
        raise UserError(f"--generate needs Faker (pip install 'thresher[dev]'): {e}") from None
    if save:
        write_json(save, records)
    return [{"text": r["full_text"], "locale": r["locale"],
             "spans": [(s["entity_type"], s["start_position"], s["end_position"]) for s in r["spans"]]}
            for r in records]


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def score(dataset: list[dict[str, Any]], predictions: list[list[tuple[str, int, int]]],
          acted: set[str]) -> dict[str, Any]:
    """Per-entity counts and metrics, structured recall, and the untouched-word share."""
    gold_n, gold_hit, pred_n, pred_hit = Counter(), Counter(), Counter(), Counter()
    outside = untouched = 0
    for rec, preds in zip(dataset, predictions, strict=True):
        gold = rec["spans"]
        for g, gs, ge in gold:
            gold_n[g] += 1
            gold_hit[g] += any(p == g and _overlaps((gs, ge), (ps, pe)) for p, ps, pe in preds)
        for p, ps, pe in preds:
            pred_n[p] += 1
            pred_hit[p] += any(p == g and _overlaps((gs, ge), (ps, pe)) for g, gs, ge in gold)
        changed = [(ps, pe) for p, ps, pe in preds if p in acted]
        for m in _WORD.finditer(rec["text"]):
            w = (m.start(), m.end())
            if any(_overlaps(w, (gs, ge)) for _, gs, ge in gold):
                continue
            outside += 1
            untouched += not any(_overlaps(w, c) for c in changed)
    rows = {}
    for ent in sorted(set(gold_n) | set(pred_n)):
        p = pred_hit[ent] / pred_n[ent] if pred_n[ent] else None
        r = gold_hit[ent] / gold_n[ent] if gold_n[ent] else None
        f2 = 5 * p * r / (4 * p + r) if p is not None and r is not None and (4 * p + r) > 0 else None
        rows[ent] = {"gold": gold_n[ent], "found": gold_hit[ent], "predicted": pred_n[ent],
                     "correct": pred_hit[ent], "precision": p, "recall": r, "f2": f2}
    s_n = sum(gold_n[e] for e in STRUCTURED)
    return {"entities": rows,
            "structured_recall": sum(gold_hit[e] for e in STRUCTURED) / s_n if s_n else None,
            "words_outside_spans": outside, "untouched_share": untouched / outside if outside else None,
            "locales": per_locale(dataset, predictions)}


def per_locale(dataset: list[dict[str, Any]], predictions: list[list[tuple[str, int, int]]],
               ) -> dict[str, dict[str, Any]]:
    """Labelled and found spans per locale, for structured entities and PERSON (empty without locales)."""
    out: dict[str, dict[str, Any]] = {}
    for rec, preds in zip(dataset, predictions, strict=True):
        if not rec.get("locale"):
            continue
        row = out.setdefault(rec["locale"], {"structured": 0, "structured_found": 0, "PERSON": 0, "PERSON_found": 0})
        for g, gs, ge in rec["spans"]:
            group = "structured" if g in STRUCTURED else g if g == "PERSON" else None
            if group:
                row[group] += 1
                row[f"{group}_found"] += any(p == g and _overlaps((gs, ge), (ps, pe)) for p, ps, pe in preds)
    for row in out.values():
        for group in ("structured", "PERSON"):
            row[f"{group}_recall"] = row[f"{group}_found"] / row[group] if row[group] else None
    return dict(sorted(out.items()))


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"


def render(result: dict[str, Any], looked_for: set[str]) -> str:
    lines = ["| entity | labelled | found | recall | detected | correct | precision | F2 |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for ent, r in result["entities"].items():
        name = ent if ent in looked_for else f"{ent} (not looked for)"
        lines.append(f"| {name} | {r['gold']} | {r['found']} | {_fmt(r['recall'])} | {r['predicted']} | "
                     f"{r['correct']} | {_fmt(r['precision'])} | {_fmt(r['f2'])} |")
    lines += ["", f"structured recall ({', '.join(STRUCTURED)}): {_fmt(result['structured_recall'])}",
              f"words outside labelled spans left untouched: {_fmt(result['untouched_share'])} "
              f"of {result['words_outside_spans']}",
              f"throughput: {result['docs_per_s']:.1f} docs/s over {result['docs']} docs"]
    if result["locales"]:
        lines += ["", "| locale | structured | found | recall | PERSON | found | recall |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        person = "PERSON" in looked_for
        lines += [f"| {loc} | {r['structured']} | {r['structured_found']} | {_fmt(r['structured_recall'])} | "
                  f"{r['PERSON']} | " + (f"{r['PERSON_found']} | {_fmt(r['PERSON_recall'])} |" if person
                                         else "— | not looked for |")
                  for loc, r in result["locales"].items()]
    return "\n".join(lines)


def pii_spec(config: str | None) -> dict[str, Any]:
    """The pii stage's spec for the measuring commands: defaults, overridden by a YAML of stage keys."""
    from corpus.stages.base import ENTRY_KEYS

    spec: dict[str, Any] = {"stage": "pii"}
    if config:
        try:
            extra = yaml.safe_load(Path(config).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as e:
            raise UserError(f"{config}: cannot read ({str(e).splitlines()[0]})") from None
        if not isinstance(extra, dict):
            raise UserError(f"{config}: expected a mapping of pii stage keys")
        spec |= {k: v for k, v in extra.items() if k not in ENTRY_KEYS}
    return spec


def cmd_pii_eval(args) -> int:
    from corpus.stages import base
    from corpus.stages.pii.stage import accepted, build

    spec = pii_spec(args.config)
    if args.ner:
        spec["ner"] = {**base.param_defaults(base.get("pii")).get("ner", {}), **spec.get("ner", {}),
                       "backend": args.ner}
    if args.limit is not None and args.limit < 0:
        raise UserError("--limit must be >= 0")
    if (args.data is None) == (args.generate is None):
        raise UserError("give DATA.json or --generate N (not both)")
    # before the engine: a bad file fails at once
    if args.styles and args.generate is None:
        raise UserError("--styles goes with --generate N")
    dataset = (load_dataset(args.data, args.limit) if args.data
               else generated_dataset(args.generate, args.seed, args.save, args.styles))
    stage, _ = base.build(spec)
    engine, policy = build(stage.p)
    t0 = time.perf_counter()
    predictions: list[list[tuple[str, int, int]]] = []
    texts = [r["text"] for r in dataset]
    for b in range(0, len(texts), stage.p.batch_size):
        chunk = texts[b:b + stage.p.batch_size]
        predictions += [[(r.entity_type, r.start, r.end) for r in found] for found in accepted(engine, policy, chunk)]
    seconds = time.perf_counter() - t0
    acted = {e for e, r in policy.rules.items() if r.action != "keep"}
    result = score(dataset, predictions, acted)
    result |= {"docs": len(texts), "seconds": round(seconds, 2), "docs_per_s": len(texts) / seconds if seconds else 0.0,
               "ner": stage.p.ner.backend}
    print(render(result, set(engine.entities)))
    if args.json:
        write_json(args.json, result)
    return 0 if not args.min_recall or (result["structured_recall"] or 0) >= args.min_recall else 1


def register(sub) -> None:
    p = sub.add_parser("pii-eval", help="precision, recall and F2 per entity of the pii stage on labelled spans")
    p.add_argument("data", nargs="?", help="presidio-research JSON: [{full_text, spans: [{entity_type, "
                                           "start_position, end_position}], locale (optional)}]")
    p.add_argument("--generate", type=int, metavar="N", help="instead of DATA, N seeded multi-locale records "
                   "(cards, national phones, IBANs, SSNs, IPs, emails, names, addresses; needs Faker)")
    p.add_argument("--seed", type=int, default=0, help="seed of --generate (default 0)")
    p.add_argument("--styles", action="store_true", help="--generate text in other styles: chat, forms, "
                   "signatures, CSV records, lists, possessives, card words of several languages")
    p.add_argument("--save", help="write the --generate records to this JSON file")
    p.add_argument("--config", help="YAML with pii stage keys overriding rules/pii/default.yaml")
    p.add_argument("--ner", choices=["rampart", "spacy", "transformers", "none"], help="override ner.backend")
    p.add_argument("--limit", type=int, help="evaluate the first N records only")
    p.add_argument("--json", help="also write the figures as JSON to this file")
    p.add_argument("--min-recall", type=float, help="exit 1 when structured recall is below this")
    p.set_defaults(func=cmd_pii_eval)
