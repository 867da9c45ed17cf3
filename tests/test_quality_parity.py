"""The four rule sets decide as datatrove 0.10.1 does (defaults, each rule alone) on web-like text, their
words are spaCy's English tokens, and ``thresher quality diff`` lists where two sets of decisions differ.

The text is bundled (``tests/data/web-like/``, sources and licences in ``tests/data/README.md``): PyPI
project descriptions (Markdown and reStructuredText with badges, tables, code and links) and
hand-written pages (shops, menus, forums, recipes, units, prices, emoticons, German abbreviations,
CJK), whole and as windows of consecutive lines, and public-domain speech passages framed by those
pages' menus and footers, so that documents fall on both sides of each rule.
"""

from __future__ import annotations

import gzip
import random
import re
from functools import lru_cache
from pathlib import Path

import orjson
import pytest
import realtext
import spacy
from conftest import thresher, write_pipeline
from datatrove.data import Document as PeerDocument
from datatrove.pipeline import filters
from datatrove.utils import text as text_mod

from corpus.document import Document
from corpus.stages import base
from corpus.stages.quality import spacy_rules

WEB = Path(__file__).resolve().parent / "data" / "web-like"
RULE_SETS = {"gopher_repetition": "GopherRepetitionFilter", "gopher_quality": "GopherQualityFilter",
             "c4": "C4QualityFilter", "fineweb": "FineWebQualityFilter"}


def handmade() -> list[tuple[str, str]]:
    """``handmade.md``: documents after ``<!-- doc: name -->`` lines."""
    parts = re.split(r"^<!-- doc: (.+?) -->\n", (WEB / "handmade.md").read_text(encoding="utf-8"), flags=re.M)
    return [(name, body.strip("\n")) for name, body in zip(parts[1::2], parts[2::2], strict=True)]


def pypi() -> list[tuple[str, str]]:
    with gzip.open(WEB / "pypi_descriptions.jsonl.gz", "rb") as f:
        return [(r["id"], r["text"]) for r in map(orjson.loads, f)]


@lru_cache(maxsize=1)
def web_like() -> list[tuple[str, str]]:
    """Every bundled document whole, four windows of 1-40 consecutive lines cut from each, and 80
    "whole pages": a window of a public-domain speech between lines of the pages' menus and footers."""
    rng = random.Random(15)
    docs = handmade() + pypi()
    out = list(docs)
    for name, text in docs:
        lines = text.splitlines()
        for k in range(4):
            size = rng.randint(1, 40)
            start = rng.randrange(max(1, len(lines) - size))
            out.append((f"{name}#{k}", "\n".join(lines[start:start + size])))
    chrome = [ln for _, text in handmade() for ln in text.splitlines() if ln.strip() and len(ln) < 80]
    for k, main in enumerate(realtext.windows(realtext.speeches(), 80, seed=15)):
        head, foot = rng.sample(chrome, rng.randint(0, 8)), rng.sample(chrome, rng.randint(0, 8))
        out.append((f"page-{k}", "\n".join([*head, main, *foot])))
    return out


def stage(name: str, **params):
    s, _ = base.build({"stage": name, **params})
    s.setup()
    return s


@lru_cache(maxsize=1)
def peer_decisions() -> dict[str, dict[str, str]]:
    """datatrove's decision per document and rule set, as ``datatrove_oracle.py`` writes them."""
    peers = {name: getattr(filters, cls)() for name, cls in RULE_SETS.items()}
    out = {}
    for doc_id, text in web_like():
        row = {}
        for name, f in peers.items():
            r = f.filter(PeerDocument(text=text, id=doc_id))
            row[name] = "keep" if r is True else r[1]
        out[doc_id] = row
    return out


