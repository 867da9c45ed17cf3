"""The pii stage's analysis vs plain Presidio, same recognizers, same documents, same run.

Corpus: ``--docs`` documents of about 2.9 KB cut from the public-domain speeches bundled in
``tests/data/prose/``, into which ``--pii-share`` of them get one or two records of
presidio-research's ``generated_large.json`` (``tests/data/pii-dev/``) spliced in at paragraph breaks
(gold spans shifted; the choices are seeded by ``--seed``), so recall is measured on the very
documents that are timed.

Contenders, each timed in wall seconds and CPU seconds of this process (the machine is shared; CPU
time is the steadier figure), the best of ``--repeat`` interleaved rounds:

- ``thresher``: the stage's engine (pre-screened regions; NER on the sentences the NER screen lets
  through, batched over ``batch_size`` documents).
- ``thresher-unscreened`` (with NER only): the same with ``ner.screen: none``, the model reading
  every sentence, to show what batching alone gives.
- ``presidio``: plain Presidio, ``AnalyzerEngine.analyze`` once per document with the same
  recognizers (Presidio's predefined ones, phone shapes, secrets, the same NER model wrapped as a
  recognizer) and the same context enhancer.
- ``presidio-stock`` (``--ner none`` only): Presidio's predefined pattern recognizers alone, for the
  recall a default offline Presidio gets. It runs in the peer environment (``peer_env.py``), Presidio
  as a user installs it; ``presidio`` runs in this process because it is built from Thresher's own
  recognizers (Presidio is one of Thresher's dependencies).

Both of the first two go through the same policy filter (thresholds, allow-lists, overlaps), so
their recall is comparable. ``--ner none`` compares the pattern side alone.

    .venv/bin/python benchmarks/bench_pii.py --docs 300 --ner none
    .venv/bin/python benchmarks/bench_pii.py --docs 100
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson
from common import PII_SET, paragraphs_name, row, speech_paragraph_docs, write_result
from peer_env import run_peer

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

STRUCTURED = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "IP_ADDRESS")


def corpus(n: int, share: float, seed: int = 0) -> list[dict]:
    """Prose documents, ``share`` of them carrying spliced-in labelled PII records."""
    rng = random.Random(seed)
    records = json.loads(PII_SET.read_text(encoding="utf-8"))
    docs = []
    for d in speech_paragraph_docs(n):
        text, spans = d["text"], []
        if rng.random() < share:
            for rec in rng.sample(records, rng.randint(1, 2)):
                breaks = [i for i in range(len(text)) if text.startswith("\n\n", i)] or [len(text)]
                at = rng.choice(breaks)
                insert = "\n\n" + rec["full_text"] + "\n\n"
                shift = at + 2
                spans = [(t, s + len(insert) if s >= at else s, e + len(insert) if s >= at else e) for t, s, e in spans]
                spans += [(s["entity_type"], s["start_position"] + shift, s["end_position"] + shift)
                          for s in rec["spans"]]
                text = text[:at] + insert + text[at:]
        docs.append({"text": text, "spans": spans})
    return docs


def recall(docs: list[dict], preds: list[list[tuple[str, int, int]]], types: set[str]) -> dict[str, float | None]:
    out = {}
    for group, wanted in (("structured", set(STRUCTURED)), ("PERSON", {"PERSON"}), ("ADDRESS", {"ADDRESS"})):
        if not wanted & types:
            out[group] = None
            continue
        n = hit = 0
        for d, ps in zip(docs, preds, strict=True):
            for t, s, e in d["spans"]:
                if t in wanted:
                    n += 1
                    hit += any(p == t and s < pe and ps_ < e for p, ps_, pe in ps)
        out[group] = hit / n if n else None
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=200)
    ap.add_argument("--pii-share", type=float, default=0.5)
    ap.add_argument("--ner", choices=["rampart", "none"], default="rampart")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0, help="seed of the spliced-in records")
    ap.add_argument("--json", help="write the figures here too (run_all.py reads it)")
    args = ap.parse_args()

    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.recognizer_registry import RecognizerRegistry

    from corpus.stages import base
    from corpus.stages.pii.engine import resolve_overlaps
    from corpus.stages.pii.ner import NerRecognizer
    from corpus.stages.pii.recognizers import WindowContextEnhancer, offline_nlp_engine
    from corpus.stages.pii.stage import accepted, build

    stage, _ = base.build({"stage": "pii", "ner": {**base.param_defaults(base.get("pii"))["ner"], "backend": args.ner}})
    engine, policy = build(stage.p)
    docs = corpus(args.docs, args.pii_share, args.seed)
    texts = [d["text"] for d in docs]

    plain_registry = RecognizerRegistry(supported_languages=["en"])
    plain_registry.recognizers = list(engine.analyzer.registry.recognizers)
    if engine.ner is not None:
        plain_registry.recognizers.append(NerRecognizer(engine.ner))
    plain = AnalyzerEngine(registry=plain_registry, nlp_engine=offline_nlp_engine(), supported_languages=["en"],
                           context_aware_enhancer=WindowContextEnhancer(*_context(engine)))
    wanted = engine.entities

    def run_thresher() -> list:
        out = []
        for b in range(0, len(texts), stage.p.batch_size):
            out += accepted(engine, policy, texts[b:b + stage.p.batch_size])
        return out

    def run_unscreened() -> list:
        screen, engine.screen = engine.screen, None
        try:
            return run_thresher()
        finally:
            engine.screen = screen

    def run_plain() -> list:
        return [resolve_overlaps([r for r in plain.analyze(t, language="en", entities=wanted, score_threshold=0.0)
                                  if policy.accepts(r, t)]) for t in texts]

    contenders: dict[str, Callable[[], list]] = {"thresher": run_thresher, "presidio": run_plain}
    if engine.screen is not None:
        contenders["thresher-unscreened"] = run_unscreened
    best: dict[str, dict] = {}
    for _ in range(args.repeat):
        for name, fn in contenders.items():
            w0, c0 = time.perf_counter(), time.process_time()
            results = fn()
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            if name not in best or cpu < best[name]["cpu_s"]:
                preds = [[(r.entity_type, r.start, r.end) for r in rs] for rs in results]
                best[name] = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                              "docs_per_cpu_s": round(len(texts) / cpu, 1),
                              "docs_per_wall_s": round(len(texts) / wall, 1),
                              **recall(docs, preds, set(wanted))}
    if args.ner == "none":
        best["presidio-stock"] = presidio_stock(docs, args.repeat)
    chars = sum(map(len, texts))
    print(f"{len(texts)} docs, {chars / len(texts):.0f} chars/doc on average, ner={args.ner}, best of {args.repeat}")
    if engine.screen is not None:
        ner_chars = sum(e - s for t in texts for s, e in engine.screen.regions(t))
        print(f"the NER screen passes {ner_chars / chars:.1%} of the characters to the model")
    print("| contender | wall s | CPU s | docs/CPU-s | docs/wall-s | structured recall | PERSON recall | ADDRESS recall |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, r in best.items():
        fmt = lambda x: "—" if x is None else f"{x:.3f}"  # noqa: E731
        print(f"| {name} | {r['wall_s']} | {r['cpu_s']} | {r['docs_per_cpu_s']} | {r['docs_per_wall_s']} | "
              f"{fmt(r['structured'])} | {fmt(r['PERSON'])} | {fmt(r['ADDRESS'])} |")
    speedup = best["presidio"]["cpu_s"] / best["thresher"]["cpu_s"]
    print(f"speed-up vs plain Presidio, same recognizers: {speedup:.1f}x (CPU time)")
    config = "patterns only" if args.ner == "none" else f"with {args.ner} NER"
    rows = [row(f"pii stage, {config}", "Presidio, same recognizers", "docs per CPU-second",
                best["thresher"]["docs_per_cpu_s"], best["presidio"]["docs_per_cpu_s"])]
    if "presidio-stock" in best:
        rows.append(row(f"pii stage, {config}", "stock offline Presidio", "structured recall",
                        best["thresher"]["structured"], best["presidio-stock"]["structured"]))
    write_result(args.json, f"pii ({config})", f"pii documents: {paragraphs_name(args.docs)}, {args.pii_share:.0%} "
                 f"with 1-2 records of tests/data/pii-dev/generated_large.json spliced in, seed {args.seed}",
                 rows, results=best, speedup_cpu=speedup)
    return 0


def presidio_stock(docs: list[dict], repeat: int) -> dict:
    """Stock offline Presidio in the peer environment, on the same documents; figures as for the others."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "texts.jsonl"
        path.write_bytes(b"".join(orjson.dumps({"text": d["text"]}) + b"\n" for d in docs))
        r = run_peer("presidio_stock.py", path, ",".join(STRUCTURED), repeat)
    preds = [[tuple(p) for p in ps] for ps in r["spans"]]
    return {"wall_s": round(r["wall_s"], 2), "cpu_s": round(r["cpu_s"], 2),
            "docs_per_cpu_s": round(len(docs) / r["cpu_s"], 1), "docs_per_wall_s": round(len(docs) / r["wall_s"], 1),
            **recall(docs, preds, set(STRUCTURED))}


def _context(engine) -> tuple[float, float, int, int]:
    e = engine.analyzer.context_aware_enhancer
    return (e.context_similarity_factor, e.min_score_with_context_similarity, e.context_prefix_count,
            e.context_suffix_count)


if __name__ == "__main__":
    sys.exit(main())
