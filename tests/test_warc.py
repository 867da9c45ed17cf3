"""WARC input (issue 20): every record of a crawl is kept, excluded, quarantined or skipped by type,
with the crawl's metadata on each document and the warcinfo in the manifest. Files are self-made
with warcio (tests/warc_fixtures.py)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from conftest import read_docs, thresher, write_pipeline
from warc_fixtures import Warc, article

from corpus.io.warc import read_warc

UMLAUT_TITLE = "Ästhetik am Müritz-Ufer"


def _mixed(gzip: bool) -> Warc:
    """One of each kind of record a crawl holds."""
    w = Warc(gzip=gzip, software="thresher-tests/1.0 (+https://example.org/bot)", robots="obey")
    w.request("https://example.org/bridge")
    w.response("https://example.org/bridge", article("The bridge", "https://example.org/bridge").encode(),
               headers=[("X-Robots-Tag", "noai, noimageai")], date="2025-03-01T10:00:00Z")
    w.response("https://example.org/logo.png", b"\x89PNG\r\n\x1a\n" + bytes(200), content_type="image/png")
    w.response("https://example.org/missing", b"<html><body>Not found</body></html>", status="404 Not Found")
    w.revisit("https://example.org/bridge")
    latin = article(UMLAUT_TITLE, "https://example.org/see", charset="windows-1252", word="Müritz")
    w.response("https://example.org/see", latin.encode("cp1252"), content_type="text/html; charset=windows-1252",
               date="2025-03-04T08:30:00Z")
    rnd = random.Random(7)
    junk = bytes(rnd.randrange(256) for _ in range(3000))
    w.response("https://example.org/junk", junk, content_type="text/html")
    return w


def test_records_by_type_status_and_charset(tmp_path: Path) -> None:
    raws = list(read_warc(str(_mixed(gzip=False).save(tmp_path / "a.warc")), "a.warc", "text", "id"))
    assert [r.skip for r in raws] == ["warcinfo", "request", None, None, None, "revisit", None, None]
    page, png, missing, latin, junk = (raws[i] for i in (2, 3, 4, 6, 7))
    assert page.exclude is None and page.record["x_robots_tag"] == "noai, noimageai"
    assert page.record["url"] == "https://example.org/bridge" and page.record["http_status"] == 200
    assert page.record["fetch_date"] == "2025-03-01T10:00:00Z" and page.record["content_type"] == "text/html"
    assert page.record["id"].startswith("urn:uuid:") and page.record["warc_file"] == "a.warc"
    assert page.record["warc_offset"] > 0 and "<article>" in page.record["text"]
    assert png.exclude == "warc_not_html" and png.record["text"] == ""
    assert missing.exclude == "http_status_404" and missing.record["http_status"] == 404
    assert latin.record["charset"] == "windows-1252" and UMLAUT_TITLE in latin.record["text"]
    assert junk.record is None and junk.error.startswith("undecodable")
    assert "http_status:404" in missing.counts and "warc_type:response" in missing.counts


def test_the_record_offset_finds_the_record_again(tmp_path: Path) -> None:
    """``warc_offset`` is where the record's gzip member starts: lineage down to the byte."""
    from fastwarc.warc import ArchiveIterator

    path = _mixed(gzip=True).save(tmp_path / "a.warc.gz")
    page = next(r for r in read_warc(str(path), "a.warc.gz", "text", "id") if r.record)
    with open(path, "rb") as f:
        f.seek(page.record["warc_offset"])
        rec = next(iter(ArchiveIterator(f)))
    assert rec.headers["WARC-Target-URI"] == page.record["url"]


def test_a_truncated_record_is_quarantined_plain_and_gzip(tmp_path: Path) -> None:
    for gzip, name in ((True, "t.warc.gz"), (False, "t.warc")):
        w = Warc(gzip=gzip)
        w.response("https://example.org/one", article("One", "https://example.org/one").encode())
        w.response("https://example.org/two", article("Two", "https://example.org/two").encode())
        raws = list(read_warc(str(w.save(tmp_path / name, cut=150)), name, "text", "id"))
        assert [r.skip for r in raws] == ["warcinfo", None, None]
        assert raws[1].record is not None
        assert raws[2].record is None and raws[2].error.startswith("truncated WARC record"), name


