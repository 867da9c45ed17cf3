"""The report's per-source table fits a page: sources named by their path under the inputs' common
folder, one row per source with its top removal reasons, as many columns for 9 stages as for one."""

from __future__ import annotations

import json
import re
from pathlib import Path

import orjson
import pytest
from conftest import thresher, write_pipeline
from testdata import speech_paths, speech_text

from corpus.report import facts, outline

STAGES = [{"stage": "normalize"}, {"stage": "length", "min_words": 40}, {"stage": "gopher_repetition"},
          {"stage": "gopher_quality"}, {"stage": "c4", "mode": "annotate"}, {"stage": "fineweb"},
          {"stage": "dedup_exact"}, {"stage": "length", "label": "long_enough", "min_words": 80},
          {"stage": "dedup_minhash"}]
HEADERS = ["source", "records", "quarantined", "removed", "kept", "kept chars", "tokens", "top removal reasons"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """Speech paragraphs in two nested input folders, with repeats, through nine stages."""
    root = tmp_path_factory.mktemp("sources")
    paras = [p.strip() for path in speech_paths("inaugural")[:12] for p in speech_text(path).split("\n\n") if p.strip()]
    for i, sub in enumerate(("corpus/web/2024", "corpus/books")):
        folder = root / "deep" / sub
        folder.mkdir(parents=True)
        docs = [{"id": f"{i}-{k}", "text": t} for k, t in enumerate(paras[i::2] + paras[i::2][:20])]
        (folder / "part-0.jsonl").write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs))
    (root / "pipelines").mkdir()
    p = write_pipeline(root / "pipelines" / "p.yaml", name="sources", output="../run",
                       input={"paths": ["../deep/corpus/**/*.jsonl"]}, stages=STAGES,
                       report={"formats": ["html", "md", "json"]})
    r = thresher("build", str(p), "--quiet", "--workers", "1")
    assert r.returncode == 0, r.stderr[-2000:]
    return root / "run"


def _md_table(md: str, header: str) -> list[list[str]]:
    lines = md[md.index(header):].splitlines()
    return [[c.strip() for c in ln.strip("|").split("|")] for ln in lines if ln.startswith("|")][:100]


def test_sources_are_named_under_their_common_folder(run_dir: Path) -> None:
    report = json.loads((run_dir / "report" / "report.json").read_text())
    w = report["waterfall"]
    assert w["sources_folder"] == "../deep/corpus"
    assert {s["source"]: s["name"] for s in w["per_source"]} == {
        "../deep/corpus/books/part-0.jsonl": "books/part-0.jsonl",
        "../deep/corpus/web/2024/part-0.jsonl": "web/2024/part-0.jsonl"}
    assert {r["name"] for r in report["sources"]["rows"]} == {"books/part-0.jsonl", "web/2024/part-0.jsonl"}


def test_per_source_table_has_eight_columns_and_top_reasons(run_dir: Path) -> None:
    md = (run_dir / "report" / "report.md").read_text()
    table = _md_table(md, "| source | records |")
    assert table[0] == HEADERS
    rows = {r[0]: r for r in table[2:] if len(r) == len(HEADERS) and r[0].endswith(".jsonl")}
    assert set(rows) == {"books/part-0.jsonl", "web/2024/part-0.jsonl"}
    report = json.loads((run_dir / "report" / "report.json").read_text())
    for s in report["waterfall"]["per_source"]:
        row = rows[s["name"]]
        assert int(row[3].replace(",", "")) == sum(r["documents"] for r in s["reasons"]) > 0
        top = max(s["reasons"], key=lambda r: r["documents"])
        assert row[7].startswith(f'{top["stage"]}: {top["reason"]} {top["documents"]}')
    # the repeated paragraphs were removed as duplicates and the table names the reason
    assert any("dedup_exact: exact_duplicate" in r[7] for r in rows.values())
    html = (run_dir / "report" / "report.html").read_text()
    for key in ("waterfall", "sources"):  # the overview's input list keeps the manifest's paths
        section = re.search(f'<section id="{key}">(.*?)</section>', html).group(1)
        assert "<td>web/2024/part-0.jsonl</td>" in section and "<td>../deep/corpus" not in section
    assert "<th>removed by " not in html


def test_top_reasons_names_three_and_counts_the_rest() -> None:
    reasons = [{"stage": "a", "reason": "r1", "documents": 1}, {"stage": "b", "reason": "r2", "documents": 9},
               {"stage": "c", "reason": "r3", "documents": 5}, {"stage": "d", "reason": "r4", "documents": 5},
               {"stage": "e", "reason": "r5", "documents": 2}]
    assert outline.top_reasons(reasons) == "b: r2 9; c: r3 5; d: r4 5; 3 more for 2 other reason(s)"
    assert outline.top_reasons([]) == "-"


@pytest.mark.parametrize("sources, folder", [
    (["../../data/a.jsonl", "../../data/notes/b.txt"], "../../data"),
    (["a.jsonl", "b.jsonl"], None),  # beside the pipeline YAML already: nothing to drop
    (["/abs/x/a.jsonl", "rel/b.jsonl"], None),  # mixed: left as they are
    (["hf:org/set", "in/a.jsonl"], "in"),
    (["hf:org/set"], None),
])
def test_source_folder(sources: list[str], folder: str | None) -> None:
    assert facts.source_folder(sources) == folder
    names = [facts.short_name(s, folder) for s in sources]
    assert all(n == s for n, s in zip(names, sources, strict=True) if s.startswith("hf:") or folder is None)
    assert len(set(names)) == len(names)
