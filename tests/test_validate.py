"""``thresher validate`` runs every check ``build`` runs before its first task, and both say what is
wrong in one line (exit 2): the stage order, labels used twice, the files a stage names, PII entity
names and nested parameters. One schema (`corpus.schema`) checks the pipeline, stage parameters and
the trainer config."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest
from conftest import thresher, write_pipeline

from corpus import schema
from corpus.cli import main
from corpus.errors import UserError
from corpus.rundir import RunDir


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "in.jsonl").write_text('{"id": "a", "text": "hello world, a document", "url": "https://example.org/a"}\n')
    (tmp_path / "eval.jsonl").write_text('{"text": "an evaluation item of a few words"}\n')
    (tmp_path / "typo-blocklist.yaml").write_text("domians: [spam.test]\n")
    (tmp_path / "typo-optout.yaml").write_text("url_prefix: [https://a.org/private/]\n")
    # Language files a quality stage reads only when a task first meets a document in that language.
    (tmp_path / "lang-typo").mkdir()
    (tmp_path / "lang-typo" / "xx.yaml").write_text("gopher_quality:\n  min_doc_word: 3\n")
    (tmp_path / "lang-words").mkdir()
    (tmp_path / "lang-words" / "xx.yaml").write_text("words:\n  unspaced_script: [Han]\n")
    monkeypatch.chdir(tmp_path)  # a missing file named relative to the current directory stays missing
    return tmp_path


def tokenizer_without_eos(folder: Path) -> Path:
    """A real tokenizer folder whose vocabulary has no end-of-sequence token."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    tok = Tokenizer(WordLevel({"[UNK]": 0, "hello": 1, "world": 2}, unk_token="[UNK]"))
    tok.pre_tokenizer = Whitespace()
    folder.mkdir()
    tok.save(str(folder / "tokenizer.json"))
    return folder


# Each mistake passed `validate` (or crashed `build` after its tasks started) before one check ran both.
MISTAKES = {
    "tokenize not last": ([{"stage": "tokenize", "tokenizer": "no-eos-tok"}, {"stage": "normalize"}],
                          "stage 'tokenize' must be the last stage of the pipeline"),
    "duplicate labels": ([{"stage": "normalize"}, {"stage": "length", "label": "normalize"}],
                         "stage label 'normalize' is used twice"),
    "missing blocklist": ([{"stage": "url_filter", "blocklists": ["missing-blocklist.yaml"]}],
                          "missing-blocklist.yaml"),
    "blocklist key typo": ([{"stage": "url_filter", "blocklists": ["typo-blocklist.yaml"]}],
                           "typo-blocklist.yaml: unknown key 'domians' (did you mean 'domains'?)"),
    "opt-out list key typo": ([{"stage": "rights", "optout": ["typo-optout.yaml"]}],
                              "typo-optout.yaml: unknown key 'url_prefix' (did you mean 'url_prefixes'?)"),
    "missing eval set": ([{"stage": "decontaminate", "eval_sets": {"gsm": "missing.jsonl"}}],
                         "eval_sets.gsm: file not found: missing.jsonl"),
    "missing classifier model": ([{"stage": "quality_classifier", "model": "missing.bin", "min_score": 0.5}],
                                 "model file not found: missing.bin"),
    "missing language model": ([{"stage": "language", "model": "missing.bin"}], "model file not found: missing.bin"),
    "missing tokenizer": ([{"stage": "tokenize", "tokenizer": "./missing-tok"}], "./missing-tok: no such folder"),
    "tokenizer without EOS": ([{"stage": "tokenize", "tokenizer": "no-eos-tok"}], "has no EOS token"),
    "unknown PII entity": ([{"stage": "pii", "ner": {"backend": "none"}, "entities": {"EMAIL_ADRESS": "redact"}}],
                           "no recognizer for EMAIL_ADRESS (did you mean 'EMAIL_ADDRESS'?)"),
    "missing NER model": ([{"stage": "pii", "ner": {"backend": "rampart", "model": "missing-model"}}],
                          "ner.model missing-model is not a folder"),
    "nested typo": ([{"stage": "normalize"}, {"stage": "pii", "ner": {"treshold": 0.3}}],
                    "unknown key 'treshold' in stages[1].ner (did you mean 'threshold'?)"),
    "nested wrong type": ([{"stage": "pii", "ner": {"backend": "none", "threshold": "high"}}],
                          "stages[0].ner.threshold must be a number, got 'high'"),
    "wrong type": ([{"stage": "length", "min_words": "ten"}], "stages[0].min_words must be a whole number, got 'ten'"),
    "bad normalize form": ([{"stage": "normalize", "form": "NFX"}],
                           "stage 'normalize': stages[0].form must be one of NFC, NFKC, NFD, NFKD, none, got 'NFX'"),
    "language file typo": ([{"stage": "gopher_quality", "language_rules": "lang-typo"}],
                           "lang-typo/xx.yaml: unknown key 'min_doc_word' in gopher_quality (did you mean 'min_doc_words'?)"),
    "language words typo": ([{"stage": "c4", "language_rules": "lang-words"}],
                            "lang-words/xx.yaml: unknown key 'unspaced_script' in words (did you mean 'unspaced_scripts'?)"),
    "missing language folder": ([{"stage": "fineweb", "language_rules": "missing-lang"}],
                                "language_rules folder not found: missing-lang"),
}


