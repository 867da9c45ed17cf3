"""Task planning: inputs of tens of MB split into enough tasks to keep every worker busy, and the plan
(so the output) never depends on the worker count."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from conftest import thresher, tree_bytes, write_pipeline
from testdata import speech_paths, speech_text

from corpus import config
from corpus.engine import plan
from corpus.errors import UserError


def _paragraphs() -> list[str]:
    text = "\n\n".join(speech_text(p) for p in speech_paths("inaugural"))
    return [p.strip() for p in text.split("\n\n") if len(p.strip()) > 200]


def write_jsonl(path: Path, megabytes: float, distinct: int | None = None) -> Path:
    """Real paragraphs (the first ``distinct``), one record a line, repeated with fresh ids until the
    file has ``megabytes``."""
    paras, target, i = _paragraphs()[:distinct], int(megabytes * (1 << 20)), 0
    with open(path, "wb") as f:
        while f.tell() < target:
            f.write(orjson.dumps({"id": f"p{i}", "text": paras[i % len(paras)]}) + b"\n")
            i += 1
    return path


def load(tmp_path: Path, **cfg) -> config.PipelineConfig:
    return config.load(write_pipeline(tmp_path / "p.yaml", name="plan", output="out", stages=[], **cfg))


def test_a_58_mb_file_plans_many_tasks_covering_it_exactly(tmp_path: Path) -> None:
    big = write_jsonl(tmp_path / "big.jsonl", 58)
    tasks = plan.plan(load(tmp_path, input={"paths": ["big.jsonl"]}))
    assert len(tasks) >= 4
    slices = [s for t in tasks for s in t.slices]
    assert slices[0].start == 0 and slices[-1].end == big.stat().st_size
    assert all(a.end == b.start for a, b in zip(slices, slices[1:], strict=False))  # no gap, no overlap
    data = big.read_bytes()
    assert all(s.start == 0 or data[s.start - 1:s.start] == b"\n" for s in slices)  # cut at line starts
    assert [s.first for s in slices] == [1 + data[:s.start].count(b"\n") for s in slices]


def test_the_plan_is_the_same_for_any_worker_count(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "a.jsonl", 9)
    plans = [[t.to_dict() for t in plan.plan(load(tmp_path, input={"paths": ["a.jsonl"]}, workers=w))]
             for w in (1, 2, 64)]
    assert plans[0] == plans[1] == plans[2] and len(plans[0]) >= 2


def test_auto_size_grows_with_the_input_between_its_bounds(tmp_path: Path) -> None:
    sizes = {}
    for name, mb in (("tiny", 0.5), ("huge", 20_000)):
        p = tmp_path / f"{name}.jsonl"
        with open(p, "wb") as f:
            f.truncate(int(mb * (1 << 20)))  # sparse: the planner only asks for the size
        sizes[name] = plan.task_size_bytes("auto", [(str(p), p.name, "jsonl")], "train")
    assert sizes["tiny"] == plan.AUTO_MIN_MB << 20
    assert sizes["huge"] == plan.AUTO_MAX_MB << 20
    assert plan.task_size_bytes(2, [], "train") == 2 << 20  # an explicit size is used as given


@pytest.mark.parametrize("bad", [0, -1, "big", True])
def test_a_bad_task_size_is_one_line(tmp_path: Path, bad) -> None:
    with pytest.raises(UserError, match="task_size_mb must be a (positive )?number or auto"):
        load(tmp_path, input={"paths": ["a.jsonl"], "task_size_mb": bad})


def test_one_file_in_many_tasks_gives_the_same_bytes_for_1_and_2_workers(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "a.jsonl", 0.6, distinct=300)
    p = write_pipeline(tmp_path / "p.yaml", name="w", input={"paths": ["a.jsonl"], "task_size_mb": 0.1},
                       output="out", stages=[{"stage": "length", "min_words": 60}, {"stage": "dedup_exact"}])
    assert len(plan.plan(config.load(p))) >= 5
    for w in ("1", "2"):
        r = thresher("build", str(p), "--quiet", "--workers", w, "--output", f"w{w}", cwd=tmp_path)
        assert r.returncode == 0, r.stderr[-2000:]
    for sub in ("data", "excluded"):
        assert tree_bytes(tmp_path / "w1" / sub) == tree_bytes(tmp_path / "w2" / sub)
    assert tree_bytes(tmp_path / "w1" / "excluded" / "dedup_exact")  # repeated paragraphs were removed
