"""Seeded multi-locale labelled PII records, for `thresher pii-eval --generate` and the tests.

presidio-research's set is one locale's shapes (US numbers, 16-digit cards), so recall measured on it
says little about a Maestro card, a Dutch mobile written without ``+31`` or a name from Oslo. This
module writes records in the same span format (plus a ``locale`` field) from Faker's locales
(dev extra) and from the numbering rules themselves:

- cards of every major issuer at every length it issues, 12 to 19 digits, Luhn-valid, written
  contiguous or grouped, after card words of several kinds;
- phone numbers valid in each country's numbering plan (`phonenumbers`), written nationally
  (``0612 345 678``, ``020 7946 0958``) and internationally, plus Faker's own locale formats;
- IBANs of each country's BBAN layout with mod-97 check digits, US SSNs, IPv4/v6, e-mail addresses
  (never at the allow-listed example domains), names of the locale as whole names and lone
  surnames or first names, street addresses, unit numbers and military (APO/FPO/DPO) addresses;
- unlabelled look-alikes: ISBNs, order numbers, timestamps, prices and versions, which must stay.

The same seed gives the same records; records are English sentences around local values, as in
English web text.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from corpus.stages.pii.recognizers import luhn_ok

# country (ISO 3166) -> Faker locale: every EU member plus the UK, CH, NO, US, IN and BR
LOCALES: dict[str, str] = {
    "AT": "de_AT", "BE": "nl_BE", "BG": "bg_BG", "HR": "hr_HR", "CY": "el_CY", "CZ": "cs_CZ", "DK": "da_DK",
    "EE": "et_EE", "FI": "fi_FI", "FR": "fr_FR", "DE": "de_DE", "GR": "el_GR", "HU": "hu_HU", "IE": "en_IE",
    "IT": "it_IT", "LV": "lv_LV", "LT": "lt_LT", "LU": "de_LU", "MT": "mt_MT", "NL": "nl_NL", "PL": "pl_PL",
    "PT": "pt_PT", "RO": "ro_RO", "SK": "sk_SK", "SI": "sl_SI", "ES": "es_ES", "SE": "sv_SE", "GB": "en_GB",
    "CH": "de_CH", "NO": "no_NO", "US": "en_US", "IN": "en_IN", "BR": "pt_BR",
}
# Faker locales whose phone provider is the en_US one: their numbers come from the numbering plan only
_NO_LOCAL_PHONES = {"CY", "EE", "IE", "MT", "LU"}

# BBAN layouts of the IBAN registry: '#' a digit, '?' a capital letter
BBAN: dict[str, str] = {
    "AT": "#" * 16, "BE": "#" * 12, "BG": "????" + "#" * 14, "HR": "#" * 17, "CY": "#" * 24, "CZ": "#" * 20,
    "DK": "#" * 14, "EE": "#" * 16, "FI": "#" * 14, "FR": "#" * 23, "DE": "#" * 18, "GR": "#" * 23,
    "HU": "#" * 24, "IE": "????" + "#" * 14, "IT": "?" + "#" * 22, "LV": "????" + "#" * 13, "LT": "#" * 16,
    "LU": "#" * 16, "MT": "????" + "#" * 23, "NL": "????" + "#" * 10, "PL": "#" * 24, "PT": "#" * 21,
    "RO": "????" + "#" * 16, "SK": "#" * 20, "SI": "#" * 15, "ES": "#" * 20, "SE": "#" * 20,
    "GB": "????" + "#" * 14, "CH": "#" * 17, "NO": "#" * 11, "BR": "#" * 23 + "??",
}

# issuer -> (prefixes, lengths): every length each one issues, 12 (Maestro) to 19
ISSUERS: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = {
    "visa": (("4",), (13, 16, 19)),
    "mastercard": (("51", "52", "53", "54", "55", "2221", "2500", "2720"), (16,)),
    "amex": (("34", "37"), (15,)),
    "discover": (("6011", "644", "65"), (16, 17, 18, 19)),
    "jcb": (("3528", "3545", "3589"), (15, 16, 17, 18, 19)),
    "diners": (("300", "305", "36", "38"), (14, 16)),
    "maestro": (("5018", "5020", "5038", "5893", "6304", "6759", "6761", "6763"), (12, 13, 14, 15, 16, 17, 18, 19)),
    "unionpay": (("62",), (16, 17, 18, 19)),
    "mir": (("2200", "2204"), (16, 17, 18, 19)),
    "rupay": (("508", "60", "81"), (16,)),
}

_CYR = dict(zip("абвгдежзийклмнопрстуфхцчшщъьюяАБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЬЮЯ",
                ["a", "b", "v", "g", "d", "e", "zh", "z", "i", "y", "k", "l", "m", "n", "o", "p", "r", "s", "t",
                 "u", "f", "h", "ts", "ch", "sh", "sht", "a", "", "yu", "ya",
                 "A", "B", "V", "G", "D", "E", "Zh", "Z", "I", "Y", "K", "L", "M", "N", "O", "P", "R", "S", "T",
                 "U", "F", "H", "Ts", "Ch", "Sh", "Sht", "A", "", "Yu", "Ya"], strict=True))
_GRK = dict(zip("αβγδεζηθικλμνξοπρσςτυφχψωΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩ",
                ["a", "v", "g", "d", "e", "z", "i", "th", "i", "k", "l", "m", "n", "x", "o", "p", "r", "s", "s",
                 "t", "y", "f", "ch", "ps", "o",
                 "A", "V", "G", "D", "E", "Z", "I", "Th", "I", "K", "L", "M", "N", "X", "O", "P", "R", "S", "T",
                 "Y", "F", "Ch", "Ps", "O"], strict=True))


def latin(text: str) -> str:
    """Cyrillic and Greek written in Latin letters, as English text writes Bulgarian or Greek names."""
    if not any("\u0370" <= c <= "\u04ff" for c in text):
        return text
    bare = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
    return "".join(_CYR.get(c, _GRK.get(c, c)) for c in bare)


def luhn_complete(body: str) -> str:
    """``body`` plus the check digit that makes it Luhn-valid."""
    return next(body + d for d in "0123456789" if luhn_ok(body + d))


def iban(country: str, rng: random.Random) -> str:
    """An IBAN of ``country``'s BBAN layout with valid mod-97 check digits."""
    bban = "".join(rng.choice("0123456789") if c == "#" else rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
                   for c in BBAN[country])
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


