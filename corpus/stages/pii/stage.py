"""``pii``: find personal data and secrets with Presidio, and redact, mask, hash, pseudonymize or drop.

Defaults come from ``rules/pii/default.yaml``. Each document gets ``metadata.pii`` (counts per entity
type, never values); the ledger counts spans per entity and action (``pii.EMAIL_ADDRESS.redact``)
and how much text the pre-screen let through. A document over an entity's ``max_count`` under
``drop_document`` is excluded (filter mode) or flagged (annotate mode) with ``pii_drop_document``.
"""

from __future__ import annotations

import importlib.util
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corpus import keys, rules
from corpus.document import Document
from corpus.errors import UserError
from corpus.stages.base import Stage, register
from corpus.stages.context import RunContext, StageContext
from corpus.stages.pii import review
from corpus.stages.pii.engine import PiiEngine, resolve_overlaps
from corpus.stages.pii.ner import NerParams, backend_labels
from corpus.stages.pii.policy import Policy, key_from_env, parse_rules
from corpus.stages.pii.surrogates import Surrogates, load_words

REASON = "pii_drop_document"
SCREEN_LISTS = "pii/ner_screen.yaml"  # common-word lists for the person cues when the stage runs no NER screen


@dataclass
class PiiParams:
    entities: dict[str, Any] = field(default_factory=dict)
    default_threshold: float = 0.5
    key_env: str = "THRESHER_PII_KEY"
    ner: NerParams = field(default_factory=NerParams)
    ner_labels: dict[str, dict[str, str]] = field(default_factory=dict)  # per backend: model label -> entity
    context: dict[str, list[str]] = field(default_factory=dict)
    context_against: dict[str, list[str]] = field(default_factory=dict)  # words that name a number as no entity
    context_words: list[int] = field(default_factory=lambda: [6, 3])
    phone_regions: list = field(default_factory=list)  # not list[str]: YAML reads a bare NO as false; check() asks to quote it
    disabled_recognizers: list[str] = field(default_factory=list)
    surrogates: str = "pii/surrogates.yaml"
    batch_size: int = 64
    review_sample: int = 0
    review_context_chars: int = 80

    def check(self) -> None:
        key_from_env(self.key_env, parse_rules(self.entities, self.default_threshold))  # fail before any work
        if not self.entities:
            raise UserError("stage 'pii': entities is empty: nothing would be looked for")
        if self.batch_size < 1 or self.review_sample < 0:
            raise UserError("stage 'pii': batch_size must be >= 1 and review_sample >= 0")
        if len(self.context_words) != 2:
            raise UserError("stage 'pii': context_words is [words before, words after]")
        import phonenumbers

        unknown = sorted(str(r) for r in self.phone_regions if str(r).upper() not in phonenumbers.SUPPORTED_REGIONS)
        if unknown:
            raise UserError(f"stage 'pii': phone_regions: unknown region {unknown[0]!r} (ISO 3166 codes such as DE, GB; quote 'NO')")


def build(p: PiiParams) -> tuple[PiiEngine, Policy]:
    """The analyzer and the policy for ``p``: what setup() builds once per worker, and pii-eval too."""
    from corpus.stages.pii.model_checks import ModelChecks
    from corpus.stages.pii.ner import make_backend
    from corpus.stages.pii.ner_screen import ScreenLists, screen_for
    from corpus.stages.pii.person_cues import PersonCues

    policy = policy_for(p)
    ner = make_backend(p.ner, p.ner_labels)
    screen = screen_for(p.ner.screen) if ner is not None else None
    cues = checks = None
    if ner is not None:
        lists = screen.lists if screen else ScreenLists.load(SCREEN_LISTS)
        checks = ModelChecks(lists)
        cues = PersonCues(lists) if p.ner.person_cues else None
    engine = PiiEngine(list(policy.rules), p.context, ner, p.disabled_recognizers, tuple(p.context_words),
                       screen=screen, phone_regions=[str(r).upper() for r in p.phone_regions], cues=cues,
                       checks=checks, context_against=p.context_against)
    if ner is None:  # `backend: none` means patterns only: entities only a model finds are not looked for
        model_only = {e for labels in p.ner_labels.values() for e in labels.values()} - set(engine.entities)
        policy.rules = {e: r for e, r in policy.rules.items() if e not in model_only}
    refuse_unrecognized(p, set(engine.pattern_entities))
    return engine, policy


def refuse_unrecognized(p: PiiParams, pattern_entities: set[str]) -> None:
    """A `UserError` naming the entities of ``p`` that no recognizer finds: neither a pattern
    recognizer (``pattern_entities``) nor the model's labels. With ``backend: none`` the entities only
    a model finds are not looked for, so they are not missing."""
    import difflib

    mapping = backend_labels(p.ner, p.ner_labels)
    model_only = {e for labels in p.ner_labels.values() for e in labels.values()}
    missing = sorted(set(p.entities) - pattern_entities - (model_only if mapping is None else set(mapping.values())))
    if missing:
        known = [*(rules.load(Pii.rules) or {}).get("entities", {}), *model_only]
        near = difflib.get_close_matches(missing[0], known, n=1, cutoff=0.6)
        hint = f"did you mean {near[0]!r}?" if near else "check entities and ner"
        raise UserError(f"stage 'pii': no recognizer for {', '.join(missing)} ({hint})")


