"""A build that succeeds but quietly empties the corpus says so: on stderr, in stats.json and in the
report (issue 19 part 4). So does a ``--mix`` pattern that matches nothing."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import thresher, write_pipeline
from testdata import SENTENCES
from tokenizer_fixtures import trained_tokenizer  # noqa: F401 - a session fixture


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("thresher: warning: ")]


def _input(path: Path, field: str = "text", n: int = 40) -> None:
    rows = [json.loads(line) for line in SENTENCES.read_text(encoding="utf-8").splitlines()[:n]]
    path.write_text("".join(json.dumps({"id": f"s{i}", field: r["text"], "lang": r["lang"]}) + "\n"
                            for i, r in enumerate(rows)))


def test_a_wrong_text_field_warns_that_most_records_were_quarantined(tmp_path: Path) -> None:
    _input(tmp_path / "in.jsonl", field="body")
    p = write_pipeline(tmp_path / "p.yaml", name="wrong-field", input={"paths": ["in.jsonl"]}, output="out",
                       workers=1, stages=[{"stage": "normalize"}], report={"formats": ["md"]})
    r = thresher("build", str(p), "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    [warning] = _warnings(r.stderr)
    assert "40 of 40 records were quarantined (100%, mostly missing_text) (is input.text_field right?)" in warning
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["warnings"] == [warning.removeprefix("thresher: warning: ")]
    assert "is input.text_field right?" in (tmp_path / "out" / "report" / "report.md").read_text()


def test_an_unknown_language_code_and_a_stage_removing_nearly_everything_warn(tmp_path: Path) -> None:
    _input(tmp_path / "in.jsonl")
    p = write_pipeline(tmp_path / "p.yaml", name="english", input={"paths": ["in.jsonl"]}, output="out",
                       workers=1, stages=[{"stage": "language", "keep": ["english"]}])
    r = thresher("build", str(p), "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    first, second = _warnings(r.stderr)
    assert "stage language: the model knows no language 'english'" in first
    assert "stage language removed 40 of the 40 documents it saw (100%, mostly language_not_kept)" in second
    assert len(json.loads((tmp_path / "out" / "stats.json").read_text())["warnings"]) == 2


def test_a_healthy_build_warns_of_nothing(tmp_path: Path) -> None:
    _input(tmp_path / "in.jsonl")
    p = write_pipeline(tmp_path / "p.yaml", name="healthy", input={"paths": ["in.jsonl"]}, output="out",
                       workers=1, stages=[{"stage": "language", "keep": ["af", "ar", "afr"]}])
    r = thresher("build", str(p), "--quiet", cwd=tmp_path)
    assert r.returncode == 0 and not _warnings(r.stderr), r.stderr
    assert json.loads((tmp_path / "out" / "stats.json").read_text())["warnings"] == []


def test_a_mix_pattern_that_matches_nothing_warns(tmp_path: Path, trained_tokenizer: Path) -> None:  # noqa: F811
    _input(tmp_path / "in.jsonl")
    p = write_pipeline(tmp_path / "p.yaml", name="mix", input={"paths": ["in.jsonl"]}, output="out", workers=1,
                       stages=[])
    assert thresher("build", str(p), "--quiet", cwd=tmp_path).returncode == 0
    r = thresher("tokenize", str(tmp_path / "out"), "--tokenizer", str(trained_tokenizer),
                 "--mix", "in.jsonl=1", "--mix", "*wikipedia*=3")
    assert r.returncode == 0, r.stderr
    [warning] = _warnings(r.stderr)
    assert "--mix pattern '*wikipedia*' matches no source" in warning and "in.jsonl" in warning