def run_cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("case", sorted(MISTAKES))
def test_validate_and_build_refuse_the_same_mistake_before_any_task(workdir: Path, capsys, case: str) -> None:
    stages, needle = MISTAKES[case]
    tokenizer_without_eos(workdir / "no-eos-tok")
    p = write_pipeline(workdir / "p.yaml", name="t", input={"paths": ["in.jsonl"]}, output="out", workers=1,
                       stages=stages)
    for command in ("validate", "build"):
        rc, out, err = run_cli(capsys, command, str(p))
        lines = err.strip().splitlines()
        assert rc == 2 and len(lines) == 1 and "Traceback" not in err, (command, rc, err)
        assert lines[0].startswith("thresher: error: ") and needle in lines[0], (command, lines[0])
    assert not RunDir(workdir / "out").markers()  # no task ran


def test_the_stages_checks_pass_on_what_exists(workdir: Path, capsys) -> None:
    stages = [{"stage": "decontaminate", "eval_sets": {"gsm": "eval.jsonl"}},
              {"stage": "url_filter", "blocklists": ["blocklists/example.yaml"]},
              {"stage": "pii", "ner": {"backend": "none", "threshold": 1}},
              {"stage": "gopher_quality", "mode": "annotate"}]  # every shipped language file checked
    p = write_pipeline(workdir / "p.yaml", name="t", input={"paths": ["in.jsonl"]}, output="out", workers=1,
                       stages=stages)
    rc, out, err = run_cli(capsys, "validate", str(p))
    assert rc == 0 and "ok (4 stage(s), 1 task(s))" in out, err
    r = thresher("build", str(p), "--quiet", cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert RunDir(workdir / "out").markers()


@pytest.mark.parametrize("text, message", [
    ("min_word: 4\n", "unknown key 'min_word' (did you mean 'min_words'?)"),
    ("min_words: four\n", "min_words must be a whole number, got 'four'"),
])
def test_a_stage_rules_file_mistake_is_one_line_naming_the_file(workdir: Path, capsys, monkeypatch, text: str,
                                                                message: str) -> None:
    """A stage's own rules file (its published defaults) is checked by its ``Params``, like an entry."""
    from corpus.stages import base

    rules_file = workdir / "length.yaml"
    rules_file.write_text(text)
    monkeypatch.setattr(base.get("length"), "rules", str(rules_file))
    p = write_pipeline(workdir / "p.yaml", name="t", input={"paths": ["in.jsonl"]}, output="out", workers=1,
                       stages=[{"stage": "length"}])
    rc, out, err = run_cli(capsys, "validate", str(p))
    assert rc == 2 and err.strip() == f"thresher: error: rules file {rules_file}: {message}", err


@dataclass
class Inner:
    threshold: float = 0.5
    backend: Literal["rampart", "none"] | None = "rampart"


@dataclass
class Outer:
    name: str
    inner: Inner = field(default_factory=Inner)
    count: int = 1
    flag: bool = False
    sizes: list[int] = field(default_factory=list)
    keep: int | list[dict[str, int]] = 1
    async_: bool = False  # YAML `async`


def test_the_schema_reads_yaml_values_by_their_annotation() -> None:
    got = schema.from_mapping(Outer, {"name": "x", "inner": {"threshold": 1}, "sizes": [1, 2],
                                      "keep": [{"a": 1}], "async": True})
    assert got == Outer("x", Inner(1.0), sizes=[1, 2], keep=[{"a": 1}], async_=True)
    assert isinstance(got.inner.threshold, float)  # a whole number is a number
    assert schema.from_mapping(Outer, {"name": "x", "inner": None}).inner == Inner()  # an empty section
    assert schema.from_mapping(Outer, {"name": "x", "inner": {"backend": None}}).inner.backend is None
    assert schema.keys(Outer) == ["name", "inner", "count", "flag", "sizes", "keep", "async"]


@pytest.mark.parametrize(("data", "message"), [
    ({"name": "x", "inner": {"treshold": 0.3}}, "unknown key 'treshold' in s.inner (did you mean 'threshold'?)"),
    ({"name": "x", "colour": 1}, "unknown key 'colour' in s (allowed: name, inner, count, flag, sizes, keep, async)"),
    ({"name": "x", "count": "ten"}, "s.count must be a whole number, got 'ten'"),
    ({"name": "x", "count": True}, "s.count must be a whole number, got True"),
    ({"name": "x", "count": 1.5}, "s.count must be a whole number, got 1.5"),
    ({"name": "x", "flag": 1}, "s.flag must be true or false, got 1"),
    ({"name": "x", "inner": {"threshold": False}}, "s.inner.threshold must be a number, got False"),
    ({"name": ""}, "s.name must be a non-empty string, got ''"),
    ({"name": "x", "sizes": [1, "2"]}, "s.sizes[1] must be a whole number, got '2'"),
    ({"name": "x", "keep": [{"a": "b"}]}, "s.keep[0].a must be a whole number, got 'b'"),
    ({"name": "x", "keep": "all"}, "s.keep must be a whole number or a list, got 'all'"),
    ({"name": "x", "inner": {"backend": "bert"}}, "s.inner.backend must be one of rampart, none or null, got 'bert'"),
    ({"name": "x", "inner": [1]}, "s.inner must be a mapping of keys, got [1]"),
    ({"count": 2}, "s: missing required key 'name'"),
    ({"name": "x", "async_": True}, "unknown key 'async_' in s (did you mean 'async'?)"),
])
def test_a_schema_mistake_is_one_line_in_words(data: dict, message: str) -> None:
    with pytest.raises(UserError) as e:
        schema.from_mapping(Outer, data, "s")
    assert str(e.value) == message
