"""The audit report, EU summary, dataset card and Croissant file of a demo-like build, and `thresher verify`.

One build over the bundled demo corpus plus documents with planted personal data and every annotation
the report reads (language, scores, dedup cluster sizes, URLs, licences, PII counts), with ``report:``
in the pipeline so that the build writes the report as a user's build would.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import orjson
import pytest
import yaml

from corpus import config
from corpus.commands.build import build
from corpus.engine.manifest import sha256_file
from tests.conftest import REPO, thresher, write_pipeline

# Fake personal data planted in the input: none of it may reach a report file.
EMAIL, PHONE, IBAN, IP = "jane.roe@mailbox-example.test", "+1 202 555 0147", "DE89370400440532013000", "203.0.113.77"
PLANTED = (EMAIL, PHONE, IBAN, IP, "Jane Roe")
REPORT_FILES = ("report.html", "report.md", "report.json", "eu_training_summary.md", "dataset_card.md",
                "croissant.json")
SECTIONS = ("overview", "waterfall", "sources", "languages", "quality", "dedup", "pii", "domains", "licences",
            "lineage")
TITLES = ("Run overview", "Filter waterfall", "Language distribution", "Quality signals", "Deduplication",
          "Personal data (PII)", "Top registered domains", "Licences", "Lineage")


def _planted_docs() -> list[dict]:
    docs = []
    for i in range(40):
        lang = "en" if i < 30 else "de"
        docs.append({
            "id": f"{EMAIL}-{i}",  # an id carrying personal data: the report never prints ids
            "text": f"Letter {i}: please write to Jane Roe at {EMAIL} or call {PHONE}; pay to {IBAN} "
                    f"before the end of the month, as we agreed in the meeting.",
            "url": (f"https://news.bbc.co.uk/people/{EMAIL}/{i}" if i % 2 else f"http://{IP}/page{i}"
                    if i % 5 == 0 else f"https://blog.thresher-test.org/p/{i}"),
            "license": "cc-by-4.0" if i % 3 else "odc-by",
            "language": lang, "language_score": 0.9 if lang == "en" else 0.7,
            "quality_score": i / 40, "dedup_cluster_size": 1 if i < 34 else 3,
            "pii": {"EMAIL_ADDRESS": 1, "PHONE_NUMBER": 1, "IBAN_CODE": 1},
        })
    docs.append({"id": "short", "text": f"{EMAIL} hi", "url": f"http://{IP}/", "pii": {"EMAIL_ADDRESS": 1}})
    return docs


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report")
    with open(root / "planted.jsonl", "wb") as f:
        f.writelines(orjson.dumps(d) + b"\n" for d in _planted_docs())
    demo = REPO / "corpus" / "demo" / "data"
    cfg = write_pipeline(root / "p.yaml", name="report-demo", output="run", workers=1,
                         input={"paths": ["planted.jsonl", f"{demo}/*.jsonl", f"{demo}/*.jsonl.zst",
                                          f"{demo}/*.parquet"]},
                         stages=[{"stage": "normalize"}, {"stage": "length", "min_words": 5}],
                         report={"formats": ["html", "md", "json"]})
    build(config.load(cfg), quiet=True)
    return root / "run"


def _facts(run_dir: Path) -> dict:
    return json.loads((run_dir / "report" / "report.json").read_text())


def test_build_writes_every_report_file_with_every_section(run_dir):
    for name in REPORT_FILES:
        assert (run_dir / "report" / name).stat().st_size > 200, name
    facts = _facts(run_dir)
    assert set(SECTIONS) <= set(facts)
    md = (run_dir / "report" / "report.md").read_text()
    html = (run_dir / "report" / "report.html").read_text()
    for title in TITLES:
        assert f"## {title}" in md and f">{title}</h2>" in html.replace("&amp;", "&"), title
    for key in SECTIONS:
        assert f'<section id="{key}">' in html
    # waterfall, language and PII charts at least, as inline SVG
    for chart in ("Documents remaining after each stage", "Share of kept characters per language",
                  "Findings per entity type"):
        assert re.search(re.escape(chart) + r".*?</figcaption><svg ", html), chart


def test_report_numbers_come_from_the_run(run_dir):
    facts = _facts(run_dir)
    stats = json.loads((run_dir / "stats.json").read_text())
    o, w = facts["overview"], facts["waterfall"]
    assert (o["records_read"], o["documents_kept"]) == (stats["records_read"], stats["kept"])
    # per-source waterfall balances with the ledger: every record is somewhere
    assert sum(s["records_read"] for s in w["per_source"]) == stats["records_read"]
    assert sum(s["documents_kept"] for s in w["per_source"]) == stats["kept"]
    planted = next(s for s in w["per_source"] if s["source"] == "planted.jsonl")
    assert (planted["records_read"], planted["documents_kept"]) == (41, 40)
    assert planted["reasons"] == [{"stage": "length", "reason": "too_few_words", "documents": 1}]
    langs = {r["language"]: r["documents"] for r in facts["languages"]["rows"]}
    assert langs == {"en": 30, "de": 10}
    assert facts["quality"]["signals"]["quality_score"]["documents"] == 40
    assert [(c["size_low"], c["documents"], c["clusters"]) for c in facts["dedup"]["clusters"]] == [(1, 34, 34),
                                                                                                   (3, 6, 2)]
    domains = {r["domain"]: r["documents"] for r in facts["domains"]["rows"]}
    assert domains["bbc.co.uk"] == 20 and domains["thresher-test.org"] == 16 and domains["(no registered domain)"] == 4
    kept_pii = {r["entity"]: (r["count"], r["per_1000_documents"]) for r in facts["pii"]["kept_findings"]}
    kept = o["documents_kept"]
    assert kept_pii["EMAIL_ADDRESS"] == (40, round(40_000 / kept, 3))
    licences = {r["licence"]: r["documents"] for r in facts["licences"]["rows"]}
    assert (licences["cc-by-4.0"], licences["odc-by"]) == (26, 14)  # the demo corpus brings others
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert facts["lineage"]["merkle_root"] == manifest["merkle_root"]


def test_no_planted_personal_data_in_any_report_file(run_dir):
    demo_text = b"".join(p.read_bytes() for p in (REPO / "corpus" / "demo" / "data").glob("*.jsonl"))
    demo_emails = set(re.findall(rb"[\w.+-]+@[\w-]+\.[\w.-]+", demo_text))
    assert demo_emails, "the demo corpus plants e-mail addresses"
    for name in REPORT_FILES:
        data = (run_dir / "report" / name).read_bytes()
        for value in PLANTED:
            assert value.encode() not in data, (name, value)
        for email in demo_emails:
            assert email not in data, (name, email)


def test_eu_summary_dataset_card_and_croissant(run_dir):
    eu = (run_dir / "report" / "eu_training_summary.md").read_text()
    headings = re.findall(r"^## (.+)$", eu, re.M)
    assert headings == ["1. General information", "2. List of data sources", "3. Data processing aspects"]
    assert "pseudonymisation measures, not anonymisation" in eu
    assert "TO BE COMPLETED BY THE PROVIDER" in eu
    # 2.3 lists crawled sources only: these inputs carry URLs but were not read from a crawl (no fetch date)
    assert not _facts(run_dir)["scraped_domains"]["measured"]
    assert not any(f'| {r["domain"]} |' in eu for r in _facts(run_dir)["domains"]["rows"])
    assert "no document of this run was read from a crawl" in eu
    assert "Version of the Summary:" in eu and "Last update:" in eu and "C(2025) 5235" in eu

    card = (run_dir / "report" / "dataset_card.md").read_text()
    header = yaml.safe_load(card.split("---\n")[1])
    assert header["language"] == ["en", "de"]
    assert header["license"] == ["cc-by-4.0", "odc-by", "other", "unknown"]  # "public-domain" is no Hub id
    assert header["size_categories"] == ["n<1K"] and header["source_datasets"] == ["original"]
    assert "### Personal and Sensitive Information" in card

    cr = json.loads((run_dir / "report" / "croissant.json").read_text())
    manifest = json.loads((run_dir / "manifest.json").read_text())
    files = {d["contentUrl"]: d["sha256"] for d in cr["distribution"] if d["@type"] == "cr:FileObject"}
    assert files == {f'../{o["path"]}': o["sha256"] for o in manifest["outputs"]}  # from report/, the JSON's folder
    assert all(sha256_file(run_dir / "report" / p) == s for p, s in files.items())
    for key in ("rai:dataCollection", "rai:dataPreprocessingProtocol", "rai:personalSensitiveInformation"):
        assert cr[key], key
    assert "http://mlcommons.org/croissant/1.0" in cr["conformsTo"]


def test_html_is_self_contained(run_dir):
    html = (run_dir / "report" / "report.html").read_text()
    assert "<script" not in html and "<link" not in html and "<img" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html)
    assert "default-src 'none'" in html  # the browser itself refuses any external load


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--enable-logging=stderr", "--v=0")


@pytest.mark.skipif(CHROMIUM is None, reason="no browser: chromium is not installed (CI installs it)")
def test_report_opens_in_headless_chromium(run_dir, tmp_path):
    page = (run_dir / "report" / "report.html").as_uri()
    shot = tmp_path / "report.png"
    r = subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                        "--window-size=1280,2400", f"--screenshot={shot}", page],
                       capture_output=True, text=True, timeout=120)
    console = [line for line in r.stderr.splitlines() if ":CONSOLE" in line]
    assert not console, console  # no script errors, no blocked loads, nothing logged by the page
    assert r.returncode == 0, r.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    dom = subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile2'}", "--dump-dom", page],
                         capture_output=True, text=True, timeout=120)
    assert "Filter waterfall" in dom.stdout and dom.stdout.count("<svg") >= 5


def _tokenize_into(run_dir: Path) -> None:
    """Token shards written by the real shard writer, with the tokens manifest fields verify reads."""
    import numpy as np

    from corpus.tokens import ShardWriter

    w = ShardWriter(run_dir / "tokens" / "shard-000", np.uint16)
    for i in range(5):
        w.add(np.arange(i + 3), f"doc-{i}")
    shard = w.close()
    (run_dir / "tokens" / "manifest.json").write_bytes(orjson.dumps(
        {"shards": [shard], "totals": {"tokens": shard["tokens"]}, "vocab_size": 100, "dtype": "uint16"}))


def test_verify_passes_on_a_fresh_run_and_fails_on_tampering(run_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    _tokenize_into(run)
    r = thresher("verify", str(run))
    assert r.returncode == 0, r.stderr
    assert "every hash matches" in r.stdout

    shard = run / json.loads((run / "manifest.json").read_text())["outputs"][0]["path"]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    idx = run / "tokens" / "shard-000.idx"
    idx.write_bytes(idx.read_bytes() + b"\0")
    r = thresher("verify", str(run))
    assert r.returncode == 1
    rel = str(shard.relative_to(run))
    assert f"MISMATCH {rel}: sha256" in r.stderr
    assert "MISMATCH merkle root" in r.stderr and "MISMATCH tokens/shard-000.idx" in r.stderr


def test_model_lineage_report_traces_back_to_the_run(run_dir, tmp_path):
    """The lineage the trainer writes (`trainer.lineage`), read by the exact names it writes (corpus.keys)."""
    from corpus.report import write_model_report
    from trainer import lineage as trainer_lineage

    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    _tokenize_into(run)
    merkle = json.loads((run / "manifest.json").read_text())["merkle_root"]
    tokens_sha = sha256_file(run / "tokens" / "manifest.json")
    lin = trainer_lineage.new("pretrain", tokens_sha, str(run / "tokens"), "ab" * 32, 0, "cd" * 32, 1234, 64)
    trainer_lineage.advance(lin, 10, 80, 40960)
    model = tmp_path / "ckpt" / "step-000010"
    model.mkdir(parents=True)
    trainer_lineage.write(model, lin)
    r = thresher("report", str(model), "--format", "md,json")
    assert r.returncode == 0, r.stderr
    facts = json.loads((model / "report" / "report.json").read_text())
    [link] = facts["corpus_runs"]
    assert (link["run_dir"], link["merkle_root"]) == (str(run.resolve()), merkle)
    assert (link["merkle_root_check"], link["tokens_manifest_check"]) == ("matches", "matches")
    assert "| tokens_consumed | 40,960 |" in (model / "report" / "report.md").read_text()

    # only the trainer's own fields count: a stray key that merely ends in merkle_root is not a record of it
    pretrain = dict(lin)
    lin["corpus_merkle_root"] = "0" * 64
    lin["notes"] = {"merkle_root": merkle}
    trainer_lineage.write(model, lin)
    write_model_report(model, ["json"])
    [link] = json.loads((model / "report" / "report.json").read_text())["corpus_runs"]
    assert link["merkle_root_check"] == f"DIFFERS (lineage: {'0' * 64})"

    # an SFT model trained from that export: its data is a file, the corpus is found through from_pretrained
    trainer_lineage.write(model, pretrain)
    (tmp_path / "sft.jsonl").write_text("{}\n")
    sft = trainer_lineage.new("sft", "ef" * 32, str(tmp_path / "sft.jsonl"), "ab" * 32, 0, "cd" * 32, 1, 64)
    sft["from_pretrained"] = trainer_lineage.source(str(model))
    sft_dir = tmp_path / "sft-export"
    sft_dir.mkdir()
    trainer_lineage.write(sft_dir, sft)
    write_model_report(sft_dir, ["json"])
    [link] = json.loads((sft_dir / "report" / "report.json").read_text())["corpus_runs"]
    assert (link["merkle_root_check"], link["tokens_manifest_check"]) == ("matches", "matches")


def test_unannotated_run_says_not_measured(tmp_path):
    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"id": str(i), "text": f"plain words number {i} here"}) + "\n"
                                               for i in range(5)))
    cfg = write_pipeline(tmp_path / "p.yaml", name="plain", output="run", workers=1, input={"paths": ["in.jsonl"]},
                         stages=[{"stage": "normalize"}])
    build(config.load(cfg), quiet=True)
    r = thresher("report", str(tmp_path / "run"), "--format", "md")
    assert r.returncode == 0, r.stderr
    md = (tmp_path / "run" / "report" / "report.md").read_text()
    assert md.count("Not measured in this run") == 8  # web crawl, rights, languages, quality, dedup, PII, domains, licences
    assert not (tmp_path / "run" / "report" / "report.html").exists()
    assert (tmp_path / "run" / "report" / "eu_training_summary.md").exists()


def test_report_and_verify_user_errors(tmp_path):
    r = thresher("report", str(tmp_path / "missing"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    r = thresher("report", str(tmp_path), "--format", "pdf")
    assert r.returncode == 2 and "--format" in r.stderr
    r = thresher("verify", str(tmp_path))
    assert r.returncode == 2 and "manifest.json" in r.stderr


def test_dataset_card_follows_the_hub_template(run_dir):
    """The card loads with huggingface_hub's DatasetCard, names its "other" licences as the Hub asks, and has
    every heading of the template shipped with huggingface_hub, in the template's order and spelling."""
    import huggingface_hub
    from huggingface_hub import DatasetCard

    card = DatasetCard.load(run_dir / "report" / "dataset_card.md")
    data = card.data.to_dict()
    assert "other" in data["license"]
    assert data["license_name"] == "public-domain" and data["license_link"]
    assert card.data.language == ["en", "de"] and card.data.size_categories == ["n<1K"]
    template = Path(huggingface_hub.__file__).parent / "templates" / "datasetcard_template.md"
    wanted = [h.replace(" [optional]", "") for h in re.findall(r"^(#{2,4} .+)$", template.read_text(), re.M)]
    have = re.findall(r"^(#{2,4} .+)$", card.text, re.M)
    assert [h for h in have if h in wanted] == wanted, set(wanted) - set(have)


