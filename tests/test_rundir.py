"""The run directory has one owner (issue 14 part 1): `corpus.rundir` names every path of a run and
reads its documents whatever the writer's format, and no other module spells a layout name."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import orjson
import pytest
from conftest import REPO, thresher, write_pipeline
from dedup_corpus import edited_copy, prose_text, word_slices
from testdata import speech_pieces

from corpus.document import Document
from corpus.engine import runstate
from corpus.io.writers import FORMATS, ShardWriter
from corpus.rundir import STATE, RunDir, is_finished, is_run

# ---- RunDir.documents: one reader for every writer format


def _write(directory: Path, task: str, docs: list[Document], fmt: str) -> None:
    writer = ShardWriter(directory, task, fmt, shard_size_mb=0.004)  # a few KB each: several shards per task
    for doc in docs:
        writer.write(doc)
    writer.close()


@pytest.mark.parametrize("fmt", FORMATS)
def test_documents_reads_every_shard_in_writing_order_in_either_format(tmp_path: Path, fmt: str) -> None:
    pieces = speech_pieces("inaugural", 1500, files=12)
    docs = [Document(i, text, "inaugural.jsonl", {"n": k, "flags": [{"stage": "x", "reason": "y"}]} if k % 3 else {})
            for k, (i, text) in enumerate(pieces)]
    half = len(docs) // 2
    run = RunDir(tmp_path / "run")
    _write(run.data, "00000", docs[:half], fmt)
    _write(run.data, "00001", docs[half:], fmt)
    _write(run.excluded("dedup_exact"), "00000", docs[:3], fmt)
    _write(run.excluded("length"), "00001", docs[3:5], fmt)
    assert len(run.shards("data")) > 2 and all(p.name.endswith(fmt) for p in run.shards("data"))

    assert list(run.documents("data")) == docs  # id, text, source and metadata as written
    assert list(run.documents("data", task_id="00001")) == docs[half:]
    assert list(run.documents("excluded", "length")) == docs[3:5]
    assert list(run.documents("excluded")) == docs[:5]  # every label's, in label order
    assert list(RunDir(tmp_path / "elsewhere").documents("data")) == []


def test_a_build_with_either_writer_reads_back_the_same_documents(tmp_path: Path) -> None:
    """A real build's ``data/``: the Parquet run's documents are the JSONL run's."""
    lines = [orjson.dumps({"id": i, "text": t, "year": k}) for k, (i, t) in enumerate(speech_pieces("state_union", 800, 3))]
    (tmp_path / "in.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    runs = {}
    for fmt in FORMATS:
        p = write_pipeline(tmp_path / f"{fmt}.yaml", name=fmt, input={"paths": ["in.jsonl"]}, output=fmt, workers=1,
                           writer={"format": fmt}, stages=[{"stage": "length", "min_words": 200}])
        r = thresher("build", str(p), "--quiet", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        runs[fmt] = RunDir(tmp_path / fmt)
    kept = [list(runs[fmt].documents("data")) for fmt in FORMATS]
    assert kept[0] and kept[0] == kept[1]
    assert list(runs["jsonl.zst"].documents("excluded")) == list(runs["parquet"].documents("excluded"))
    assert list(runs["parquet"].documents("excluded"))  # the length stage removed the short pieces


def test_is_run_knows_a_run_from_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    (folder / "data").mkdir(parents=True)  # a folder named data/ alone is not a run
    assert not is_run(folder) and not is_run(tmp_path / "missing")
    started = tmp_path / "started"
    with runstate.locked(started):  # what a build holds first
        assert is_run(started) and not is_finished(started)
    tokens = RunDir(started).tokens / STATE  # tokenize's own state folder: tokens/ is no run
    tokens.mkdir(parents=True)
    assert not is_run(tokens.parent)
    copied = tmp_path / "copied"  # a finished run copied without its .state/
    RunDir(copied).data.mkdir(parents=True)
    RunDir(copied).config.write_text("name: x\n")
    assert is_run(copied) and not is_finished(copied)
    RunDir(copied).manifest.write_text("{}")
    assert is_finished(copied)


# ---- dedup-eval reads a Parquet-writing run


def test_dedup_eval_reads_the_texts_of_a_parquet_writing_run(tmp_path: Path) -> None:
    """With ``verify: false`` the stage keeps no shingle sets, so dedup-eval rebuilds them from the texts in
    ``data/`` and ``excluded/``: a Parquet run must give the figures a JSONL run gives."""
    rng = np.random.default_rng(11)
    base = word_slices(prose_text(), 200, 120)
    docs = [{"id": f"b{i}", "text": t} for i, t in enumerate(base)]
    docs += [{"id": f"c{k}", "text": edited_copy(base[k], 0.9, rng)[0]} for k in range(30)]
    (tmp_path / "in.jsonl").write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs))
    figures = {}
    for fmt in FORMATS:
        p = write_pipeline(tmp_path / f"{fmt}.yaml", name=fmt, input={"paths": ["in.jsonl"], "task_size_mb": 0.1},
                           output=fmt, workers=1, writer={"format": fmt},
                           stages=[{"stage": "dedup_minhash", "verify": False}])
        r = thresher("build", str(p), "--quiet", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        r = thresher("dedup-eval", fmt, "--samples", "300", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        png = RunDir(tmp_path / fmt).report / "dedup_minhash-s-curve.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        figures[fmt] = {k: v for k, v in orjson.loads(png.with_suffix(".json").read_bytes()).items() if k != "png"}
    assert figures["parquet"] == figures["jsonl.zst"]
    result = figures["parquet"]
    assert result["precision"] is not None and result["precision"] > 0.5
    assert result["recall"] is not None and result["recall"] >= 0.9
    high = [b for b in result["s_curve"] if b["jaccard"] == "0.9-1.0"][0]
    assert high["pairs"] and high["observed"] >= 0.95


# ---- no layout name spelled outside corpus/rundir.py

LAYOUT = {".state", ".work", "data", "excluded", "quarantine", "review", "tokens", "report", "stats.json",
          "manifest.json", "config.yaml", "run.json"}
# String constants equal to a layout name that are not a run's layout, as (file, enclosing function or
# class, or <module>; value). Each says what the string is instead.
NOT_LAYOUT = {
    ("corpus/keys.py", "<module>", "data"): "the trainer config's data: key",
    ("corpus/commands/pii_eval.py", "register", "data"): "an argparse positional (the labelled JSON file)",
    ("corpus/commands/report.py", "register", "report"): "the subcommand's name, thresher report",
    ("corpus/engine/duplicate_ids.py", "IdLog.admit", "quarantine"): "a reader.duplicate_ids policy value",
    ("corpus/io/records.py", "<module>", "quarantine"): "the reader.duplicate_ids policy values",
    ("corpus/rules.py", "rules_dir", "data"): "the sysconfig scheme's data path (an installed share/)",
    ("corpus/demo/make_sample.py", "<module>", "data"): "the demo package's own folder corpus/demo/data/",
    ("corpus/demo/make_warc.py", "<module>", "data"): "the demo package's own folder corpus/demo/data/",
    ("corpus/token_shards.py", "<module>", "tokens"): "a count in a task's token summary",
    ("corpus/stages/tokenize.py", "Tokenize.process", "tokens"): "a ledger counter (tokens, val_tokens)",
    ("corpus/report/outline.py", "overview", "tokens"): "a row heading of the report",
    ("corpus/report/outline.py", "per_source_blocks", "tokens"): "a column heading of the report",
    ("corpus/report/outline.py", "sources", "tokens"): "a column heading of the report",
    ("corpus/report/outline.py", "lineage", "tokens"): "a column heading of the report",
    ("corpus/report/lineage.py", "sections", "tokens"): "a row heading of the lineage report",
    ("trainer/ablate/experiment.py", "_proxy", "tokens"): "the ablation config's proxy.tokens key",
    ("trainer/ablate/run.py", "<module>", "tokens"): "the ablation output's own folder (OUT/tokens/<hash>/), no run's",
}
EXTRA = ("-quarantine.jsonl", "pass-")  # the quarantine files' and pass markers' names, in any string


def _layout(value: str) -> bool:
    return value in LAYOUT or value.split("/")[0] in LAYOUT and "/" in value or any(x in value for x in EXTRA)


def _field_or_doc(tree: ast.AST) -> set[int]:
    """String constants that are JSON fields or docstrings: a subscript (``c["tokens"]``), a dict literal's
    key, the key of ``.get``/``.pop``/``.setdefault``, a module's, class's or function's docstring."""
    skip: set[int] = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Subscript):
            skip.add(id(n.slice))
        elif isinstance(n, ast.Dict):
            skip.update(id(k) for k in n.keys if k is not None)
        elif isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in ("get", "pop", "setdefault"):
            skip.update(id(a) for a in n.args[:1])
        if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and n.body:
            first = n.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                skip.add(id(first.value))
    return skip


def _constants(node: ast.AST, scope: str):
    """``(scope, constant)`` for every string constant below ``node``, scope the enclosing qualified name."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            yield from _constants(child, child.name if scope == "<module>" else f"{scope}.{child.name}")
        else:
            if isinstance(child, ast.Constant) and isinstance(child.value, str):
                yield scope, child
            yield from _constants(child, scope)


def _spellings() -> list[tuple[str, str, ast.Constant]]:
    """``(file, scope, constant)`` for every layout name spelled outside corpus/rundir.py (not as a field)."""
    out = []
    for path in sorted([*(REPO / "corpus").rglob("*.py"), *(REPO / "trainer").rglob("*.py")]):
        rel = str(path.relative_to(REPO))
        if rel == "corpus/rundir.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _field_or_doc(tree)
        out.extend((rel, scope, c) for scope, c in _constants(tree, "<module>") if id(c) not in skip and _layout(c.value))
    return out


def layout_spellings() -> dict[str, list[str]]:
    """File -> ``line: 'value' (scope)`` for every layout name spelled outside corpus/rundir.py."""
    found: dict[str, list[str]] = {}
    for rel, scope, c in _spellings():
        if (rel, scope, c.value) not in NOT_LAYOUT:
            found.setdefault(rel, []).append(f"{c.lineno}: {c.value!r} ({scope})")
    return found


def test_the_scan_finds_a_spelled_layout_name_and_passes_a_json_field(tmp_path: Path) -> None:
    tree = ast.parse('"""Doc: data/."""\nX = "data"\nY = c["tokens"] + d.get("report", 0)\nZ = f"{a}-quarantine.jsonl"\n')
    skip = _field_or_doc(tree)
    assert sorted(c.value for _, c in _constants(tree, "<module>") if id(c) not in skip and _layout(c.value)) == [
        "-quarantine.jsonl", "data"]


def test_no_layout_name_is_spelled_outside_rundir() -> None:
    """``.state``, ``data``, ``excluded`` ... are spelled in corpus/rundir.py alone; the failure names every
    file that still spells one (import the constant or use a `RunDir` member instead)."""
    found = layout_spellings()
    assert not found, "layout names spelled outside corpus/rundir.py:\n" + "\n".join(
        f"  {f}: " + "; ".join(lines) for f, lines in found.items())


def test_every_allowed_spelling_is_still_there() -> None:
    """An entry of `NOT_LAYOUT` whose string went away is removed, so the list never pardons a new use."""
    seen = {(rel, scope, c.value) for rel, scope, c in _spellings()}
    stale = sorted(set(NOT_LAYOUT) - seen)
    assert not stale, f"NOT_LAYOUT entries that match nothing now (remove them): {stale}"
