"""Peer of bench_pii.py, run in the peer environment: stock offline Presidio, as a user installs it.

    python presidio_stock.py TEXTS.jsonl ENTITIES REPEAT   # prints {"cpu_s", "wall_s", "spans"}

Presidio's predefined English recognizers with its no-op NLP engine (no model to download),
``AnalyzerEngine.analyze`` once per document at score 0.5; best of REPEAT rounds by CPU time.
"""

import json
import sys
import time

from presidio_analyzer import AnalyzerEngine
from presidio_analyzer.nlp_engine import NoOpNlpEngine
from presidio_analyzer.recognizer_registry import RecognizerRegistry

with open(sys.argv[1], encoding="utf-8") as f:
    texts = [json.loads(line)["text"] for line in f]
entities, repeat = sys.argv[2].split(","), int(sys.argv[3])
nlp = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}])
nlp.load()
registry = RecognizerRegistry(supported_languages=["en"])
registry.load_predefined_recognizers(languages=["en"], nlp_engine=nlp)
engine = AnalyzerEngine(registry=registry, nlp_engine=nlp, supported_languages=["en"])
best = None
for _ in range(repeat):
    w0, c0 = time.perf_counter(), time.process_time()
    results = [engine.analyze(t, language="en", entities=entities, score_threshold=0.5) for t in texts]
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    if best is None or cpu < best["cpu_s"]:
        best = {"cpu_s": cpu, "wall_s": wall,
                "spans": [[(r.entity_type, r.start, r.end) for r in rs] for rs in results]}
print(json.dumps(best))