def policy_for(p: PiiParams) -> Policy:
    """The policy alone: entity rules, and the key (from the environment) when an action needs one."""
    entity_rules = parse_rules(p.entities, p.default_threshold)
    key = key_from_env(p.key_env, entity_rules)
    return Policy(entity_rules, Surrogates(key, load_words(p.surrogates)) if key else None)


def accepted(engine: PiiEngine, policy: Policy, texts: list[str]) -> list[list]:
    """Spans per text that pass the policy's thresholds and allow-lists, overlaps resolved."""
    return [resolve_overlaps([r for r in found if policy.accepts(r, text)])
            for text, found in zip(texts, engine.analyze(texts), strict=True)]


@register
class Pii(Stage):
    name = "pii"
    category = keys.PII_CATEGORY
    Params = PiiParams
    rules = "pii/default.yaml"
    doc = "PII and secrets (Presidio + offline NER): redact, mask, hash, pseudonymize, drop or keep per entity."

    def setup(self) -> None:
        self.engine, self.policy = build(self.p)

    def check(self) -> None:
        """Every entity has a recognizer, and the files the ``ner`` block names exist, known without
        loading the model (setup loads it in each worker)."""
        from corpus.stages.pii.recognizers import pattern_registry

        p: PiiParams = self.p
        registry = pattern_registry(p.entities, p.context, p.disabled_recognizers, [str(r).upper() for r in p.phone_regions])
        refuse_unrecognized(p, set(p.entities) & {e for r in registry.recognizers for e in r.supported_entities})
        if p.ner.backend in ("rampart", "transformers") and p.ner.model and not Path(p.ner.model).expanduser().is_dir():
            raise UserError(f"stage 'pii': ner.model {p.ner.model} is not a folder (give the model's local folder)")
        if p.ner.backend == "transformers" and importlib.util.find_spec("torch") is None:
            raise UserError("stage 'pii': ner.backend transformers runs its model with torch, which is not "
                            "installed: pip install 'thresher[train]' (backend rampart needs no torch)")
        if p.ner.backend not in (None, "none") and isinstance(p.ner.screen, str) and p.ner.screen != "none":
            rules.resolve(p.ner.screen)

    def process(self, docs: Iterable[Document], ctx: StageContext) -> Iterator[Document]:
        p: PiiParams = self.p
        sampler = review.ReviewSampler(p.review_sample, p.review_context_chars) if p.review_sample else None
        yield from self.route(self._scrub(docs, ctx, sampler), ctx)
        if sampler is not None:
            sampler.write(ctx.run.held_for_review(self.name), ctx.task_id)

    def _scrub(self, docs: Iterable[Document], ctx: StageContext,
               sampler: review.ReviewSampler | None) -> Iterator[tuple[Document, str | None]]:
        """Each document with its findings applied, and ``pii_drop_document`` where the policy drops it."""
        p: PiiParams = self.p
        actions = {e: r.action for e, r in self.policy.rules.items()}
        it = iter(docs)
        while batch := list(itertools.islice(it, p.batch_size)):
            st = self.engine.stats
            before = (st.docs_screened_out, st.chars_analyzed, st.chars_to_ner)
            found = accepted(self.engine, self.policy, [d.text for d in batch])
            ctx.count(f"{keys.PII_COUNTER}docs_screened_out", st.docs_screened_out - before[0])
            ctx.count(f"{keys.PII_COUNTER}chars_analyzed_by_patterns", st.chars_analyzed - before[1])
            ctx.count(f"{keys.PII_COUNTER}chars_analyzed_by_ner", st.chars_to_ner - before[2])
            for doc, results in zip(batch, found, strict=True):
                if sampler is not None:
                    sampler.observe(doc, results, actions)
                outcome = self.policy.apply(doc.text, results)
                doc.metadata[keys.PII] = {e: n for e, n in sorted(_per_entity(outcome.counts).items())}
                for (ent, action), n in sorted(outcome.counts.items()):
                    ctx.count(f"{keys.PII_COUNTER}{ent}.{action}", n)
                if results:
                    ctx.count(f"{keys.PII_COUNTER}docs_with_pii")
                doc.text = outcome.text
                yield doc, REASON if outcome.drop else None

    def finalize(self, ctx: RunContext) -> None:
        folder = ctx.run.held_for_review(self.name)
        if self.p.review_sample and (folder / "parts").is_dir():
            review.merge(folder, self.p.review_sample)


def _per_entity(counts: dict[tuple[str, str], int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for (ent, _), n in counts.items():
        out[ent] = out.get(ent, 0) + n
    return out