# Every question of sections 1 to 3 of the AI Office's template (C(2025) 5235 final, 24 July 2025, Annex),
# listed here apart from the code's table so that a question dropped from the table fails; the wording as the
# published Apertus and SmolLM3 summaries reproduce it (2.3's "on behalf of?" as printed there).
COMMENTS = "Additional comments (optional):"
TEMPLATE_QUESTIONS = {
    "1.1": ["Provider name and contact details", "Authorised representative name and contact details"],
    "1.2": ["Versioned model name(s)", "Model dependencies", "Date of placement of the model on the Union market"],
    "1.3": ["Modality", "Training data size", "Types of content",
            "Latest date of data acquisition/collection for model training",
            "Description of the linguistic characteristics of the overall training data",
            "Other relevant characteristics of the overall training data", COMMENTS],
    "2.1": ["Have you used publicly available datasets to train the model?", "modality(ies)",
            "List of large publicly available datasets", "General description of other publicly available datasets",
            COMMENTS],
    "2.2.1": ["Have you concluded transactional commercial licensing agreement(s)", "modality(ies)", "Description"],
    "2.2.2": ["Have you obtained private datasets from third parties", "modality(ies)",
              "List of publicly known private datasets", "General description of non-publicly known private datasets",
              COMMENTS],
    "2.3": ["Were crawlers used by the provider or on behalf of?", "crawler name(s)/identifier(s)",
            "Purposes of the crawler(s)", "General description of crawler behaviour", "Period of data collection",
            "Comprehensive description of the type of content and online sources crawled",
            "Modality(ies) of the content crawled", "Summary of the most relevant domain names crawled", COMMENTS],
    "2.4": ["Was data from user interactions with the AI model", "Was data collected from user interactions with the "
            "provider's other services or products", "modality(ies)", "Description of the provider's services",
            COMMENTS],
    "2.5": ["Was synthetic AI-generated data created by the provider or on their behalf", "modality(ies)",
            "AI model(s) used to generate the synthetic data", "General description of the synthetic data", COMMENTS],
    "2.6": ["Have data sources other than those described in Sections 2.1 to 2.5 been used", "description", COMMENTS],
    "3.1": ["Are you a Signatory to the Code of Practice", "Describe the measures implemented before model training to "
            "respect reservations of rights from the TDM exception or limitation before and during data collection, "
            "including the opt-out protocols and solutions honoured by the provider or, as applicable, by third "
            "parties from which datasets have been obtained:", COMMENTS],
    "3.2": ["General description of measures taken:"],
    "3.3": ["Other relevant information about data processing (optional):"],
}


