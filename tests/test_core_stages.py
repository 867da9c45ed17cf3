"""normalize, length, annotate mode, and how rule files and inline keys set stage parameters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import read_docs, thresher, write_pipeline

from corpus.document import Document
from corpus.engine.ledger import StageStats
from corpus.errors import UserError
from corpus.stages import base, testing


def run_stage(spec: dict, texts: list[str]) -> tuple[list[Document], StageStats, list[Document]]:
    out = testing.run_stage(spec, [Document(str(i), t, "s") for i, t in enumerate(texts)])
    return out.kept, out.stats, [doc for doc, _ in out.excluded]


def test_normalize_nfc_controls_and_whitespace() -> None:
    decomposed = "Cafe\u0301"  # e + combining acute
    out, stats, _ = run_stage({"stage": "normalize"}, [
        decomposed + " au\x00 lait\u200b", "a  b\t\tc \n\n\n\n  d  ", "clean text", "line one\r\nline two"])
    assert out[0].text == "Caf\u00e9 au lait"
    assert out[1].text == "a b c\n\nd"
    assert out[2].text == "clean text"
    assert out[3].text == "line one\nline two"
    assert stats.extra["unicode_normalized"] == 1
    assert stats.extra["control_stripped"] == 2
    assert stats.extra["whitespace_collapsed"] == 1


def test_normalize_can_be_told_to_keep_whitespace() -> None:
    out, _, _ = run_stage({"stage": "normalize", "collapse_whitespace": False}, ["a  b"])
    assert out[0].text == "a  b"
    with pytest.raises(UserError) as e:
        base.build({"stage": "normalize", "form": "NFX"})
    assert str(e.value) == "stage 'normalize': form must be one of NFC, NFKC, NFD, NFKD, none, got 'NFX'"


def test_length_filter_and_reasons() -> None:
    spec = {"stage": "length", "min_chars": 5, "max_chars": 40, "min_words": 2, "max_words": 6}
    out, stats, excluded = run_stage(spec, ["tiny", "x" * 50, "oneword", "just right here", "a b c d e f g h"])
    assert [d.text for d in out] == ["just right here"]
    assert dict(stats.removed) == {"too_few_chars": 1, "too_many_chars": 1, "too_few_words": 1, "too_many_words": 1}
    assert all(d.flags[0]["stage"] == "length" for d in excluded)


def test_annotate_mode_keeps_everything_and_records_flags() -> None:
    out, stats, excluded = run_stage({"stage": "length", "min_words": 3, "mode": "annotate"}, ["a b", "a b c"])
    assert len(out) == 2 and not excluded
    assert out[0].flags == [{"stage": "length", "reason": "too_few_words"}]
    assert out[1].flags == []
    assert dict(stats.flagged) == {"too_few_words": 1} and not stats.removed


def test_rules_file_gives_defaults_and_inline_keys_override(tmp_path: Path, monkeypatch) -> None:
    rules = tmp_path / "rules"
    (rules / "x").mkdir(parents=True)
    (rules / "x" / "length.yaml").write_text("min_words: 4\nmax_chars: 100\n")
    monkeypatch.setenv("THRESHER_RULES", str(rules))
    monkeypatch.setattr(base.get("length"), "rules", "x/length.yaml")
    _, resolved = base.build({"stage": "length"})
    assert resolved["min_words"] == 4 and resolved["max_chars"] == 100
    _, resolved = base.build({"stage": "length", "min_words": 1})
    assert resolved["min_words"] == 1 and resolved["max_chars"] == 100


def test_resolved_config_has_every_default(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text('{"text": "a short document with enough words"}\n')
    p = write_pipeline(tmp_path / "p.yaml", name="r", input={"paths": ["in.jsonl"]}, output="out", workers=1,
                       stages=[{"stage": "length", "min_words": 2, "mode": "annotate"}])
    assert thresher("build", str(p), "--quiet", cwd=tmp_path).returncode == 0
    import yaml

    cfg = yaml.safe_load((tmp_path / "out" / "config.yaml").read_text())
    assert cfg["stages"] == [{"stage": "length", "mode": "annotate", "min_chars": 0, "max_chars": None,
                              "min_words": 2, "max_words": None}]
    assert cfg["input"]["text_field"] == "text" and cfg["writer"]["format"] == "jsonl.zst"
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert [s["label"] for s in stats["stages"]] == ["read", "length"]
    assert len(read_docs(tmp_path / "out")) == 1
