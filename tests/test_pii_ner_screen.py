"""The NER screen: which sentences the model reads, that skipping the rest loses nothing the model finds
in real documents, and the word-list builder on the real model."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml
from conftest import thresher
from testdata import PII_SET, speech_paths, speech_text

from corpus.errors import UserError
from corpus.stages import base
from corpus.stages.pii.ner_screen import NerScreen, ScreenLists

LISTS = ScreenLists(capitalised=frozenset({"the", "congress", "government", "we", "in", "tonight"}),
                    lowercase=frozenset({"today", "our"}), titles=frozenset({"mr", "dr"}),
                    short_line_chars=40, neighbours=1)


def pieces(text: str, screen: NerScreen) -> list[str]:
    return [text[s:e] for s, e in screen.regions(text)]


def test_sentences_with_only_common_capitalised_words_are_skipped() -> None:
    text = ("The Government met in 1817 and the budget passed after a long debate over many weeks. "
            "We thank the Congress. Today our work goes on. Tonight we rest.")
    assert pieces(text, NerScreen(LISTS)) == []


def test_a_name_goes_to_the_model_with_a_sentence_of_context_either_side() -> None:
    text = ("The Government met. We thank the Congress. We met Anna Kowalski there. "
            "The budget passed. Tonight we rest.\n\nThe Congress adjourned.")
    screen = NerScreen(LISTS)
    assert pieces(text, screen) == ["We thank the Congress. We met Anna Kowalski there. The budget passed."]
    for s, e in screen.regions(text):  # offsets index the document itself
        assert "Anna Kowalski" in text[s:e]
    assert pieces(text, NerScreen(ScreenLists(**{**LISTS.__dict__, "neighbours": 0}))) == \
        ["We met Anna Kowalski there."]


def test_first_word_of_a_sentence_uses_the_lower_case_list() -> None:
    screen = NerScreen(LISTS)
    assert not screen.wants("Today the Congress met.")  # "today" is a common lower-case word
    assert screen.wants("Oscar met the Congress.")  # a sentence-initial word not known as a common word
    assert screen.wants("They met in Today.")  # not first: only the capitalised list counts


def test_caseless_and_shouting_paragraphs_go_whole_and_titles_and_short_lines_count() -> None:
    screen = NerScreen(LISTS)
    lower = "the government met. my name is joshua and i live at 12 pine road."
    assert pieces(lower, screen) == [lower]
    loud = "THE CONGRESS MET. ANNA KOWALSKI SPOKE."
    assert pieces(loud, screen) == [loud]
    assert screen.wants("we thank mr. gray.")
    assert screen.wants("Suite 834")  # an address line: short, with a digit
    assert not screen.wants("In 1817 the Government met and the Congress debated the budget for many days.")


def test_a_lists_file_without_lists_is_a_user_error(tmp_path: Path) -> None:
    bad = tmp_path / "screen.yaml"
    bad.write_text("capitalised: [a]\n")
    with pytest.raises(UserError, match="screen.yaml: missing required key 'lowercase'"):
        ScreenLists.load(str(bad))
    worse = tmp_path / "screen-2.yaml"  # rules files are cached by path
    worse.write_text("capitalised: 3\nlowercase: []\n")
    with pytest.raises(UserError, match="screen-2.yaml: capitalised must be a list, got 3"):
        ScreenLists.load(str(worse))
    typo = tmp_path / "screen-3.yaml"
    typo.write_text("capitalised: []\nlowercase: []\nneighbors: 2\n")
    with pytest.raises(UserError, match=r"unknown key 'neighbors' \(did you mean 'neighbours'\?\)"):
        ScreenLists.load(str(typo))


@pytest.fixture(scope="module")
def engines():
    from corpus.stages.pii.stage import build

    stage, _ = base.build({"stage": "pii"})
    screened, policy = build(stage.p)
    assert screened.screen is not None  # on by default
    plain, _ = build(base.build({"stage": "pii", "ner": {**base.param_defaults(base.get("pii"))["ner"], "screen": "none"}})[0].p)
    return screened, plain, policy


def test_the_default_screen_keeps_the_names_the_model_finds_and_skips_most_prose(engines) -> None:
    """Held-out real text: speeches with presidio-research records spliced in at paragraph breaks.
    Every labelled name or address the model finds reading everything, it still finds screened."""
    screened, plain, policy = engines
    records = json.loads(PII_SET.read_text(encoding="utf-8"))
    short = [r for r in records if len(r["full_text"]) < 300 and r["spans"]]
    prose = speech_paths("inaugural")[:6]
    paragraphs = [p for f in prose for p in speech_text(f).split("\n\n") if p.strip()]
    rng = random.Random(3)
    docs, gold = [], []
    for i in range(8):
        paras = paragraphs[i * 6:(i + 1) * 6]
        at = rng.randrange(len(paras))
        rec = rng.choice(short)
        offset = sum(len(p) + 2 for p in paras[:at])
        paras.insert(at, rec["full_text"])
        docs.append("\n\n".join(paras))
        gold.append([(g["entity_type"], g["start_position"] + offset, g["end_position"] + offset)
                     for g in rec["spans"] if g["entity_type"] in ("PERSON", "ADDRESS")])

    def hits(engine) -> list[set]:
        found = engine.analyze(docs)
        return [{(t, s, e) for t, s, e in g if any(r.entity_type == t and r.start < e and s < r.end
                                                   and policy.accepts(r, d) for r in f)}
                for d, g, f in zip(docs, gold, found, strict=True)]

    before = screened.stats.chars_to_ner
    with_screen, without = hits(screened), hits(plain)
    assert sum(map(len, without)) >= 8
    assert all(b <= a for a, b in zip(with_screen, without, strict=True))
    assert screened.stats.chars_to_ner - before < 0.6 * sum(map(len, docs))


def test_screen_words_builds_lists_from_the_real_model(tmp_path: Path) -> None:
    texts = tmp_path / "texts.jsonl"
    lines = []
    for first, last in [("Maria", "Lopez"), ("John", "Okafor"), ("Priya", "Raman"), ("Tomasz", "Nowak")]:
        lines += [f"The Committee met on Tuesday. {first} {last} wrote to the Committee about the Budget.",
                  f"The Budget was discussed. Please call {first} {last} tomorrow."]
    texts.write_text("".join(json.dumps({"text": t}) + "\n" for t in lines))
    out = tmp_path / "screen.yaml"
    r = thresher("pii-screen-words", str(texts), "--out", str(out), "--min-count", "3")
    assert r.returncode == 0, r.stderr
    data = yaml.safe_load(out.read_text())
    assert {"committee", "budget", "the"} <= set(data["capitalised"])
    assert not {"maria", "lopez", "okafor", "nowak"} & set(data["capitalised"])
    assert "tomorrow" in data["lowercase"]
    screen = NerScreen(ScreenLists.load(str(out)))
    assert not screen.wants("The Committee met on Tuesday.") and screen.wants("The Committee thanked Ines Barros.")
    r = thresher("pii-screen-words", str(tmp_path / "missing.txt"), "--out", str(out))
    assert r.returncode == 2 and "no such file" in r.stderr and "Traceback" not in r.stderr
