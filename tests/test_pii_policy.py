"""The pii policy: each action does what the user configured, keyed actions are deterministic per key,
and configuration mistakes are one-line user errors."""

from __future__ import annotations

import re

import pytest

from corpus.errors import UserError
from corpus.stages import base
from corpus.stages.pii.policy import key_from_env, parse_rules
from corpus.stages.pii.stage import accepted, build, policy_for

TEXT = ("Contact Ana at ana.silva@posteo.pt or +44 20 7946 0958. Card 4532 0151 1283 0366, "
        "IBAN GB33BUKB20201555555555, SSN 536-90-4399, from 198.51.100.23.")
KEY = "k" * 16 + "-test-key-material"


@pytest.fixture(scope="module")
def engine():
    stage, _ = base.build({"stage": "pii", "ner": {"backend": "none"}})
    return build(stage.p)[0]


def run(engine, entities: dict, monkeypatch, env_key: str | None = KEY, text: str = TEXT):
    """``text`` under a policy of ``entities`` (the analyzer looks for everything; the policy picks)."""
    if env_key is None:
        monkeypatch.delenv("THRESHER_PII_KEY", raising=False)
    else:
        monkeypatch.setenv("THRESHER_PII_KEY", env_key)
    stage, _ = base.build({"stage": "pii", "ner": {"backend": "none"}, "entities": entities})
    policy = policy_for(stage.p)
    return policy.apply(text, accepted(engine, policy, [text])[0])


ALL = ["EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "IP_ADDRESS"]


def test_redact_is_a_typed_placeholder(engine, monkeypatch) -> None:
    out = run(engine, {e: "redact" for e in ALL}, monkeypatch)
    assert out.text == ("Contact Ana at <EMAIL_ADDRESS> or <PHONE_NUMBER>. Card <CREDIT_CARD>, "
                        "IBAN <IBAN_CODE>, SSN <US_SSN>, from <IP_ADDRESS>.")
    assert out.counts == {(e, "redact"): 1 for e in ALL}
    assert not out.drop


def test_mask_keeps_separators_and_last_digits(engine, monkeypatch) -> None:
    out = run(engine, {"CREDIT_CARD": {"action": "mask", "mask_keep_last": 4}, "US_SSN": {"action": "mask", "mask_char": "#"}},
              monkeypatch)
    assert "Card **** **** **** 0366," in out.text
    assert "SSN ###-##-####," in out.text


def test_hash_is_keyed_and_stable(engine, monkeypatch) -> None:
    a = run(engine, {"EMAIL_ADDRESS": "hash"}, monkeypatch).text
    b = run(engine, {"EMAIL_ADDRESS": "hash"}, monkeypatch, text=TEXT.replace("ana.silva", "ANA.SILVA")).text
    c = run(engine, {"EMAIL_ADDRESS": "hash"}, monkeypatch, env_key="another-secret-key-0123").text
    tag = re.search(r"<EMAIL_ADDRESS:([0-9a-f]{12})>", a)
    assert tag and "ana.silva" not in a
    assert a == b  # the same address in another case is the same person
    assert a != c  # another key, another hash: nothing links the two corpora


def test_keyed_actions_need_the_key(engine, monkeypatch) -> None:
    with pytest.raises(UserError, match=r"THRESHER_PII_KEY.*never stored"):
        run(engine, {"PHONE_NUMBER": "pseudonymize"}, monkeypatch, env_key=None)


def luhn_ok(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()][::-1]
    return sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(digits)) % 10 == 0


def iban_ok(iban: str) -> bool:
    s = iban.replace(" ", "").upper()
    return int("".join(str(int(c, 36)) for c in s[4:] + s[:4])) % 97 == 1


