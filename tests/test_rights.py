"""``rights``: a crawl-like sample with robots.txt snapshots (folder and JSONL), TDMRep (page metadata and a
``tdmrep.json`` snapshot), robots meta tags, X-Robots-Tag headers and an opt-out list, built with the real
CLI in drop and annotate mode; EU summary 3.1 shows the counts, domains and snapshot dates."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import orjson
import pytest
from conftest import read_docs, thresher, write_pipeline
from warc_fixtures import Warc, article

ROBOTS = {
    "blocked-ai.org": "User-agent: GPTBot\nDisallow: /\n",
    "partial.org": "User-agent: CCBot\nDisallow: /private\n\nUser-agent: *\nAllow: /\n",
    "open.org": "User-agent: *\nDisallow: /cgi-bin/\n",
    "customua.org": "User-agent: MyAIBot\nDisallow: /\n",
}
TDMREP = {"tdm.org": [{"location": "/reserved/*", "tdm-reservation": 1},
                      {"location": "/*", "tdm-reservation": 0}]}
HASHED_TEXT = "A page its author asked us to remove, identified by the hash of its text."
# id -> (url, extra metadata, expected reason or None)
SAMPLE = {
    "gpt-blocked": ("https://blocked-ai.org/article/1", {}, "rights_robots_txt"),
    "ccbot-private": ("https://partial.org/private/report", {}, "rights_robots_txt"),
    "partial-public": ("https://partial.org/public/news", {}, None),
    "custom-agent": ("https://customua.org/a", {}, "rights_robots_txt"),
    "open-page": ("https://open.org/blog/post", {}, None),
    "open-cgi": ("https://open.org/cgi-bin/x", {}, "rights_robots_txt"),  # a `User-agent: *` rule binds AI agents too
    "tdm-snapshot": ("https://tdm.org/reserved/book", {}, "rights_tdmrep_reserved"),
    "tdm-free": ("https://tdm.org/free/essay", {}, None),
    "tdm-meta": ("https://news.example/p1", {"tdm-reservation": 1}, "rights_tdm_reserved"),
    "tdm-meta-zero": ("https://news.example/p2", {"tdm-reservation": 0}, None),
    "noai-meta": ("https://news.example/p3", {"robots": ["noai", "noindex"]}, "rights_robots_meta"),
    "noindex-only": ("https://news.example/p4", {"robots": ["noindex"]}, None),
    "noimageai-header": ("https://news.example/p5", {"x_robots_tag": "otherbot: noimageai, nofollow"},
                         "rights_x_robots_tag"),
    "optout-domain": ("https://shop.optout.net/item", {}, "rights_optout_domain"),
    "optout-prefix": ("https://open.org/members/alice", {}, "rights_optout_url"),
    "optout-hash": ("https://open.org/blog/other", {"text": HASHED_TEXT}, "rights_optout_hash"),
    "no-url": (None, {}, None),
}


def _sample(root: Path, robots_as_jsonl: bool) -> Path:
    """Write the sample, snapshots and opt-out list under ``root``; returns the pipeline."""
    rows = []
    for i, (doc_id, (url, meta, _)) in enumerate(SAMPLE.items()):
        row = {"id": doc_id, "text": f"Document {i} about bread, rivers and the weather in spring.", **meta}
        rows.append({**row, **({"url": url} if url else {})})
    (root / "crawl.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    if robots_as_jsonl:
        (root / "robots.jsonl").write_text("".join(
            json.dumps({"host": h, "robots": body, "fetched": "2026-11-02T10:00:00Z"}) + "\n"
            for h, body in ROBOTS.items()))
        robots = "robots.jsonl"
    else:
        (root / "robots").mkdir()
        for host, body in ROBOTS.items():
            (root / "robots" / f"{host}.txt").write_text(body)
        robots = "robots"
    (root / "tdmrep.jsonl").write_text("".join(
        json.dumps({"url": f"https://{h}/.well-known/tdmrep.json", "tdmrep": rules, "fetched": "2026-11-03"}) + "\n"
        for h, rules in TDMREP.items()))
    (root / "optout.yaml").write_text(
        "domains: [optout.net]\nurl_prefixes: ['https://open.org/members/']\n"
        f"content_hashes: [{hashlib.sha256(HASHED_TEXT.encode()).hexdigest()}]\n")
    return write_pipeline(root / "p.yaml", name="rights", output="run", input={"paths": ["crawl.jsonl"]},
                          stages=[{"stage": "rights", "robots": robots, "tdmrep": "tdmrep.jsonl",
                                   "optout": ["optout.yaml"], "snapshot_date": "2026-11-01",
                                   "user_agents": ["GPTBot", "CCBot", "Google-Extended", "ClaudeBot", "MyAIBot"],
                                   **({} if robots_as_jsonl else {"mode": "annotate"})}],
                          report={"formats": ["md", "json"]})


def _expected() -> dict[str, str]:
    return {doc_id: reason for doc_id, (_, _, reason) in SAMPLE.items() if reason}


def test_drop_mode_removes_every_opted_out_document_with_its_reason(tmp_path: Path) -> None:
    p = _sample(tmp_path, robots_as_jsonl=True)
    r = thresher("build", str(p), "--quiet", "--workers", "1")
    assert r.returncode == 0, r.stderr[-2000:]
    run = tmp_path / "run"
    kept = {d["id"] for d in read_docs(run)}
    assert kept == set(SAMPLE) - set(_expected())
    excluded = {d["id"]: d["metadata"]["flags"] for d in read_docs(run, "excluded/rights")}
    assert {i: flags[0]["reason"] for i, flags in excluded.items()} == _expected()
    stats = json.loads((run / "stats.json").read_text())
    st = next(s for s in stats["stages"] if s["stage"] == "rights")
    assert st["removed"] == {"rights_robots_txt": 4, "rights_tdmrep_reserved": 1, "rights_tdm_reserved": 1,
                             "rights_robots_meta": 1, "rights_x_robots_tag": 1, "rights_optout_domain": 1,
                             "rights_optout_url": 1, "rights_optout_hash": 1}
    assert st["extra"]["domain:blocked-ai.org:rights_robots_txt"] == 1
    assert st["extra"]["robots_snapshot:2026-11-02"] == 8  # documents of hosts with a robots.txt snapshot
    eu = (run / "report" / "eu_training_summary.md").read_text()
    sec = eu.split("### 3.1", 1)[1].split("### 3.2", 1)[0]
    assert "`rights` (filter): 17 documents checked; removed per mechanism:" in sec
    assert "robots.txt (AI user agents) `rights_robots_txt` 4" in sec
    assert "opt-out list (content hash) `rights_optout_hash` 1" in sec
    assert "news.example (3)" in sec and "open.org (3)" in sec
    assert "robots snapshot fetched 2026-11-02" in sec and "tdmrep snapshot fetched 2026-11-03" in sec
    md = (run / "report" / "report.md").read_text().split("## Rights reservations", 1)[1].split("\n## ", 1)[0]
    assert "| robots.txt (AI user agents) | rights_robots_txt | 4 |" in md.replace("`", "")
    assert "| news.example | 3 |" in md
    facts = json.loads((run / "report" / "report.json").read_text())
    assert facts["rights"]["stages"][0]["by_mechanism"]["rights_robots_txt"] == 4


def test_annotate_mode_keeps_every_document_and_flags_the_opted_out(tmp_path: Path) -> None:
    p = _sample(tmp_path, robots_as_jsonl=False)
    r = thresher("build", str(p), "--quiet", "--workers", "1")
    assert r.returncode == 0, r.stderr[-2000:]
    docs = read_docs(tmp_path / "run")
    assert {d["id"] for d in docs} == set(SAMPLE)
    flagged = {d["id"]: d["metadata"]["flags"][0]["reason"] for d in docs if d["metadata"].get("flags")}
    assert flagged == _expected()
    eu = (tmp_path / "run" / "report" / "eu_training_summary.md").read_text()
    assert "`rights` (annotate): 17 documents checked; flagged per mechanism:" in eu
    assert "robots snapshot fetched 2026-11-01" in eu  # a folder snapshot takes snapshot_date


@pytest.mark.parametrize("bad, message", [
    ({"robots": "nowhere/robots.jsonl"}, "robots snapshot"),
    ({"optout": ["nowhere.yaml"]}, "nowhere.yaml"),
])
def test_a_missing_snapshot_or_list_is_one_line_exit_2(tmp_path: Path, bad: dict, message: str) -> None:
    (tmp_path / "in.jsonl").write_text('{"id": "a", "text": "t", "url": "https://a.org/"}\n')
    p = write_pipeline(tmp_path / "p.yaml", name="bad", output="run", input={"paths": ["in.jsonl"]},
                       stages=[{"stage": "rights", **bad}])
    r = thresher("build", str(p), "--quiet")
    assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_a_crawl_through_extract_and_rights_honours_meta_tags_headers_and_robots(tmp_path: Path) -> None:
    """WARC -> extract -> rights: the reader's X-Robots-Tag, extract's robots meta and TDMRep meta tag, and
    a robots.txt snapshot each reserve one page; a plain page stays."""
    pages = {  # url -> (extra <head>, response headers, expected reason)
        "https://press.example/a": ('<meta name="tdm-reservation" content="1">', [], "rights_tdm_reserved"),
        "https://press.example/b": ('<meta name="robots" content="noai">', [], "rights_robots_meta"),
        "https://press.example/c": ("", [("X-Robots-Tag", "noai, noimageai")], "rights_x_robots_tag"),
        "https://shop.example/d": ("", [], "rights_robots_txt"),
        "https://press.example/e": ('<meta name="tdm-reservation" content="0">', [], None),
    }
    w = Warc(gzip=True)
    for url, (head, headers, _) in pages.items():
        w.response(url, article(url.rsplit("/", 1)[1].upper(), url, extra_head=head).encode(), headers=headers)
    w.save(tmp_path / "crawl.warc.gz")
    (tmp_path / "robots.jsonl").write_text(json.dumps({"url": "https://shop.example/robots.txt",
                                                       "robots": "User-agent: Google-Extended\nDisallow: /\n",
                                                       "fetched": "2025-03-01"}) + "\n")
    p = write_pipeline(tmp_path / "p.yaml", name="web", input={"paths": ["crawl.warc.gz"]}, output="out", workers=1,
                       stages=[{"stage": "extract", "backend": "resiliparse"},
                               {"stage": "rights", "robots": "robots.jsonl"}])
    r = thresher("build", str(p), "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert [d["metadata"]["url"] for d in read_docs(tmp_path / "out")] == ["https://press.example/e"]
    excluded = {d["metadata"]["url"]: d["metadata"]["flags"][-1]["reason"]
                for d in read_docs(tmp_path / "out", "excluded/rights")}
    assert excluded == {url: reason for url, (_, _, reason) in pages.items() if reason}


def test_tdmrep_locations_and_header_forms() -> None:
    from corpus.stages.rights import directives, tdmrep_rule

    rules = [{"location": "/*", "tdm-reservation": 0}, {"location": "/books/*", "tdm-reservation": 1},
             {"location": "/books/free.html$", "tdm-reservation": 0}]
    assert tdmrep_rule(rules, "/books/x")["tdm-reservation"] == 1  # the longest matching location wins
    assert tdmrep_rule(rules, "/books/free.html")["tdm-reservation"] == 0
    assert tdmrep_rule(rules, "/books/free.html.bak")["tdm-reservation"] == 1  # `$` anchors the end
    assert tdmrep_rule(rules, "/news")["tdm-reservation"] == 0 and tdmrep_rule([], "/") is None
    assert directives(["noindex, NOAI", "bot: noimageai"]) == {"noindex", "noai", "bot:", "noimageai"}
    assert directives(None) == set()


@pytest.mark.parametrize("files, entry, message", [
    ({"robots.jsonl": "not json\n"}, {"robots": "robots.jsonl"}, "robots.jsonl:1: not JSON"),
    ({"robots.jsonl": '{"robots": "User-agent: *"}\n'}, {"robots": "robots.jsonl"}, "needs host (or url) and robots"),
    ({"o.yaml": "hosts: [a.org]\n"}, {"optout": ["o.yaml"]}, "unknown key 'hosts'"),
    ({}, {"user_agents": []}, "user_agents is empty"),
])
def test_a_malformed_snapshot_or_list_is_one_line_exit_2(tmp_path: Path, files: dict, entry: dict,
                                                          message: str) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "in.jsonl").write_text('{"id": "a", "text": "t", "url": "https://a.org/"}\n')
    p = write_pipeline(tmp_path / "p.yaml", name="bad", output="run", input={"paths": ["in.jsonl"]},
                       stages=[{"stage": "rights", **entry}])
    r = thresher("build", str(p), "--quiet")
    assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