def test_words_are_spacys_english_tokens():
    _, split = stage("gopher_quality").resolve("en")
    for doc_id, text in web_like():
        ours, theirs = split.words(text), text_mod.split_into_words(text)
        if ours != theirs:
            at = next(i for i, (a, b) in enumerate(zip(ours + [""], theirs + [""], strict=False)) if a != b)
            pytest.fail(f"{doc_id}: word {at}: ours {ours[at - 3:at + 3]} datatrove {theirs[at - 3:at + 3]}")


@pytest.mark.parametrize("name", sorted(RULE_SETS))
def test_same_decisions_as_datatrove_on_web_like_text(name):
    peer = peer_decisions()
    ours = stage(name, mode="annotate") if name == "c4" else stage(name)
    same, kept = 0, 0
    for doc_id, text in web_like():
        mine = ours.decide(Document(doc_id, text, "t")) is None
        same += mine == (peer[doc_id][name] == "keep")
        kept += mine
    n = len(web_like())
    assert 0.05 * n <= kept <= 0.95 * n, f"{name}: {kept}/{n} kept: the set must exercise both decisions"
    assert same / n >= 0.998, f"{name}: {same}/{n} same decisions"


@pytest.mark.parametrize("chunk", ["im", "dont", "Ive", "z.B.", "e.V.", "(8)", ":-)", "word:)", "''a''''", "120cm",
                                   "Covid-19", "[a](/b_c)", "U.S.", "1990's", "|---|---|", "Kon\xadtakt", "+49",
                                   "„www.chefkoch.de“", "\\[…\\]", "(21%):", "D.O.Ca.", "2.Auflage", "__init__.py"])
def test_chunks_split_as_spacy_splits_them(chunk):
    _, split = stage("gopher_quality").resolve("en")
    assert split.words(chunk) == [t.text for t in spacy.blank("en").tokenizer(chunk)]


def test_bundled_tokenizer_rules_are_the_installed_spacys():
    from corpus import rules

    bundled = dict(rules.load("quality/lang/en.yaml")["words"])
    assert bundled.pop("letters_stay_whole") is True
    assert bundled == spacy_rules.spacy_words(), "rerun: python -m corpus.stages.quality.spacy_rules"
    letters = spacy_rules.all_letters()
    assert spacy_rules.letters_stay_whole(bundled, letters[::97] + [c for c in letters if c.isascii()])
    # the check catches rules that do split letters
    assert not spacy_rules.letters_stay_whole({**bundled, "suffixes": bundled["suffixes"] + "|ing$"}, ["g"])


# --- thresher quality diff ---------------------------------------------------------------------------------

def build_run(tmp: Path, name: str, docs: list[tuple[str, str]], gopher_quality_mode: str = "annotate") -> Path:
    data = tmp / "docs.jsonl"
    data.write_bytes(b"".join(orjson.dumps({"id": i, "text": t}) + b"\n" for i, t in docs))
    stages = [{"stage": "gopher_repetition", "mode": "annotate"}, {"stage": "gopher_quality", "mode": gopher_quality_mode},
              {"stage": "c4", "mode": "annotate"}, {"stage": "fineweb", "mode": "annotate"}]
    pipe = write_pipeline(tmp / f"{name}.yaml", name=name, input={"paths": [str(data)]}, output=str(tmp / name),
                          workers=1, stages=stages, report={"formats": []})
    r = thresher("build", str(pipe), "--quiet")
    assert r.returncode == 0, r.stderr
    return tmp / name


