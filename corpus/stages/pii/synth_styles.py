"""Seeded multi-locale records in styles `corpus.stages.pii.synth` does not write, for a held-out check.

`synth` writes one English sentence per entity from a fixed list, so recall measured on it says little
about the shapes personal data takes elsewhere. This module writes the same values (Faker's locales,
cards of every issuer and length, numbering-plan phones, IBANs) into other kinds of text:

- chat and forum posts ("hey all, Ute here", "lol Abha just told me"), lower-case text;
- e-mail signatures and sign-offs, form dumps (``Name: ...`` / ``Tel: ...``), CSV and ``;`` records;
- names at a sentence's start, after prepositions, in possessives, in lists with and without "and",
  hyphenated and accented surnames;
- card numbers after card words of several languages and paying verbs (``Kartennummer``, ``carte``,
  ``tarjeta``, ``paid with``), contiguous, spaced or dashed;
- phones with and without a country code, with dots, dashes, brackets or no separator;
- IBANs with and without spaces, SSNs with dashes or spaces, compressed IPv6, plus-addressed,
  sub-domain and IDN e-mail addresses; units, PO boxes and APO/FPO/DPO addresses;
- unlabelled look-alikes: order, part, SKU, ticket and tracking numbers, ISBNs, dates, prices,
  versions, timestamps, coordinates, visitor counts.

``thresher pii-eval --generate N --seed S --styles`` evaluates on it; the record format is `synth`'s.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from typing import Any

from corpus.stages.pii import synth

CARD_WORDS = ["card", "cc", "credit card", "Kartennummer", "carte", "tarjeta", "paid with", "Visa", "debit card",
              "card no", "CC#", "Kreditkarte", "numéro de carte", "número de tarjeta", "charged to card"]

# One short text per template; slots as in `synth` plus {name2} {name3} {first3} {lfirst} {llast} {pobox}
# {city} {cardword} {paid} {negative} {negative2}
STYLES: dict[str, list[str]] = {
    "forum": [
        "hey all, {first} here. anyone else paying with {cardword} {card} get charged twice??",
        "lol {first} just told me to text {phone} about the flat",
        "ok so I emailed {email} like 3 times, nobody answers. {negative} still not shipped",
        "Thanks {first}! btw my new number is {phone}, old one is dead",
        "{last}'s post was spot on. I'd add that {negative} is fine.",
        "idk, ask {first} or {first2}, they set up the server at {ip}",
        "Quoting {first}: the router sits at {ip} and {negative} is the firmware.",
        "+1 to what {last} said. Sent the deposit to {iban} already.",
    ],
    "signature": [
        "Best regards,\n{name}\nTel: {phone}\n{email}", "--\n{name} | Sales\nMobile {phone}\n{street}, {unit}",
        "Kind regards\n{name}\nM: {phone}\nE: {email}", "Cheers,\n{first}\n\nSent from my phone. Call {phone}",
        "Mit freundlichen Grüßen\n{name}\nTel. {phone}\nIBAN: {iban}",
    ],
    "csv": [
        "{name},{email},{phone}", "{last};{first};{phone};{iban}", "\"{name}\",\"{street}\",\"{phone}\"",
        "{first},{last},{ssn},{negative}", "{email},{ip},{negative}",
    ],
    "form": [
        "Name: {name}\nTel: {phone}\nAddress: {street}, {unit}", "Full name: {name}\nEmail: {email}\nCard: {card}\nExp: 04/27",
        "Applicant: {name}\nSSN: {ssn}\nPhone: {phone}", "Customer: {name}\nPO address: {pobox}\nPhone: {phone}",
        "Ship to: {name}\n{military}", "Account holder: {name}\nIBAN: {iban}\nRef: {negative}",
    ],
    "lower": [
        "my name is {lfirst} {llast} and my number is {phone}", "spoke to {lfirst} yesterday, she said to send it to {email}",
        "{lfirst} {llast} paid with {cardword} {card}", "send the invoice to {lfirst} at {street}, {unit}",
    ],
    "start": [
        "{last} won the vote by a wide margin.", "{first} never replied to my email at {email}.",
        "{name} lives at {street}, {unit}.", "{last} and {last2} signed for the company.",
    ],
    "preposition": [
        "I had lunch with {first} yesterday.", "There is a letter from {last} on the desk.",
        "The keys are with {first} {last} now.", "We talked about it with {last} and {last2}.",
        "I sent the draft to {first} for review.",
    ],
    "possessive": ["{last}'s new book sold well.", "That was {first}'s idea, not mine.", "We drove {name}'s car to {street}."],
    "list": [
        "Invited: {first}, {first2} and {first3}.", "On the committee are {name}, {name2} and {name3}.",
        "Attendees - {last}, {last2}, {last3}", "Team: {first} {last}; {first2} {last2}; {first3} {last3}",
    ],
    "card": [
        "{cardword} {card}", "{cardword}: {card} exp 11/27", "I {paid} {card} last week.", "{brand} {card} was declined",
        "Please use {cardword} number {card}.", "{cardword} {card} (CVV 123)",
    ],
    "phone": [
        "call me on {phone}", "ring {phone} after 6pm", "phone {phone}", "tel.: {phone}", "(mob) {phone}",
        "My number: {phone}.", "Reach us at {phone} or {email}.", "contact {first} on {phone}", "the hotline is {phone}",
        "whatsapp: {phone}", "fax {phone}", "Messages to {phone} please.", "registered under {phone}",
    ],
    "identifiers": [
        "IBAN {iban}", "wire to {iban} please", "my SSN is {ssn}", "SSN: {ssn}", "the box at {ip} is down",
        "ssh from {ip}", "mail {email}", "<{email}>", "Write to {email}.",
    ],
    "address": [
        "It is at {street}, {unit}.", "Send it to {pobox}, {city}.", "Mail for {name}: {military}",
        "We moved to {unit}, {street}.", "Address: {street} {unit}", "Deliver to {pobox}.",
    ],
    "negative": [
        "{negative}.", "Note: {negative} and {negative2}.", "We shipped {negative} on time.",
        "See {negative}; nothing else changed.", "Price went up, {negative}.",
    ],
}
LABELS = {**synth._LABELS, "first3": "PERSON", "name2": "PERSON", "name3": "PERSON", "lfirst": "PERSON",
          "llast": "PERSON", "pobox": "ADDRESS"}


def phone(country: str, fake: Any, rng: random.Random) -> str:
    """`synth.phone`, sometimes rewritten: a national number without separators, or the area code of
    an international one in brackets (``+44 (20) 7946 0958``)."""
    text = synth.phone(country, fake, rng)
    style = rng.random()
    if style < 0.15 and text.startswith("0"):
        return re.sub(r"[^\d]", "", text)
    if style < 0.3 and text.startswith("+") and text.count(" ") >= 2:
        code, area, rest = text.split(" ", 2)
        return f"{code} ({area}) {rest}"
    return text


def email(fake: Any, rng: random.Random) -> str:
    """`synth.email` with plus-addressing, a sub-domain or an internationalised domain now and then."""
    user, domain = synth.email(fake, rng).split("@")
    style = rng.random()
    if style < 0.25:
        user += "+" + rng.choice(["news", "shop", "2024", "bills"])
    elif style < 0.45:
        domain = rng.choice(["mail.", "eu.", "staff.", "post."]) + domain
    elif style < 0.53:
        domain = rng.choice(["münchen-mail.de", "correo.españa.es", "bücher.ch", "société.fr"])
    return f"{user}@{domain}"


def ipv6(rng: random.Random) -> str:
    """Eight groups, or compressed with ``::`` (``fe80::fcd6:6fc5:1fc3``)."""
    groups = [f"{rng.randint(0, 0xffff):x}" for _ in range(8)]
    if rng.random() < 0.5:
        i = rng.randint(1, 5)
        return ":".join(groups[:i]) + "::" + ":".join(groups[rng.randint(i + 1, 7):])
    return ":".join(groups)


def negative(rng: random.Random) -> str:
    """A number that is no personal data."""
    r = rng.randint
    return rng.choice([
        f"order #{r(10 ** 6, 10 ** 10)}", f"ISBN 978-{r(0, 9)}-{r(100, 999)}-{r(10000, 99999)}-{r(0, 9)}",
        f"on {r(1, 28)}.{r(1, 12)}.{r(1990, 2025)}", f"€{r(1, 999)},{r(0, 99):02d}", f"v{r(1, 9)}.{r(0, 20)}.{r(0, 99)}",
        f"at {r(2019, 2025)}-0{r(1, 9)}-1{r(0, 9)} 1{r(0, 9)}:{r(10, 59)}:{r(10, 59)}",
        f"coordinates {rng.uniform(-80, 80):.5f}, {rng.uniform(-170, 170):.5f}", f"part no. {r(100, 999)}-{r(1000, 9999)}-{r(10, 99)}",
        f"SKU {r(1000000, 9999999)}", f"tracking {r(10 ** 11, 10 ** 12)}", f"{r(1000, 99999):,} visitors",
        f"room for {r(2, 12)} people", f"model {rng.choice('ABCXZ')}{r(100, 9999)}", f"ticket {r(100000, 999999)}",
    ])


def _surname(fake: Any, rng: random.Random) -> str:
    last = synth.latin(fake.last_name())
    return f"{last}-{synth.latin(fake.last_name())}" if rng.random() < 0.1 else last


def _values(country: str, fake: Any, rng: random.Random) -> dict[str, Callable[[], str]]:
    values = synth._values(country, fake, rng)
    r = rng.randint
    return {
        **values,
        "last": lambda: _surname(fake, rng), "last2": lambda: _surname(fake, rng), "last3": lambda: _surname(fake, rng),
        "first3": lambda: synth.latin(fake.first_name()),
        "name": lambda: f"{synth.latin(fake.first_name())} {_surname(fake, rng)}",
        "name2": lambda: f"{synth.latin(fake.first_name())} {_surname(fake, rng)}",
        "name3": lambda: f"{synth.latin(fake.first_name())} {_surname(fake, rng)}",
        "lfirst": lambda: synth.latin(fake.first_name()).lower(), "llast": lambda: _surname(fake, rng).lower(),
        "phone": lambda: phone(country, fake, rng), "email": lambda: email(fake, rng),
        "ip": lambda: fake.ipv4_public() if rng.random() < 0.5 else ipv6(rng),
        "ssn": lambda: rng.choice("-- ").join([f"{r(1, 665):03d}", f"{r(1, 99):02d}", f"{r(1, 9999):04d}"]),
        "cardword": lambda: rng.choice(CARD_WORDS),
        "paid": lambda: rng.choice(["paid with", "paid with card", "used my card", "charged my Visa"]),
        "unit": lambda: rng.choice([f"Apt. {r(1, 99)}", f"Apt {r(1, 999)}{rng.choice(['', 'B'])}", f"Suite {r(100, 2500)}",
                                    f"Unit {r(1, 40)}", f"#{r(2, 999)}", f"Flat {r(1, 30)}{rng.choice(['', 'A'])}",
                                    f"Ste {r(100, 900)}"]),
        "pobox": lambda: rng.choice([f"PO Box {r(1, 9999)}", f"P.O. Box {r(1, 9999)}", f"Postfach {r(100, 99999)}",
                                     f"BP {r(1, 999)}"]),
        "city": lambda: synth.latin(fake.city()),
        "negative": lambda: negative(rng), "negative2": lambda: negative(rng),
    }


def record(country: str, fake: Any, rng: random.Random) -> dict[str, Any]:
    """One text of one to three styles, each a line or a paragraph of its own, with its labelled spans."""
    values = _values(country, fake, rng)
    text, spans = "", []
    for style in rng.sample(sorted(STYLES), rng.randint(1, 3)):
        if text:
            text += rng.choice(["\n", "\n\n"])
        text = synth.fill(text, rng.choice(STYLES[style]), values, LABELS, spans)
    return {"full_text": text, "spans": spans, "locale": country}


def generate(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` records over every locale of `synth.LOCALES`, reproducible by ``seed``."""
    return synth.generate(n, seed, make=record)