def test_a_build_accounts_for_every_record(tmp_path: Path) -> None:
    _mixed(gzip=True).save(tmp_path / "crawl-a.warc.gz")
    _mixed(gzip=False).save(tmp_path / "crawl-b.warc")
    cut = Warc()
    cut.response("https://example.org/cut", article("Cut", "https://example.org/cut").encode())
    cut.save(tmp_path / "crawl-c.warc.gz", cut=100)
    p = write_pipeline(tmp_path / "p.yaml", name="web", input={"paths": ["*.warc*"]}, output="out", workers=2,
                       stages=[{"stage": "extract"}])
    r = thresher("build", str(p), "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    run = tmp_path / "out"
    stats = json.loads((run / "stats.json").read_text())
    assert stats["invariant"]["holds"], stats["invariant"]
    assert stats["records_read"] == 8 + 8 + 2
    assert stats["skipped"] == {"request": 2, "revisit": 2, "warcinfo": 3}
    assert stats["quarantined"] == {"undecodable": 2, "warc_truncated": 1}
    reader = next(s for s in stats["stages"] if s["label"] == "read")
    assert reader["removed"] == {"http_status_404": 2, "warc_not_html": 2}
    assert reader["extra"]["warc_type:response"] == 11 and reader["extra"]["http_status:404"] == 2
    assert reader["extra"]["content_type:image/png"] == 2
    assert stats["kept"] == 4
    kept = {d["metadata"]["url"]: d for d in read_docs(run)}
    bridge = kept["https://example.org/bridge"]
    assert bridge["metadata"]["x_robots_tag"] == "noai, noimageai"
    assert "the river Elbe rose" in bridge["text"]
    assert "<p>" not in bridge["text"] and "Subscribe" not in bridge["text"]
    assert "the river Müritz rose" in kept["https://example.org/see"]["text"]
    manifest = json.loads((run / "manifest.json").read_text())
    info = {i["path"]: i.get("warcinfo") for i in manifest["inputs"]}
    assert info["crawl-a.warc.gz"] == [{"software": "thresher-tests/1.0 (+https://example.org/bot)", "robots": "obey"}]
    assert thresher("verify", str(run)).returncode == 0
    r = thresher("report", str(run), "--format", "json")
    assert r.returncode == 0, r.stderr
    crawl = json.loads((run / "report" / "report.json").read_text())["crawl"]
    assert crawl["first_fetch"] == "2025-03-01T10:00:00Z" and crawl["last_fetch"] == "2025-03-04T08:30:00Z"
    assert crawl["software"] == ["thresher-tests/1.0", "thresher-tests/1.0 (+https://example.org/bot)"]
    assert crawl["robots"] == ["obey"]
    assert crawl["by_type"] == {"request": 2, "response": 11, "revisit": 2, "warcinfo": 3}
    assert crawl["by_status"]["404"] == 2 and crawl["by_content_type"]["image/png"] == 2
    eu = (run / "report" / "eu_training_summary.md").read_text()
    assert "2025-03-01T10:00:00Z to 2025-03-04T08:30:00Z" in eu and "`thresher-tests/1.0" in eu
    # 2.3: domains of the crawled documents by content scraped, kept or removed (the 404 pages count too)
    scraped = json.loads((run / "report" / "report.json").read_text())["scraped_domains"]
    assert scraped["measured"] and scraped["documents"] > stats["kept"]
    assert "| example.org |" in eu.split("### 2.3")[1].split("### 2.4")[0]
    assert "Were crawlers used by the provider or on behalf of? Yes: this run read WARC crawl output" in eu
    assert "Latest date of data acquisition/collection for model training: 2025-03 " in eu


def test_a_corrupt_gzip_member_is_one_quarantine_entry_not_a_crash(tmp_path: Path) -> None:
    w = Warc(gzip=True)
    for i in range(3):
        w.response(f"https://example.org/{i}", article(f"Page {i}", f"https://example.org/{i}").encode())
    path = w.save(tmp_path / "c.warc.gz")
    second = [r.record["warc_offset"] for r in read_warc(str(path), "c", "text", "id") if r.record][1]
    data = bytearray(path.read_bytes())
    data[second + 150:second + 190] = bytes(40)
    path.write_bytes(bytes(data))
    raws = list(read_warc(str(path), "c", "text", "id"))
    assert [r.record["url"] for r in raws if r.record] == ["https://example.org/0"]
    assert raws[-1].error.startswith("truncated or corrupt compressed stream after record 2")


def test_a_wet_file_is_text_already(tmp_path: Path) -> None:
    """Common Crawl's WET files: conversion records become documents as they are; extract passes them."""
    from corpus.engine.plan import detect_format
    from corpus.errors import UserError

    w = Warc(gzip=True)
    w.conversion("https://example.org/a", "Plain text the crawler extracted.\nSecond line.")
    path = w.save(tmp_path / "CC-MAIN-0001.warc.wet.gz")
    assert detect_format(path.name) == "warc"
    with pytest.raises(UserError, match="unknown format"):  # FastWARC reads gzip, not zstd
        detect_format("x.warc.zst")
    p = write_pipeline(tmp_path / "p.yaml", name="wet", input={"paths": [path.name]}, output="out", workers=1,
                       stages=[{"stage": "extract"}])
    r = thresher("build", str(p), "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    [doc] = read_docs(tmp_path / "out")
    assert doc["text"] == "Plain text the crawler extracted.\nSecond line."
    assert doc["metadata"]["content_type"] == "text/plain" and doc["metadata"]["url"] == "https://example.org/a"


def test_charset_fallbacks(tmp_path: Path) -> None:
    """A server that declares UTF-8 for a Latin-1 page (10 of html-dev's 400): the page's own <meta
    charset> decodes it; a stray invalid byte in an otherwise UTF-8 page is replaced, not fatal, and
    does not make the page Windows-1252 (which would garble every other non-ASCII character)."""
    w = Warc(gzip=False)
    latin = article("Café", "https://example.org/l", charset="iso-8859-1", word="Müritz").encode("latin-1")
    w.response("https://example.org/l", latin, content_type="text/html; charset=utf-8")
    stray = article("Stray", "https://example.org/s", word="Müritz", paragraphs=12).encode()
    stray = stray.replace(b"day 3", b"day \xe4")
    w.response("https://example.org/s", stray, content_type="text/html; charset=utf-8")
    raws = [r for r in read_warc(str(w.save(tmp_path / "c.warc")), "c.warc", "text", "id") if r.record]
    assert raws[0].record["charset"] == "iso-8859-1" and "the river Müritz" in raws[0].record["text"]
    assert raws[1].record["charset"] == "utf-8 (lossy)" and "day \ufffd" in raws[1].record["text"]