def card(issuer: str, length: int, rng: random.Random) -> str:
    """A Luhn-valid number of ``length`` digits in one of ``issuer``'s ranges."""
    prefixes, _ = ISSUERS[issuer]
    body = rng.choice(prefixes)
    body += "".join(rng.choice("0123456789") for _ in range(length - 1 - len(body)))
    return luhn_complete(body)


def write_card(number: str, rng: random.Random) -> str:
    """Contiguous, or in the groups printed on cards (4-6-5 for 15 digits, fours otherwise)."""
    style = rng.random()
    if style < 0.4 or len(number) == 12 and style < 0.6:
        return number
    sep = rng.choice([" ", " ", "-"])
    if len(number) == 15 and rng.random() < 0.7:
        return sep.join([number[:4], number[4:10], number[10:]])
    return sep.join(number[i:i + 4] for i in range(0, len(number), 4))


def phone(country: str, fake: Any, rng: random.Random) -> str:
    """A number valid in ``country``'s plan written nationally or internationally, or Faker's own format."""
    import phonenumbers
    from phonenumbers import PhoneNumberFormat, PhoneNumberType

    if country not in _NO_LOCAL_PHONES and rng.random() < 0.3:
        return fake.phone_number()
    kind = rng.choice([PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE])
    example = phonenumbers.example_number_for_type(country, kind) or phonenumbers.example_number(country)
    for _ in range(50):
        national = str(example.national_number)
        keep = max(1, len(national) - rng.randint(4, 7))
        candidate = national[:keep] + "".join(rng.choice("0123456789") for _ in range(len(national) - keep))
        num = phonenumbers.parse("+" + str(example.country_code) + candidate)
        if phonenumbers.is_valid_number(num):
            break
    else:
        num = example
    style = rng.random()
    if style < 0.45:
        text = phonenumbers.format_number(num, PhoneNumberFormat.NATIONAL)
    elif style < 0.8:
        text = phonenumbers.format_number(num, PhoneNumberFormat.INTERNATIONAL)
    else:
        text = phonenumbers.format_number(num, PhoneNumberFormat.E164)
    if rng.random() < 0.25:  # people write their own separators
        text = re.sub(r"(?<=\d)[ ](?=\d)", rng.choice(["-", ".", " "]), text)
    return text


def email(fake: Any, rng: random.Random) -> str:
    """A mailbox at a free-mail or company domain; never at example.com/org/net, which the policy allows."""
    user = latin(fake.user_name()).lower()
    domain = fake.free_email_domain() if rng.random() < 0.6 else fake.domain_name()
    return f"{user}@{re.sub(r'example[.](?:com|org|net)$', 'mailbox.eu', domain)}"


