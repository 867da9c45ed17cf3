"""Keyed, deterministic stand-ins for personal data: the same value and key give the same surrogate.

A corpus pseudonymized with one key keeps its co-reference (the same person is the same stand-in
throughout) without a table of real values anywhere: the stand-in is derived from an HMAC of the
value. Surrogates look like the real thing so that a model trained on them learns the format:
names from word lists, emails at reserved ``example`` domains, numbers with their separators kept,
card numbers that pass Luhn, IBANs with valid check digits, IPs in private or documentation ranges.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass

_SECRET_PREFIX = re.compile(r"^(?:AKIA|ASIA|ABIA|ACCA|gh[pousr]_|github_pat_|xox[a-z]-|AIza|sk-(?:[a-z]{2,8}-)?|eyJ"
                            r"|-----BEGIN [A-Z ]*-----|https://hooks\.slack\.com/[a-z]+/)")
_PEM_END = re.compile(r"-----END [A-Z ]*-----$")


def normalize(value: str) -> str:
    """Spelling variants of one value (case, spacing) map to one surrogate."""
    return " ".join(value.split()).casefold()


class Surrogates:
    """Surrogate values keyed by ``key``, with word lists from ``rules/pii/surrogates.yaml``."""

    def __init__(self, key: bytes, words: dict[str, list[str]]):
        self.key = key
        self.words = words

    def digest(self, entity: str, value: str) -> bytes:
        return hmac.new(self.key, f"{entity}\0{normalize(value)}".encode(), hashlib.sha256).digest()

    def _stream(self, entity: str, value: str) -> Iterator[int]:
        """Endless keyed bytes for ``value``: HMAC blocks with a counter."""
        seed = self.digest(entity, value)
        counter = 0
        while True:
            yield from hmac.new(self.key, seed + counter.to_bytes(4, "big"), hashlib.sha256).digest()
            counter += 1

    def _pick(self, rnd: Iterator[int], kind: str) -> str:
        words = self.words[kind]
        return words[(next(rnd) << 8 | next(rnd)) % len(words)]

    def make(self, entity: str, value: str) -> str:
        rnd = self._stream(entity, value)
        maker = getattr(self, f"_{entity.lower()}", None)
        out = maker(value, rnd) if maker else self._shape(value, rnd)
        return out.lower() if value.islower() else out

    # -- per entity

    def _person(self, value: str, rnd: Iterator[int]) -> str:
        first, last = self._pick(rnd, "first_names"), self._pick(rnd, "last_names")
        return first if len(value.split()) == 1 else f"{first} {last}"

    def _email_address(self, value: str, rnd: Iterator[int]) -> str:
        first, last = self._pick(rnd, "first_names"), self._pick(rnd, "last_names")
        tld = ("com", "org", "net")[next(rnd) % 3]
        return f"{first}.{last}@example.{tld}".lower()

    def _address(self, value: str, rnd: Iterator[int]) -> str:
        number = 1 + (next(rnd) << 8 | next(rnd)) % 999
        return f"{number} {self._pick(rnd, 'street_names')} {self._pick(rnd, 'street_suffixes')}"

    def _location(self, value: str, rnd: Iterator[int]) -> str:
        return self._pick(rnd, "cities")

    def _credit_card(self, value: str, rnd: Iterator[int]) -> str:
        digits = [c for c in value if c.isdigit()]
        body = [str(next(rnd) % 10) for _ in digits[:-1]]
        body[0] = digits[0]  # keep the network (first digit) so the card type stays plausible
        check = _luhn_check_digit("".join(body))
        return _refill(value, iter(body + [check]))

    def _iban_code(self, value: str, rnd: Iterator[int]) -> str:
        compact = re.sub(r"\s", "", value).upper()
        country, bban = compact[:2], self._shape(compact[4:], rnd).upper()
        check = 98 - int(_iban_digits(bban + country + "00")) % 97
        out = f"{country}{check:02d}{bban}"
        return _refill(value, iter(out)) if " " in value else out

    def _ip_address(self, value: str, rnd: Iterator[int]) -> str:
        if ":" in value:
            groups = [f"{next(rnd) << 8 | next(rnd):x}" for _ in range(6)]
            return "2001:db8:" + ":".join(groups)  # documentation prefix (RFC 3849)
        return "10." + ".".join(str(next(rnd)) for _ in range(3))  # private range (RFC 1918)

    def _shape(self, value: str, rnd: Iterator[int]) -> str:
        """Same length and character classes; non-secret prefixes (``ghp_``, PEM armour) kept."""
        m = _SECRET_PREFIX.match(value)
        head = m.group(0) if m else ""
        end = _PEM_END.search(value)
        tail = end.group(0) if end and head.startswith("-----BEGIN") else ""
        body = value[len(head):len(value) - len(tail)]
        out = []
        for c in body:
            if c.isdigit():
                out.append(str(next(rnd) % 10))
            elif c.isascii() and c.isalpha():
                letter = chr(ord("a") + next(rnd) % 26)
                out.append(letter.upper() if c.isupper() else letter)
            else:
                out.append(c)
        return head + "".join(out) + tail


def _refill(template: str, chars: Iterator[str]) -> str:
    """``template`` with each letter or digit replaced in turn from ``chars``; separators kept."""
    return "".join(next(chars) if c.isalnum() else c for c in template)


def _luhn_check_digit(body: str) -> str:
    total = 0
    for i, c in enumerate(reversed(body)):
        d = int(c) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def _iban_digits(s: str) -> str:
    return "".join(str(int(c, 36)) for c in s)


@dataclass
class SurrogateWords:
    """The keys of a surrogates file (the schema, `corpus.schema`): the lists the makers draw words from."""

    first_names: list[str]
    last_names: list[str]
    street_names: list[str]
    street_suffixes: list[str]
    cities: list[str]


def load_words(ref: str) -> dict[str, list[str]]:
    """The surrogate word lists of a rules file, every list the makers use there and non-empty."""
    from corpus import rules
    from corpus.errors import UserError

    words = asdict(rules.load_as(SurrogateWords, ref, "pii surrogates file"))
    empty = [k for k, v in words.items() if not v]
    if empty:
        raise UserError(f"pii surrogates file {ref}: {empty[0]} is empty; every list needs words")
    return words
