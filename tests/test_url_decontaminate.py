"""``url_filter`` (blocklists on a metadata field) and ``decontaminate`` (13-gram overlap with eval sets)."""

from __future__ import annotations

import json

import pytest
import realtext

from corpus.document import Document
from corpus.errors import UserError
from corpus.stages import base


def stage(spec: dict):
    s, _ = base.build(spec)
    s.setup()
    return s


def test_url_filter_domains_words_subwords_and_missing(tmp_path):
    (tmp_path / "domains.txt").write_text("# my list\nbad-site.org\n\nwww.other.net  # trailing comment\n")
    s = stage({"stage": "url_filter", "blocklists": ["blocklists/example.yaml", str(tmp_path / "domains.txt")],
               "missing": "drop"})
    cases = {
        "https://www.example.com/page": "url_blocked_domain",
        "http://shop.EXAMPLE.net/x?y=1": "url_blocked_domain",
        "https://news.bad-site.org/a": "url_blocked_domain",
        "https://other.net/": "url_blocked_domain",
        "https://notexample.com/": None,
        "https://a.org/best-casino-bonus": "url_blocked_word",
        "https://a.org/casinos": None,  # whole words only
        "https://a.org/get-freebitcoinnow": "url_blocked_subword",
        "en.wikipedia.org/wiki/Bread": None,
    }
    for url, reason in cases.items():
        assert s.decide(Document("a", "t", "s", {"url": url})) == reason, url
    assert s.decide(Document("b", "t", "s")) == "url_missing"
    other_field = stage({"stage": "url_filter", "domains": ["example.com"], "field": "source_url"})
    assert other_field.decide(Document("c", "t", "s", {"source_url": "https://example.com"})) == "url_blocked_domain"
    assert other_field.decide(Document("d", "t", "s", {"url": "https://example.com"})) is None
    with pytest.raises(UserError, match="give blocklists"):
        base.build({"stage": "url_filter"})


def test_decontaminate_names_the_set_and_ignores_case_and_punctuation(tmp_path):
    speeches = realtext.speeches()
    eval_text = speeches[3].splitlines()[4]  # a real paragraph used as an "evaluation item"
    words = eval_text.split()
    assert len(words) > 40
    (tmp_path / "qa.jsonl").write_text(json.dumps({"question": " ".join(words[10:30]), "answer": "x"}) + "\n"
                                       + json.dumps({"question": "Who wrote it?", "answer": "y"}) + "\n")
    (tmp_path / "cloze.txt").write_text(" ".join(words[:12]) + "\n")  # shorter than 13 words: matched whole
    s = stage({"stage": "decontaminate", "eval_sets": {"qa": str(tmp_path / "qa.jsonl"),
                                                       "cloze": str(tmp_path / "cloze.txt")},
               "fields": ["question"]})
    quoted = "Earlier he said: " + " ".join(words[14:28]).upper().replace(",", " ,") + " -- and left."
    assert s.decide(Document("a", quoted, "t")) == "contaminated_qa"
    assert s.decide(Document("b", "Intro. " + " ".join(words[:12]) + " Outro.", "t")) == "contaminated_cloze"
    assert s.decide(Document("c", " ".join(words[:11]) + " zebra", "t")) is None
    assert s.decide(Document("d", speeches[40], "t")) is None
    with pytest.raises(UserError, match="set name"):
        base.build({"stage": "decontaminate", "eval_sets": {"My Set": "x"}})