def test_pseudonymize_is_consistent_and_realistic(engine, monkeypatch) -> None:
    out = run(engine, {e: "pseudonymize" for e in ALL}, monkeypatch,
              text=TEXT + " Again: ana.silva@posteo.pt and 4532 0151 1283 0366.")
    text = out.text
    for value in ("ana.silva@posteo.pt", "4532 0151 1283 0366", "GB33BUKB20201555555555", "536-90-4399",
                  "198.51.100.23", "7946 0958"):
        assert value not in text
    emails = re.findall(r"[\w.]+@example\.(?:com|org|net)", text)
    assert len(emails) == 2 and emails[0] == emails[1]
    cards = re.findall(r"\b4\d{3} \d{4} \d{4} \d{4}\b", text)
    assert len(cards) == 2 and cards[0] == cards[1] and luhn_ok(cards[0])
    iban = re.search(r"IBAN (GB\d\d\w+),", text).group(1)
    assert iban_ok(iban)
    assert re.search(r"SSN \d{3}-\d{2}-\d{4},", text)
    assert re.search(r"from 10\.\d+\.\d+\.\d+\.", text)


def test_drop_document_above_its_count(engine, monkeypatch) -> None:
    ents = {"EMAIL_ADDRESS": {"action": "drop_document", "max_count": 1}}
    one = run(engine, ents, monkeypatch)
    assert not one.drop and "<EMAIL_ADDRESS>" in one.text
    two = run(engine, ents, monkeypatch, text=TEXT + " Or a.silva@gmx.net.")
    assert two.drop and two.counts == {("EMAIL_ADDRESS", "drop_document"): 2}


def test_keep_counts_but_leaves_text(engine, monkeypatch) -> None:
    out = run(engine, {"IP_ADDRESS": "keep", "US_SSN": "redact"}, monkeypatch)
    assert "198.51.100.23" in out.text and "<US_SSN>" in out.text
    assert out.counts == {("IP_ADDRESS", "keep"): 1, ("US_SSN", "redact"): 1}


def test_threshold_and_allow_list_per_entity(engine, monkeypatch) -> None:
    strict = run(engine, {"PHONE_NUMBER": {"action": "redact", "threshold": 0.99}}, monkeypatch)
    assert strict.counts == {}
    allowed = run(engine, {"EMAIL_ADDRESS": {"action": "redact", "allow": [r".*@posteo\.pt"]}}, monkeypatch)
    assert allowed.counts == {}


@pytest.mark.parametrize("entities, message", [
    ({"EMAIL_ADDRESS": "scramble"}, "action must be one of"),
    ({"EMAIL_ADDRESS": {"action": "redact", "threshold": 2}}, "threshold must be a number"),
    ({"EMAIL_ADDRESS": {"action": "redact", "allow": ["("]}}, "invalid regex"),
    ({"EMAIL_ADDRESS": {"action": "drop_document", "max_count": -1}}, "max_count"),
    ({"EMAIL_ADDRESS": {"actoin": "redact"}}, "unknown key 'actoin'"),
])
def test_policy_mistakes_are_user_errors(entities: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_rules(entities, 0.5)


@pytest.mark.parametrize("cities, message", [
    ("citys: [Avondale]", "s.yaml: unknown key 'citys' (did you mean 'cities'?)"),
    ("cities: []", "s.yaml: cities is empty"),
])
def test_a_surrogates_file_mistake_is_one_line(tmp_path, monkeypatch, cities: str, message: str) -> None:
    monkeypatch.setenv("THRESHER_PII_KEY", KEY)
    (tmp_path / "s.yaml").write_text(f"first_names: [Ana]\nlast_names: [Costa]\nstreet_names: [Oak]\n"
                                     f"street_suffixes: [Road]\n{cities}\n")
    stage, _ = base.build({"stage": "pii", "ner": {"backend": "none"}, "entities": {"EMAIL_ADDRESS": "pseudonymize"},
                           "surrogates": str(tmp_path / "s.yaml")})
    with pytest.raises(UserError) as e:
        policy_for(stage.p)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_no_key_needed_without_keyed_actions(engine, monkeypatch) -> None:
    monkeypatch.delenv("THRESHER_PII_KEY", raising=False)
    assert key_from_env("THRESHER_PII_KEY", parse_rules({"EMAIL_ADDRESS": "redact"}, 0.5)) is None