def test_eu_summary_asks_every_question_of_the_template(run_dir):
    from corpus.report.eu_summary import QUESTIONS

    eu = (run_dir / "report" / "eu_training_summary.md").read_text()
    assert list(QUESTIONS) == list(TEMPLATE_QUESTIONS)
    for section, wanted in TEMPLATE_QUESTIONS.items():
        table = list(QUESTIONS[section].values())
        assert len(table) == len(wanted), section
        for expect, question in zip(wanted, table, strict=True):
            assert expect.lower() in question.lower(), (section, expect, question)
    asked = []  # (section heading, question) of each list item that is a question of the table, in order
    questions = sorted({q for qs in QUESTIONS.values() for q in qs.values()}, key=len, reverse=True)
    for line in eu.splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip().split(" ")[0]
        elif line.startswith("- "):
            asked += [(heading, q) for q in questions if line[2:] == q or line[2:].startswith(q + " ")][:1]
    # every question once, under its own section heading, in the template's order
    assert asked == [(section, q) for section, qs in QUESTIONS.items() for q in qs.values()]
    # the 2.4 questions are two, not merged; 3.2 names no quality or dedup stage as an illegal-content measure
    assert eu.count("Was data ") >= 2
    part32 = eu.split("### 3.2")[1].split("### 3.3")[0]
    assert "`length`" not in part32 and "`normalize`" not in part32