def test_diff_lists_documents_by_rule_and_reason(tmp_path):
    docs = [(doc_id, text) for doc_id, text in web_like() if doc_id.startswith(("shop", "news", "recipe", "forum"))]
    run = build_run(tmp_path, "annotated", docs)
    peer = peer_decisions()
    decisions = tmp_path / "datatrove.jsonl"
    decisions.write_bytes(b"".join(orjson.dumps({"id": i, **peer[i]}) + b"\n" for i, _ in docs))
    r = thresher("quality", "diff", str(run), str(decisions))
    assert r.returncode == 0, r.stderr
    assert all(f"{name}: {len(docs)}/{len(docs)} same decisions (100.00%)" in r.stdout for name in RULE_SETS), r.stdout

    # flip datatrove's gopher_quality decision on one document: the diff names it, its rule and both reasons
    doc_id = docs[0][0]
    ours = stage("gopher_quality").decide(Document(doc_id, docs[0][1], "t")) or "keep"
    flipped = "keep" if ours != "keep" else "gopher_below_alpha_threshold"
    decisions.write_bytes(b"".join(orjson.dumps({"id": i, **peer[i], **({"gopher_quality": flipped} if i == doc_id else {})})
                                   + b"\n" for i, _ in docs))
    r = thresher("quality", "diff", str(run), str(decisions))
    assert f"gopher_quality: {len(docs) - 1}/{len(docs)} same decisions" in r.stdout, r.stdout
    assert f"gopher_quality\t{doc_id}\tA {ours}\tB {flipped}" in r.stdout.splitlines(), r.stdout

    # a run whose gopher_quality removed documents: read from excluded/, same decisions as the annotated run
    (tmp_path / "f").mkdir()
    filtered = build_run(tmp_path / "f", "filtered", docs, gopher_quality_mode="filter")
    r = thresher("quality", "diff", str(run), str(filtered))
    assert r.returncode == 0 and "gopher_quality: " + f"{len(docs)}/{len(docs)}" in r.stdout, r.stdout + r.stderr


@pytest.mark.parametrize("content, message", [
    ("not json\n", "b.jsonl:1: malformed JSON"),
    ('{"id": "x"}\n["a list"]\n', "b.jsonl:2: JSON value is a list, not an object"),
    ('{"id": "zz", "nothing_shared": "keep"}\n', "nothing to compare"),
])
def test_diff_bad_input_is_one_line_exit_2(tmp_path, content, message):
    a = tmp_path / "a.jsonl"
    a.write_text('{"id": "x", "gopher_quality": "keep"}\n')
    b = tmp_path / "b.jsonl"
    b.write_text(content)
    r = thresher("quality", "diff", str(a), str(b))
    assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_diff_refuses_a_folder_that_is_not_a_run(tmp_path):
    r = thresher("quality", "diff", str(tmp_path), str(tmp_path))
    assert r.returncode == 2 and "not a run directory" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("s", ["word.", "a.....", "10km", "3,5km/h", "°C.", "AB.", "it's", "x)]}»", "$", "...", "....a",
                               "12%.", "US$", "10US$", "ok…", "(8)", "", "e.g.", "Mr.", "5'11\"", "x''''"])
def test_suffix_search_in_a_window_finds_what_a_full_search_finds(s):
    import re

    from corpus import rules
    from corpus.stages.quality.affixes import SuffixFinder

    pattern = rules.load("quality/lang/en.yaml")["words"]["suffixes"]
    m = re.compile(pattern).search(s)
    assert SuffixFinder(pattern)(s) == (m.end() - m.start() if m else 0)
    # a branch that is not anchored at the end makes it search in full, as re does
    assert SuffixFinder("b|c$")("abcab") == 1 and SuffixFinder("a+$|b")("xaab") == 1


def test_bad_word_rules_are_one_line_errors(tmp_path):
    from corpus.errors import UserError

    (tmp_path / "xx.yaml").write_text("words:\n  infixes: '(unclosed'\n")
    (tmp_path / "yy.yaml").write_text("words:\n  special_cases: {\"don't\": [do, not]}\n")
    quality = stage("gopher_quality", language_rules=str(tmp_path))
    with pytest.raises(UserError, match="xx.yaml: bad pattern under 'words'"):
        quality.decide(Document("a", "text", "t", {"language": "xx"}))
    with pytest.raises(UserError, match="yy.yaml: words.special_cases must map each string to the tokens that spell it"):
        quality.decide(Document("b", "text", "t", {"language": "yy"}))
