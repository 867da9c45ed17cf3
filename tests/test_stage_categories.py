"""Stage categories: every stage says what it does, stats.json records it, and the report finds its PII
and dedup stages by it, whatever the pipeline labels them (``scrub``, ``near``) and whatever they are
named; a run built before categories were recorded is reported the same."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from conftest import write_pipeline
from testdata import speech_paths, speech_pieces, speech_text

from corpus import config, keys
from corpus.commands.build import build
from corpus.report import eu_summary, write_reports
from corpus.report import facts as report_facts
from corpus.stages import base

EMAIL = "kim.doe@mailbox-example.net"


def test_every_stage_of_the_package_declares_a_known_category() -> None:
    for name in base.names():
        cls = base.get(name)
        assert cls.category in keys.CATEGORIES and cls.category not in (keys.OTHER, keys.READ), name
    assert base.Stage.category == keys.OTHER  # a user's stage that declares none


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A build whose PII stage is labelled ``scrub`` and whose near-dedup stage is labelled ``near``."""
    root = tmp_path_factory.mktemp("categories")
    paragraphs = [p for p in speech_text(speech_paths("inaugural")[0]).split("\n\n") if len(p) > 300][:8]
    docs = [{"id": f"s{i}", "text": p} for i, p in enumerate(paragraphs)]
    docs += [{"id": f"dup{i}", "text": p + " Thank you."} for i, p in enumerate(paragraphs[:3])]  # near copies
    docs += [{"id": f"m{i}", "text": f"Write to {EMAIL} about the meeting number {i} of the committee on "
                                     "roads and harbours, which met twice this spring."} for i in range(3)]
    (root / "in.jsonl").write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs))
    cfg = write_pipeline(root / "p.yaml", name="categories", input={"paths": ["in.jsonl"]}, output="run", workers=1,
                         stages=[{"stage": "pii", "label": "scrub", "entities": {"EMAIL_ADDRESS": "redact"},
                                  "ner": {"backend": "none"}},
                                 {"stage": "dedup_minhash", "label": "near"}],
                         report={"formats": ["md", "json"]})
    build(config.load(cfg), quiet=True)  # the build command's own function: the engine, then the report
    return root / "run"


def _report(run: Path) -> dict:
    return json.loads((run / "report" / "report.json").read_text())


def test_stats_records_the_category_of_every_stage(run_dir: Path) -> None:
    stats = json.loads((run_dir / "stats.json").read_text())
    assert [(s["label"], s["category"]) for s in stats["stages"]] == [
        ("read", keys.READ), ("scrub", keys.PII_CATEGORY), ("near", keys.DEDUP)]


def test_report_finds_pii_and_dedup_stages_by_category_under_any_label(run_dir: Path) -> None:
    f = _report(run_dir)
    assert [s["label"] for s in f["dedup"]["stages"]] == ["near"]
    assert f["dedup"]["stages"][0]["removed"] == {"near_duplicate": 3}
    pii = f["pii"]
    assert list(pii["removed"]) == ["scrub"] and [d["label"] for d in pii["detectors"]] == ["scrub"]
    assert {(x["stage"], x["entity"], x["count"]) for x in pii["findings"]} == {("scrub", "EMAIL_ADDRESS", 3)}
    md = (run_dir / "report" / "report.md").read_text()
    assert "Stage near (dedup_minhash, filter mode)" in md
    checked = f["waterfall"]["stages"][1]["documents_in"]
    eu = (run_dir / "report" / "eu_training_summary.md").read_text()
    assert f"- PII handling by `scrub`: {checked} documents checked; 3 redact in 3 documents" in eu


def _report_without_categories(run: Path, out: Path) -> dict:
    """The report of ``run`` written to ``out`` as if its stats.json were from before categories."""
    stats_path = run / "stats.json"
    stats = json.loads(stats_path.read_text())
    old = {**stats, "stages": [{k: v for k, v in s.items() if k != "category"} for s in stats["stages"]]}
    stats_path.write_text(json.dumps(old))
    try:
        write_reports(run, ["json"], out)
    finally:
        stats_path.write_text(json.dumps(stats))
    return json.loads((out / "report.json").read_text())


def test_run_without_recorded_categories_reports_the_same(run_dir: Path, tmp_path: Path) -> None:
    """stats.json of a run built before categories: the installed stages' categories stand in."""
    again = _report_without_categories(run_dir, tmp_path)
    assert {**again, "generated": None} == {**_report(run_dir), "generated": None}


