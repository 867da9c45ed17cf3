"""A pipeline never writes outside its run directory, and a label never collides with the ledger's own
keys (issue 19 part 2; issue 21 b5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import thresher, write_pipeline

from corpus.errors import UserError
from corpus.rundir import in_run


@pytest.mark.parametrize("label", ["../escape", "read", "x:scan", "data", "Upper", "a/b", ""])
def test_a_label_that_is_not_a_simple_name_is_refused_before_any_write(tmp_path: Path, label: str) -> None:
    (tmp_path / "in.jsonl").write_text('{"id": "a", "text": "Some words to keep."}\n')
    p = write_pipeline(tmp_path / "p.yaml", name="labels", input={"paths": ["in.jsonl"]}, output="run/out",
                       workers=1, stages=[{"stage": "dedup_exact", "label": label}])
    for command in ("validate", "build"):
        r = thresher(command, str(p), cwd=tmp_path)
        assert r.returncode == 2, r.stderr
        assert r.stderr.count("\n") == 1 and f"label {label!r}" in r.stderr and "Traceback" not in r.stderr
    assert sorted(q.name for q in tmp_path.iterdir()) == ["in.jsonl", "p.yaml"]  # nothing written, anywhere


def test_the_reader_and_a_stage_keep_separate_ledger_rows(tmp_path: Path) -> None:
    """The reader's row is ``read``; a stage may not take that name, so its counts never merge into it."""
    (tmp_path / "in.jsonl").write_text('{"id": "a", "text": "Some words to keep."}\n{"id": "b", "text": ""}\n')
    p = write_pipeline(tmp_path / "p.yaml", name="rows", input={"paths": ["in.jsonl"]}, output="out", workers=1,
                       stages=[{"stage": "length", "min_words": 10, "label": "reading"}])
    assert thresher("build", str(p), "--quiet", cwd=tmp_path).returncode == 0
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    rows = {s["label"]: s for s in stats["stages"]}
    assert rows["read"]["removed"] == {"empty_text": 1} and rows["reading"]["removed"] == {"too_few_words": 1}
    assert stats["invariant"]["holds"]


def test_a_path_that_resolves_outside_the_run_is_refused(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (run / "dedup").symlink_to(tmp_path / "elsewhere")
    assert in_run(run, "excluded", "dedup") == run / "excluded" / "dedup"
    with pytest.raises(UserError, match="outside the run directory"):
        in_run(run, "dedup")
    with pytest.raises(UserError, match="outside the run directory"):
        in_run(run, "..", "escape")
