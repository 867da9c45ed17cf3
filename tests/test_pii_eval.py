"""``thresher pii-eval`` on presidio-research's labelled set: the acceptance figures, from the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import thresher
from testdata import PII_SET

from corpus.commands.pii_eval import load_dataset
from corpus.errors import UserError


@pytest.fixture(scope="module")
def data() -> Path:
    return PII_SET


def evaluate(data: Path, tmp: Path, *args: str) -> dict:
    out = tmp / "eval.json"
    r = thresher("pii-eval", str(data), "--json", str(out), *args)
    assert r.returncode == 0, r.stderr
    assert "| PHONE_NUMBER |" in r.stdout and "structured recall" in r.stdout
    records = json.loads(data.read_text(encoding="utf-8"))
    for rec in records:  # counts only: no labelled value is ever printed
        for span in rec["spans"]:
            if len(span["entity_value"]) > 6:
                assert span["entity_value"] not in r.stdout + r.stderr
    return json.loads(out.read_text())


def test_structured_recall_on_the_whole_set_patterns_only(data: Path, tmp_path: Path) -> None:
    result = evaluate(data, tmp_path, "--ner", "none")
    assert result["structured_recall"] >= 0.97
    for ent in ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "IP_ADDRESS"):
        row = result["entities"][ent]
        assert row["recall"] >= 0.95 and row["precision"] >= 0.9, (ent, row)
    assert result["untouched_share"] >= 0.99
    assert "PERSON" not in result["entities"] or result["entities"]["PERSON"]["predicted"] == 0


def test_person_recall_with_the_default_model(data: Path, tmp_path: Path) -> None:
    result = evaluate(data, tmp_path, "--limit", "400")
    person = result["entities"]["PERSON"]
    assert person["gold"] > 200
    assert person["recall"] >= 0.85 and person["precision"] >= 0.8, person
    assert result["structured_recall"] >= 0.97
    assert result["untouched_share"] >= 0.97


@pytest.mark.parametrize("content, message", [
    ("{not json", "not JSON"),
    ('{"full_text": "x"}', "expected a JSON list"),
    ('[{"full_text": "x"}]', "record 0 lacks"),
    ('[{"full_text": 3, "spans": []}]', "not a string"),
])
def test_malformed_data_is_a_user_error(tmp_path: Path, content: str, message: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    with pytest.raises(UserError, match=message):
        load_dataset(str(bad))


def test_malformed_data_exits_2_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("[1, 2]")
    r = thresher("pii-eval", str(tmp_path / "bad.json"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "record 0 lacks" in r.stderr
