"""The four published rule sets: same decisions as datatrove on real text, per-language rules, C4 cleaning."""

from __future__ import annotations

from collections import Counter

import pytest
import realtext
from datatrove.data import Document as PeerDocument
from datatrove.pipeline import filters

from corpus.document import Document
from corpus.stages import base

PEERS = {
    "gopher_repetition": "GopherRepetitionFilter",
    "gopher_quality": "GopherQualityFilter",
    "c4": "C4QualityFilter",
    "fineweb": "FineWebQualityFilter",
}


def stage(name: str, **params):
    s, _ = base.build({"stage": name, **params})
    s.setup()
    return s


@pytest.fixture(scope="module")
def corpus_docs() -> list[str]:
    texts = realtext.speeches()
    # every 12th speech whole, windows of paragraphs cut from all of them (some with recurring
    # lines), sentences in 75 languages
    return (texts[::12] + realtext.windows(texts, 250) + realtext.with_repeats(texts, 120)
            + [t for _, t in realtext.sentence_groups()])


@pytest.mark.parametrize("name", sorted(PEERS))
def test_same_decisions_as_datatrove(name, corpus_docs):
    peer = getattr(filters, PEERS[name])()
    ours = stage(name)
    agree = 0
    outcomes = Counter()
    for i, text in enumerate(corpus_docs):
        kept = ours.decide(Document(str(i), text, "test")) is None
        peer_kept = peer.filter(PeerDocument(text=text, id=str(i))) is True
        agree += kept == peer_kept
        outcomes[kept] += 1
    # the corpus must exercise both decisions, or agreement would mean nothing
    assert min(outcomes.values()) >= len(corpus_docs) // 25, outcomes
    assert agree / len(corpus_docs) >= 0.99, f"{name}: {agree}/{len(corpus_docs)} same decisions"


def test_repetition_reasons_on_repeated_real_text():
    speech = realtext.speeches()[0]
    paragraphs = [p for p in speech.splitlines() if p.strip()][:12]
    rep = stage("gopher_repetition")
    assert rep.decide(Document("a", "\n\n".join(paragraphs), "t")) is None
    doubled = "\n\n".join(paragraphs[:6] + paragraphs[:6])
    assert rep.decide(Document("b", doubled, "t")) == "gopher_dup_para_frac"
    sentence = paragraphs[1].split(". ")[0] + ". "
    assert rep.decide(Document("c", sentence * 30, "t")).startswith(("gopher_top_", "gopher_dup_"))


def test_c4_removes_lines_in_filter_mode_and_keeps_text_in_annotate_mode():
    speech = realtext.speeches()[5]
    lines = [ln for ln in speech.splitlines() if ln.strip()][:15]
    text = "\n".join(["Home | About | Contact", *lines, "Please enable JavaScript to view this page.",
                      "This site uses cookies to improve your experience."])
    doc = Document("a", text, "t")
    assert stage("c4").decide(doc) is None
    assert "Home | About" not in doc.text and "JavaScript" not in doc.text and "cookies" not in doc.text
    assert lines[-1].strip() in doc.text
    annotated = Document("b", text, "t")
    s, _ = base.build({"stage": "c4", "mode": "annotate"})
    assert s.decide(annotated) is None and annotated.text == text
    assert stage("c4").decide(Document("c", text + "\nWrite {name} in the template to greet every reader.", "t")) == "c4_curly_bracket"
    two_sentences = "\n".join(ln.split(". ")[0].rstrip(".") + "." for ln in lines[:2])
    assert stage("c4").decide(Document("d", two_sentences, "t")) == "c4_too_few_sentences"


def test_language_rules_follow_metadata_language():
    groups = dict(realtext.sentence_groups())
    quality = stage("gopher_quality")
    for lang in ("de", "fr", "zh", "ja"):
        text = groups[lang]
        assert quality.decide(Document(lang, text, "t")) is not None, lang  # English rules reject it
        assert quality.decide(Document(lang, text, "t", {"language": lang})) is None, lang
    # languages without spaces are split into characters: a clause is not one word
    zh = groups["zh"].splitlines()[0]
    _, split = quality.resolve("zh")
    assert len(split.words(zh)) >= len(zh.replace(" ", "")) * 0.8


def test_english_words_split_like_spacy():
    _, split = stage("gopher_quality").resolve("en")
    assert split.words("Mr. Smith can't go to the U.S. in 1990's, isn't it well-known?") == [
        "Mr.", "Smith", "ca", "n't", "go", "to", "the", "U.S.", "in", "1990", "'s", ",", "is", "n't", "it",
        "well", "-", "known", "?"]


def test_inline_parameters_override_rules_and_unknown_language_keys_fail(tmp_path, monkeypatch):
    quality = stage("gopher_quality", min_doc_words=3, min_stop_words=None)
    assert quality.decide(Document("a", "Three real words here.", "t")) is None
    (tmp_path / "xx.yaml").write_text("gopher_quality:\n  min_doc_word: 3\n")
    bad = stage("gopher_quality", language_rules=str(tmp_path))
    from corpus.errors import UserError

    with pytest.raises(UserError, match="min_doc_word"):
        bad.decide(Document("b", "text", "t", {"language": "xx"}))


@pytest.mark.parametrize("text, message", [
    ("gopher_quality:\n  min_doc_word: 3\n", "xx.yaml: unknown key 'min_doc_word' in gopher_quality (did you mean 'min_doc_words'?)"),
    ("gopher_quality:\n  min_doc_words: many\n", "xx.yaml: gopher_quality.min_doc_words must be a whole number"),
    ("words:\n  unspaced_script: [Han]\n", "xx.yaml: unknown key 'unspaced_script' in words (did you mean 'unspaced_scripts'?)"),
    ("words:\n  letters_stay_whole: 1\n", "xx.yaml: words.letters_stay_whole must be true or false, got 1"),
    ("gopher_qualty:\n  min_doc_words: 3\n", "xx.yaml: unknown key 'gopher_qualty' (did you mean 'gopher_quality'?)"),
    ("pii:\n  entities: {}\n", "xx.yaml: unknown key 'pii' (allowed: words, c4, fineweb, gopher_quality, gopher_repetition)"),
])
def test_a_language_file_mistake_names_the_file_and_key(tmp_path, text, message):
    """A language's rules file is checked by the stage's own schema (and `WordRules`), in one line."""
    from corpus.errors import UserError

    (tmp_path / "xx.yaml").write_text(text)
    with pytest.raises(UserError) as e:
        stage("gopher_quality", language_rules=str(tmp_path), default_language="xx")
    assert message in str(e.value) and "\n" not in str(e.value)