def military(last_name: str, rng: random.Random) -> str:
    """A US military address (ship, PSC or unit box) with its APO/FPO/DPO line, in one line or two."""
    state, zipcode, sep = rng.choice(["AA", "AE", "AP"]), f"{rng.randint(9000, 96699):05d}", rng.choice(["\n", ", "])
    return rng.choice([
        f"{rng.choice(['USNS', 'USNV', 'USS', 'USCGC'])} {last_name}{sep}FPO {state} {zipcode}",
        f"PSC {rng.randint(1000, 9999)}, Box {rng.randint(1000, 9999)}{sep}APO {state} {zipcode}",
        f"Unit {rng.randint(1000, 9999)} Box {rng.randint(1000, 9999)}{sep}DPO {state} {zipcode}",
    ])


def unit(rng: random.Random) -> str:
    """A secondary address designator with its number (``Apt. 12``, ``Suite 400B``)."""
    word = rng.choice(["Apt.", "Apt", "Apartment", "Suite", "Ste.", "Unit", "Flat", "Room", "Bldg.", "Floor"])
    return f"{word} {rng.randint(1, 999)}{rng.choice(['', '', 'B', 'A'])}"


# One sentence per template. Labelled slots: {name} {first} {last} {phone} {card} {iban} {ssn} {ip}
# {email} {street} {unit} {military}; unlabelled: {brand} (the card's issuer), {exp}, and the
# look-alikes {isbn} {order} {ts} {price} {version}.
TEMPLATES: dict[str, list[str]] = {
    "CREDIT_CARD": [
        "Please charge card {card} for the balance.", "cc {card} exp {exp}", "Card: {card}",
        "I paid with my {brand} {card} yesterday.", "The card number is {card}.", "card no. {card}, CVV on file",
        "Refund to the credit card {card} please.", "My {brand} card {card} was declined.",
        "Billing: cc# {card}", "Use the card ending in the digits {card} for the deposit.",
    ],
    "PHONE_NUMBER": [
        "Send messages to {phone} after six.", "The number registered to the account is {phone}.",
        "Call me at {phone} tomorrow.", "Tel. {phone}", "Phone: {phone}", "You can reach {first} on {phone}.",
        "mobile {phone}", "WhatsApp {phone} if the line is busy.", "My cell is {phone}.",
        "Registered {phone} as the contact for the flat.", "Text {phone} for the door code.",
        "For bookings ring {phone}.", "Fax: {phone}",
    ],
    "IBAN_CODE": [
        "Transfer the deposit to IBAN {iban}.", "Bank account: {iban}", "Please wire it to {iban} by Friday.",
        "IBAN {iban} (reference: rent)",
    ],
    "US_SSN": [
        "SSN {ssn}", "Her social security number is {ssn}.", "Applicant SSN: {ssn}",
    ],
    "IP_ADDRESS": [
        "The login came from {ip}.", "Blocked host {ip} after repeated attempts.", "Server IP: {ip}",
    ],
    "EMAIL_ADDRESS": [
        "Write to {email} for the forms.", "Contact: {email}", "Forwarded from {email} this morning.",
        "{name} <{email}>",
    ],
    "PERSON": [
        "Unlike the {last} novel, the film ends well.", "Our founders: {last}, {last2} and {last3}.",
        "{name} will chair the session.", "The report was written by {first} {last}.",
        "We stayed with {first} for a week.", "According to {last}, the results hold.",
        "Thanks to Dr. {last} for the review.", "Ask {first} about the keys.",
        "{first} and {first2} signed the lease.", "The {last} family moved in last spring.",
    ],
    "ADDRESS": [
        "Deliver it to {street}, {unit}.", "Ship to: {military}", "The office moved to {unit}, {street}.",
        "Mail for the sailors goes to {military}.", "{name}\n{street}\n{unit}", "I live at {street}.",
        "Leave the parcel at {unit} with the concierge.",
    ],
    "NONE": [
        "Order {order} shipped on 2023-04-05.", "ISBN {isbn}, second edition.", "The build {version} fixed it.",
        "Logged at {ts} by the scheduler.", "It costs EUR {price} including tax.", "See page 214 of the 1998 edition.",
        "Invoice {order} is due in 30 days.", "Timestamp {ts} marks the upload.",
        "The meeting lasted about two hours.", "Nothing else was discussed.",
    ],
}
_LABELS = {"name": "PERSON", "first": "PERSON", "first2": "PERSON", "last": "PERSON", "last2": "PERSON",
           "last3": "PERSON", "phone": "PHONE_NUMBER", "card": "CREDIT_CARD", "iban": "IBAN_CODE",
           "ssn": "US_SSN", "ip": "IP_ADDRESS", "email": "EMAIL_ADDRESS", "street": "ADDRESS", "unit": "ADDRESS",
           "military": "ADDRESS"}
_SLOT = re.compile(r"\{(\w+)\}")


