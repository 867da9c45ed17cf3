"""What happens to each entity found: per-entity actions, thresholds and allow-lists from rules/pii/.

Actions: ``redact`` (a typed placeholder, ``<EMAIL_ADDRESS>``), ``mask`` (characters replaced,
separators and optionally the last few kept), ``hash`` (``<EMAIL_ADDRESS:1f2e3d4c5b6a>``, a keyed
HMAC), ``pseudonymize`` (a realistic keyed surrogate), ``drop_document`` (the document goes when it
holds more than ``max_count`` of the entity; below that the spans are redacted), ``keep`` (counted,
left in place). The HMAC key comes from an environment variable, read once per worker and never
written anywhere: without it the same value cannot be linked across runs by anyone holding the data.
Anonymisation itself is presidio-anonymizer's, with operators per entity.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

from presidio_analyzer import RecognizerResult
from presidio_anonymizer import AnonymizerEngine
from presidio_anonymizer.entities import OperatorConfig

from corpus import schema
from corpus.errors import UserError
from corpus.stages.pii.surrogates import Surrogates

ACTIONS = ("redact", "mask", "hash", "pseudonymize", "drop_document", "keep")
KEYED = ("hash", "pseudonymize")


@dataclass(frozen=True)
class EntityRule:
    """One entity's line in the policy."""

    action: str
    threshold: float
    allow: tuple[re.Pattern[str], ...]
    max_count: int = 0
    mask_char: str = "*"
    mask_keep_last: int = 0


@dataclass
class EntitySpec:
    """One entry of the stage's ``entities`` block as written: a mapping of these keys, or a bare
    action name (short for ``{action: NAME}``)."""

    action: Literal[ACTIONS] = "redact"
    threshold: float | None = None  # None: the stage's default_threshold
    allow: list[str] | None = None  # regular expressions of values that are not personal data
    max_count: int = 0
    mask_char: str = "*"
    mask_keep_last: int = 0


def parse_rules(entities: dict[str, Any], default_threshold: float) -> dict[str, EntityRule]:
    """Check the ``entities`` block of the stage's config (`EntitySpec` is its schema); every mistake
    is a one-line `UserError`."""
    out: dict[str, EntityRule] = {}
    for ent, entry in entities.items():
        where = f"entities.{ent}"
        try:
            spec = schema.from_mapping(EntitySpec, {"action": entry} if isinstance(entry, str) else entry, where)
        except UserError as e:
            raise UserError(f"stage 'pii': {e}") from None
        threshold = default_threshold if spec.threshold is None else spec.threshold
        if not 0 <= threshold <= 1:
            raise UserError(f"stage 'pii': {where}.threshold must be a number in [0, 1], got {threshold}")
        try:
            allow = tuple(re.compile(a, re.IGNORECASE) for a in spec.allow or [])
        except re.error as e:
            raise UserError(f"stage 'pii': {where}.allow: invalid regex ({e})") from None
        if spec.max_count < 0 or spec.mask_keep_last < 0:
            raise UserError(f"stage 'pii': {where}: max_count and mask_keep_last must be >= 0")
        out[ent] = EntityRule(spec.action, threshold, allow, spec.max_count, spec.mask_char, spec.mask_keep_last)
    return out


def key_from_env(var: str, rules: dict[str, EntityRule]) -> bytes | None:
    """The HMAC key, when some entity needs one; a missing key is the user's to fix."""
    if not any(r.action in KEYED for r in rules.values()):
        return None
    key = os.environ.get(var, "")
    if len(key) < 16:
        needing = sorted(e for e, r in rules.items() if r.action in KEYED)
        raise UserError(f"stage 'pii': {', '.join(needing)} need a secret key of at least 16 characters in "
                        f"${var} (it is never stored)")
    return key.encode()


@dataclass
class Outcome:
    """One document's result: the new text, spans per (entity, action), and whether it is dropped."""

    text: str
    counts: Counter[tuple[str, str]]
    drop: bool


class Policy:
    def __init__(self, rules: dict[str, EntityRule], surrogates: Surrogates | None):
        """``surrogates`` carries the key; it is needed when some entity is hashed or pseudonymized."""
        self.rules = rules
        self.surrogates = surrogates
        self.anonymizer = AnonymizerEngine()
        self.operators = {ent: self._operator(ent, rule) for ent, rule in rules.items()}

    def accepts(self, result: RecognizerResult, text: str) -> bool:
        """Above the entity's threshold and not allow-listed."""
        rule = self.rules.get(result.entity_type)
        if rule is None or result.score < rule.threshold:
            return False
        value = text[result.start:result.end]
        return not any(a.fullmatch(value) for a in rule.allow)

    def apply(self, text: str, results: list[RecognizerResult]) -> Outcome:
        """Apply the actions to accepted, non-overlapping ``results``."""
        per_entity = Counter(r.entity_type for r in results)
        drop = any(rule.action == "drop_document" and per_entity[ent] > rule.max_count
                   for ent, rule in self.rules.items())
        counts: Counter[tuple[str, str]] = Counter()
        for ent, n in per_entity.items():
            action = self.rules[ent].action
            counts[ent, "redact" if action == "drop_document" and not drop else action] += n
        changing = [r for r in results if self.rules[r.entity_type].action != "keep"]
        if not changing:
            return Outcome(text, counts, drop)
        new = self.anonymizer.anonymize(text, changing, operators=self.operators).text
        return Outcome(new, counts, drop)

    # -- operators

    def _operator(self, ent: str, rule: EntityRule) -> OperatorConfig:
        if rule.action in ("redact", "drop_document"):
            return OperatorConfig("replace", {"new_value": f"<{ent}>"})
        if rule.action == "keep":
            return OperatorConfig("keep")
        if rule.action == "mask":
            return OperatorConfig("custom", {"lambda": lambda v, r=rule: _mask(v, r.mask_char, r.mask_keep_last)})
        if rule.action == "hash":
            return OperatorConfig("custom", {"lambda": lambda v, e=ent: f"<{e}:{self.surrogates.digest(e, v).hex()[:12]}>"})
        return OperatorConfig("custom", {"lambda": lambda v, e=ent: self.surrogates.make(e, v)})


def _mask(value: str, char: str, keep_last: int) -> str:
    """Letters and digits masked, separators kept (``***-**-6789``), the last ``keep_last`` kept."""
    alnum = [i for i, c in enumerate(value) if c.isalnum()]
    keep = set(alnum[len(alnum) - keep_last:]) if keep_last > 0 else set()
    return "".join(c if (i in keep or not c.isalnum()) else char for i, c in enumerate(value))
