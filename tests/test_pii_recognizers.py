"""The pii stage's pattern side on real formats: generated secrets of the right shape are found, and
look-alikes that are not personal data (bad checksums, versions, ISBNs, dates) are left alone."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import string

import pytest

from corpus.stages import base
from corpus.stages.pii.stage import accepted, build


@pytest.fixture(scope="module")
def find():
    stage, _ = base.build({"stage": "pii", "ner": {"backend": "none"}})
    engine, policy = build(stage.p)

    def run(text: str) -> list[tuple[str, str]]:
        return [(r.entity_type, text[r.start:r.end]) for r in accepted(engine, policy, [text])[0]]

    return run


def rand(alphabet: str, n: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


ALNUM = string.ascii_letters + string.digits
B64URL = ALNUM + "-_"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt() -> str:
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64url(json.dumps({"sub": rand(string.digits, 10), "name": "x", "iat": 1516239022}).encode())
    sig = b64url(hmac.new(secrets.token_bytes(32), f"{header}.{payload}".encode(), hashlib.sha256).digest())
    return f"{header}.{payload}.{sig}"


def make_pem() -> str:
    body = base64.b64encode(secrets.token_bytes(600)).decode()
    lines = "\n".join(body[i:i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN RSA PRIVATE KEY-----\n{lines}\n-----END RSA PRIVATE KEY-----"


SECRETS = {
    "AWS_ACCESS_KEY": lambda: "AKIA" + rand(string.ascii_uppercase + "234567", 16),
    "GITHUB_TOKEN": lambda: "ghp_" + rand(ALNUM, 36),
    "SLACK_TOKEN": lambda: f"xoxb-{rand(string.digits, 11)}-{rand(string.digits, 13)}-{rand(ALNUM, 24)}",
    "GOOGLE_API_KEY": lambda: "AIza" + rand(B64URL, 35),
    "OPENAI_API_KEY": lambda: "sk-proj-" + rand(B64URL, 48),
    "JWT": make_jwt,
    "PRIVATE_KEY": make_pem,
}


@pytest.mark.parametrize("entity", sorted(SECRETS))
def test_generated_secret_is_found_whole(find, entity: str) -> None:
    value = SECRETS[entity]()
    text = f"Deploy notes.\nThe value below was committed by mistake:\n{value}\nRotate it today."
    assert (entity, value) in find(text)


def test_a_card_shaped_run_inside_a_token_is_part_of_the_token(find) -> None:
    # 4003075821496 passes the Luhn check: a card number on its own, not inside a credential
    token = "xoxb-80684794875-4003075821496-LmK8ijlTlQCvo7VpOI7FS8pr"
    assert find(f"Deploy notes.\nThe value below was committed by mistake:\n{token}\nRotate it today.") == \
        [("SLACK_TOKEN", token)]
    assert ("CREDIT_CARD", "4003075821496") in find("Card 4003075821496 was charged.")


def test_fine_grained_github_token_and_slack_webhook(find) -> None:
    pat = f"github_pat_{rand(ALNUM, 22)}_{rand(ALNUM, 59)}"
    hook = f"https://hooks.slack.com/services/T{rand(string.ascii_uppercase, 8)}/B{rand(string.ascii_uppercase, 8)}/{rand(ALNUM, 24)}"
    found = find(f"token={pat} and webhook {hook} end")
    assert ("GITHUB_TOKEN", pat) in found and ("SLACK_TOKEN", hook) in found


def test_aws_secret_key_after_its_name(find) -> None:
    secret = rand(ALNUM + "/+", 40)
    found = find(f'[default]\naws_access_key_id = AKIA{rand("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)}\n'
                 f'aws_secret_access_key = {secret}\n')
    assert ("AWS_SECRET_KEY", secret) in found


def test_password_in_url_only_the_password(find) -> None:
    found = find("DATABASE_URL=postgres://admin:Tr0ub4dor-3x@db.internal:5432/app")
    assert found == [("URL_PASSWORD", "Tr0ub4dor-3x")]


@pytest.mark.parametrize("text", [
    "DATABASE_URL=postgres://user:${DB_PASSWORD}@localhost/app",
    "see https://user:****@example.org/ for the syntax",
    "AKIA is the prefix of AWS access key ids; akiaiosfodnn7examplex is not one",
    "the header eyJhbGciOiJIUzI1NiJ9 alone, or eyJub3QganNvbg.eyJub3QganNvbg.c2lnbmF0dXJlc2lnbmF0dXJl",
    "use sk-... as your key; the flag is --sk-mode",
])
def test_secret_placeholders_and_fragments_are_not_secrets(find, text: str) -> None:
    assert find(text) == []


STRUCTURED = {
    "EMAIL_ADDRESS": "You can write to maria.keller@posteo.de about it.",
    "PHONE_NUMBER": "Call me on (415) 555-0132 after six.",
    "CREDIT_CARD": "Card number 4532 0151 1283 0366 expires soon; the other is 2223 0000 4841 0010.",
    "IBAN_CODE": "Pay to GB33BUKB20201555555555 before Friday.",
    "US_SSN": "His SSN is 536-90-4399 according to the form.",
    "IP_ADDRESS": "Login from 203.0.113.77 and 2001:db8:85a3::8a2e:370:7334 was blocked.",
}


@pytest.mark.parametrize("entity", sorted(STRUCTURED))
def test_structured_entities(find, entity: str) -> None:
    assert entity in {e for e, _ in find(STRUCTURED[entity])}


@pytest.mark.parametrize("text", [
    "Phone: 089 72 63 41",
    "They're not answering at 785 8949",
    "06-10446904 office",
    "fax +44 20 7946 0958",
    "mobile 001-748-088-2851x818",
])
def test_local_and_international_phone_shapes_with_context(find, text: str) -> None:
    assert [e for e, _ in find(text)] == ["PHONE_NUMBER"]


@pytest.mark.parametrize("text", [
    "Card 4111 1111 1111 1112 was declined (the Luhn check fails).",
    "Upgrade from Python 3.11.7 to 3.12.1, or Windows 10.0.19041.1 to 10.0.22631.2861.",
    "The book has ISBN 978-0-306-40615-7 (ISBN-10 0-306-40615-2).",
    "Call the office on 2021-03-04 or on 12/03/2021 at 10:30, or 04.05.2023.",
    "Transfer to GB34BUKB20201555555555 bounced: the IBAN check digits are wrong.",
    "The population grew from 1,234,567 to 2,345,678 between 1990 and 2000.",
])
def test_tricky_negatives_are_left_alone(find, text: str) -> None:
    assert find(text) == []


def test_allow_lists_keep_example_and_role_addresses(find) -> None:
    found = find("Mail jane@example.com or press@un.org, not jane.doe@gmail.com; ping 127.0.0.1")
    assert found == [("EMAIL_ADDRESS", "jane.doe@gmail.com")]


def test_entities_across_a_long_document_keep_their_offsets(find) -> None:
    filler = "Nothing personal in this sentence at all. " * 400
    text = f"{filler}Reach Ana at ana.silva@posteo.pt. {filler}Her card 4532 0151 1283 0366. {filler}"
    found = find(text)
    assert ("EMAIL_ADDRESS", "ana.silva@posteo.pt") in found
    assert ("CREDIT_CARD", "4532 0151 1283 0366") in found


def test_the_ner_model_reads_special_token_spellings_in_a_document_as_text() -> None:
    """A document that spells ``[SEP]`` or ``[CLS]`` must not hand the model its control tokens."""
    from corpus.stages.pii.ner import RampartNer

    ner = RampartNer({"PER": "PERSON"})
    sep, cls = ner.tokenizer.token_to_id("[SEP]"), ner.tokenizer.token_to_id("[CLS]")
    assert sep is not None and cls is not None
    ids = ner.tokenizer.encode_batch(["Mary Smith [SEP] wrote to [CLS] John"], add_special_tokens=False)[0].ids
    assert sep not in ids and cls not in ids
    assert len(ner.find(["Mary Smith [SEP] wrote to [CLS] John Brown in Paris."])) == 1


# Classes a multi-locale stress set found (issue 15): numbers that a word names as something else,
# national phones written with dots that no IPv4 address can be, spaced SSNs, post boxes, address
# labels and streets next to units.
@pytest.mark.parametrize("text", [
    "part no. 345-7667-11 is the firmware.", "SKU 2383726 is back in stock.", "Ref: part no. 915-2982-34",
    "Order 80393597 ships today.", "Note: coordinates 38.43565, 150.57953 and v8.6.24.",
    "Pay invoice 4716087522373122130 by Friday.",  # Luhn-valid, but no card word
])
def test_numbers_named_as_something_else_stay(find, text: str) -> None:
    assert find(text) == []


@pytest.mark.parametrize("text, phone", [
    ("Tel. 078.129.37.20", "078.129.37.20"), ("Mobile 021.234.50.88", "021.234.50.88"),
    ("Tel: 12.345.72.74", "12.345.72.74"), ("Tel. 02.212.381.01", "02.212.381.01"),
    ("Send messages to 22.340779 after six.", "22.340779"), ("(mob) 63898238", "63898238"),
    ("registered under 512358897", "512358897"), ("WhatsApp (06129) 55326 if the line is busy.", "(06129) 55326"),
])
def test_dotted_bracketed_and_bare_phones_with_context(find, text: str, phone: str) -> None:
    assert ("PHONE_NUMBER", phone) in find(text)


def test_four_pairs_of_digits_are_a_phone_after_a_phone_word_and_an_ip_address_otherwise(find) -> None:
    assert find("Tel. 40.37.36.17") == [("PHONE_NUMBER", "40.37.36.17")]
    assert find("lol Eva just told me to text 21.23.23.90 about the flat") == [("PHONE_NUMBER", "21.23.23.90")]
    assert find("Blocked host 40.37.36.17 after repeated attempts.") == [("IP_ADDRESS", "40.37.36.17")]


def test_spaced_ssn_is_no_phone_and_a_label_on_the_next_line_is_not_its_context(find) -> None:
    found = find("Applicant: Madeline Cole\nSSN: 186 71 9624\nPhone: +35796129850")
    assert ("US_SSN", "186 71 9624") in found and ("PHONE_NUMBER", "+35796129850") in found
    assert find("Jeanne,Dos Santos,038 36 3637,part no. 267-6354-32") == [("US_SSN", "038 36 3637")]


@pytest.mark.parametrize("text, address", [
    ("Deliver to PO Box 2019.", "PO Box 2019"), ("Send it to Postfach 76556, Pöchlarn.", "Postfach 76556"),
    ("Address: Sophiedreef 9 Apt. 84", "Sophiedreef 9 Apt. 84"),
    ("We moved to Suite 1796, Borsodmártoni utca 126.", "Suite 1796, Borsodmártoni utca 126"),
    ("It is at Karakosta 47, Apt 407.", "Karakosta 47, Apt 407"),
])
def test_post_boxes_address_labels_and_streets_next_to_units(find, text: str, address: str) -> None:
    assert ("ADDRESS", address) in find(text)


def test_a_course_unit_is_no_address(find) -> None:
    assert find("Unit 4, Chapter 2 covers fractions.") == []


def test_a_street_next_to_a_unit_stops_at_the_sentence_end(find) -> None:
    found = find("The office moved to Bldg. 48B, Kaptol 7a. Text 092 123 2097 for the door code.")
    assert ("ADDRESS", "Bldg. 48B, Kaptol 7a") in found and ("PHONE_NUMBER", "092 123 2097") in found