def _isbn(rng: random.Random) -> str:
    body = "978" + "".join(rng.choice("0123456789") for _ in range(9))
    check = (10 - sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body)) % 10) % 10
    return body + str(check)


def _values(country: str, fake: Any, rng: random.Random) -> dict[str, Callable[[], str]]:
    issuer = rng.choice(sorted(ISSUERS))
    brand = {"amex": "American Express", "jcb": "JCB", "mir": "Mir", "rupay": "RuPay"}.get(issuer, issuer.title())
    return {
        "brand": lambda: brand,
        "name": lambda: latin(f"{fake.first_name()} {fake.last_name()}"),
        "first": lambda: latin(fake.first_name()), "first2": lambda: latin(fake.first_name()),
        "last": lambda: latin(fake.last_name()), "last2": lambda: latin(fake.last_name()),
        "last3": lambda: latin(fake.last_name()),
        "phone": lambda: phone(country, fake, rng),
        "card": lambda: write_card(card(issuer, rng.choice(ISSUERS[issuer][1]), rng), rng),
        "iban": lambda: _spaced(iban(country if country in BBAN else rng.choice(sorted(BBAN)), rng), rng),
        "ssn": lambda: f"{rng.randint(1, 665):03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}",
        "ip": lambda: fake.ipv4_public() if rng.random() < 0.6 else fake.ipv6(),
        "email": lambda: email(fake, rng),
        "street": lambda: latin(fake.street_address()).replace("\n", ", "),
        "unit": lambda: unit(rng), "military": lambda: military(latin(fake.last_name()), rng),
        "exp": lambda: f"{rng.randint(1, 12):02d}/{rng.randint(25, 31)}",
        "order": lambda: str(rng.randint(10 ** 7, 10 ** 11)), "isbn": lambda: _isbn(rng),
        "ts": lambda: str(rng.randint(1_500_000_000, 1_800_000_000)) + ("" if rng.random() < 0.5 else "123"),
        "price": lambda: f"{rng.randint(1, 9)} {rng.randint(100, 999)}.{rng.randint(0, 99):02d}",
        "version": lambda: f"10.0.{rng.randint(10000, 22000)}.{rng.randint(1, 999)}",
    }


def _spaced(value: str, rng: random.Random) -> str:
    return value if rng.random() < 0.5 else " ".join(value[i:i + 4] for i in range(0, len(value), 4))


def record(country: str, fake: Any, rng: random.Random, kinds: list[str]) -> dict[str, Any]:
    """One text of a sentence per kind (plus a look-alike sentence), with its labelled spans."""
    values = _values(country, fake, rng)
    text, spans = "", []
    sentences = [rng.choice(TEMPLATES[k]) for k in kinds] + [rng.choice(TEMPLATES["NONE"])]
    rng.shuffle(sentences)
    for template in sentences:
        if text:  # a label line ("Tel. ...", "Card: ...") ends its line
            text += " " if text[-1] in ".!?" and rng.random() < 0.7 else "\n"
        text = fill(text, template, values, _LABELS, spans)
    return {"full_text": text, "spans": spans, "locale": country}


def fill(text: str, template: str, values: dict[str, Callable[[], str]], labels: dict[str, str],
         spans: list[dict[str, Any]]) -> str:
    """``text`` plus ``template`` with its slots filled from ``values``; labelled slots go to ``spans``."""
    pos = 0
    for m in _SLOT.finditer(template):
        text += template[pos:m.start()]
        value = values[m.group(1)]()
        if m.group(1) in labels:
            spans.append({"entity_type": labels[m.group(1)], "entity_value": value,
                          "start_position": len(text), "end_position": len(text) + len(value)})
        text += value
        pos = m.end()
    return text + template[pos:]


def generate(n: int, seed: int = 0, countries: list[str] | None = None,
             make: Callable[[str, Any, random.Random], dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """``n`` records spread evenly over ``countries`` (all of `LOCALES` by default), reproducible by ``seed``.

    ``make(country, fake, rng)`` writes one record (default: `record` of one to three kinds;
    `corpus.stages.pii.synth_styles.record` writes other styles of text)."""
    import faker

    countries = countries or sorted(LOCALES)
    rng = random.Random(seed)
    fakes = {}
    kinds = [k for k in TEMPLATES if k != "NONE"]
    out = []
    for i in range(n):
        country = countries[i % len(countries)]
        if country not in fakes:
            fakes[country] = faker.Faker(LOCALES[country])
        fake = fakes[country]
        fake.seed_instance(rng.getrandbits(32))
        out.append(make(country, fake, rng) if make else record(country, fake, rng, rng.sample(kinds, rng.randint(1, 3))))
    return out