def test_stages_are_selected_by_category_not_by_name() -> None:
    rows = [{"label": "read", "stage": "read"},  # the reader's row, recorded without a category
            {"label": "redact", "stage": "redactor", "category": keys.PII_CATEGORY},  # a user's PII stage
            {"label": "pii_words", "stage": "pii_words", "category": keys.QUALITY},  # named like one, is not
            {"label": "dedupe", "stage": "gone_from_this_install"}]  # old run, stage no longer installed
    stats = {"stages": rows}
    assert [r["label"] for r in report_facts.stages_of(stats, keys.PII_CATEGORY)] == ["redact"]
    assert report_facts.stages_of(stats, keys.DEDUP) == []
    assert [report_facts.stage_category(r) for r in rows] == [keys.READ, keys.PII_CATEGORY, keys.QUALITY, keys.OTHER]


@pytest.fixture(scope="module")
def screened_run(tmp_path_factory) -> Path:
    """A build whose ``rights`` stage is labelled ``optout`` and whose ``url_filter`` is labelled ``blocklist``:
    speech paragraphs on three hosts, one opted out by the user's list, one blocked."""
    root = tmp_path_factory.mktemp("screened")
    hosts = ("open.example.org", "optedout.example.org", "blocked.example.org")
    docs = [{"id": doc_id, "text": text, "url": f"https://{hosts[n % 3]}/speech/{n}"}
            for n, (doc_id, text) in enumerate(speech_pieces("inaugural", 400, files=3)[:9])]
    (root / "in.jsonl").write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs))
    cfg = write_pipeline(root / "p.yaml", name="screened", input={"paths": ["in.jsonl"]}, output="run", workers=1,
                         stages=[{"stage": "rights", "label": "optout", "domains": [hosts[1]]},
                                 {"stage": "url_filter", "label": "blocklist", "domains": [hosts[2]]}],
                         report={"formats": ["json"]})
    build(config.load(cfg), quiet=True)
    return root / "run"


def test_eu_summary_finds_blocklist_and_rights_stages_by_category_under_any_label(screened_run: Path) -> None:
    f = _report(screened_run)
    assert [(s["label"], s["category"]) for s in f["waterfall"]["stages"]] == [
        ("read", keys.READ), ("optout", keys.RIGHTS), ("blocklist", keys.SAFETY)]
    assert [(s["label"], s["by_mechanism"]) for s in f["rights"]["stages"]] == [
        ("optout", {"rights_optout_domain": 3})]
    assert f["rights"]["stages"][0]["by_domain"] == {"optedout.example.org": 3}
    eu = (screened_run / "report" / "eu_training_summary.md").read_text()
    section_31, section_32 = eu.split("### 3.1 ", 1)[1].split("### 3.2 ", 1)
    assert "- Opt-outs honoured by `optout` (filter): 9 documents checked; removed per mechanism: " in section_31
    assert "`rights_optout_domain` 3; per domain: optedout.example.org (3)" in section_31
    blocked = "`blocklist` (filter): 6 documents checked; removed or flagged: url_blocked_domain=3"
    assert f"- Blocklist filtering in this run: {blocked}" in section_32.split("### 3.3 ")[0]
    assert "applied no blocklist" not in section_32


def test_eu_summary_and_rights_select_by_category_not_by_name(screened_run: Path, tmp_path: Path) -> None:
    """A user's own stages: ``badwords`` (safety) is an illegal-content filter, ``url_filter_audit`` (a quality
    stage named like url_filter) is not; ``tdm_guard`` (rights) is an opt-out stage; and a run built before
    categories were recorded gets the same EU summary from the installed stages' categories."""
    rows = [{"label": "read", "stage": "read", "category": keys.READ},
            {"label": "badwords", "stage": "badwords", "category": keys.SAFETY},
            {"label": "url_filter_audit", "stage": "url_filter_audit", "category": keys.QUALITY},
            {"label": "tdm_guard", "stage": "tdm_guard", "category": keys.RIGHTS}]
    stats = {"records_read": 5, "quarantined_total": 0, "kept": 4,
             "stages": [{**r, "mode": "filter", "docs_in": 5, "docs_out": 4, "chars_in": 50, "chars_out": 40,
                         "removed": {"blocked": 1}} for r in rows]}
    f = {"waterfall": report_facts.waterfall(stats, report_facts.Tally(), None)}
    assert eu_summary.stage_counts(f, eu_summary.ILLEGAL_CONTENT) == [
        "`badwords` (filter): 5 documents checked; removed or flagged: blocked=1"]
    assert [s["label"] for s in report_facts.rights_facts(report_facts.stages_of(stats, keys.RIGHTS))["stages"]] \
        == ["tdm_guard"]
    again = _report_without_categories(screened_run, tmp_path)
    assert {**again, "generated": None} == {**_report(screened_run), "generated": None}
    eu = "eu_training_summary.md"
    processing = [(d / eu).read_text().split("## 3. ", 1)[1] for d in (tmp_path, screened_run / "report")]
    assert processing[0] == processing[1] and "`blocklist` (filter)" in processing[0]
