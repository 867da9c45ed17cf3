"""The pii stage in real builds: planted personal data and secrets never leak out of data/, excluded/
and review/ (nor into the log), counts reach metadata and the ledger, the review sample is private,
and a keyed run is reproducible byte for byte."""

from __future__ import annotations

import secrets
import stat
import string
from pathlib import Path

import orjson
import pytest
import zstandard
from conftest import read_docs, thresher, write_pipeline
from testdata import speech_paths, speech_text

from corpus.stages import base

KEY = "test-key-" + "0123456789abcdef"


def planted_corpus() -> tuple[list[dict], dict[str, list[str]]]:
    """Documents with known values (by kind), mixed with real prose that holds none."""
    from faker import Faker

    fake = Faker("en_US")
    Faker.seed(7)
    rng = secrets.SystemRandom()
    values: dict[str, list[str]] = {k: [] for k in ("name", "email", "phone", "card", "iban", "ssn", "ip", "secret")}
    docs = []
    for i in range(12):
        name, email, phone = fake.name(), fake.free_email(), f"({fake.numerify('###')}) 555-{fake.numerify('####')}"
        card, iban, ip = fake.credit_card_number(card_type="mastercard"), fake.iban(), fake.ipv4_public()
        ssn = fake.ssn()
        key = "AKIA" + "".join(rng.choice(string.ascii_uppercase + "234567") for _ in range(16))
        token = "ghp_" + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(36))
        text = (f"Dear {name},\n\nThank you for your order. We will call you at {phone} and send the invoice "
                f"to {email}. The card {card} was charged; refunds go to IBAN {iban}. "
                f"Our records list SSN {ssn} and a login from {ip}.\n"
                f"Build log: AWS_ACCESS_KEY_ID={key} GITHUB_TOKEN={token}")
        for k, v in zip(values, (name, email, phone, card, iban, ssn, ip), strict=False):
            values[k].append(v)
        values["secret"] += [key, token]
        docs.append({"id": f"p{i}", "text": text})
    # two documents with three SSNs each: over the drop_document limit
    for i in range(2):
        ssns = [fake.ssn() for _ in range(3)]
        values["ssn"] += ssns
        docs.append({"id": f"d{i}", "text": "Payroll export: " + ", ".join(f"employee SSN {s}" for s in ssns)})
    speech = speech_text(speech_paths("inaugural")[0])
    paragraphs = [p for p in speech.split("\n\n") if len(p) > 200][:6]
    docs += [{"id": f"s{i}", "text": p} for i, p in enumerate(paragraphs)]
    return docs, values


def pipeline(tmp: Path, docs: list[dict], out: str, workers: int) -> Path:
    (tmp / "in.jsonl").write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs))
    entities = dict(base.param_defaults(base.get("pii"))["entities"])
    entities |= {"EMAIL_ADDRESS": {"action": "pseudonymize"}, "CREDIT_CARD": "hash",
                 "US_SSN": {"action": "drop_document", "max_count": 2}}
    return write_pipeline(tmp / f"{out}.yaml", name="pii", input={"paths": ["in.jsonl"]}, output=out,
                          workers=workers, stages=[{"stage": "pii", "entities": entities, "review_sample": 4}])


def readable_files(run: Path):
    """Every file of the run outside data/, excluded/ and review/, decompressed where needed."""
    for p in sorted(run.rglob("*")):
        rel = p.relative_to(run).parts
        if not p.is_file() or rel[0] in ("data", "excluded", "review"):
            continue
        data = p.read_bytes()
        if p.name.endswith(".zst"):
            data = zstandard.ZstdDecompressor().stream_reader(data).read()
        yield p, data


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pii_build")
    docs, values = planted_corpus()
    env = {"THRESHER_PII_KEY": KEY}
    runs = {}
    for out, workers in (("run1", 2), ("run2", 1)):
        r = thresher("build", str(pipeline(tmp, docs, out, workers)), cwd=tmp, env=env)
        assert r.returncode == 0, r.stderr
        runs[out] = (tmp / out, r.stdout + r.stderr)
    return runs, docs, values


def all_values(values: dict[str, list[str]]) -> list[str]:
    return [v for vs in values.values() for v in vs]


def test_no_value_outside_data_excluded_review_nor_in_the_log(built) -> None:
    runs, _, values = built
    for run, log in runs.values():
        files = list(readable_files(run))
        assert any(p.name == "stats.json" for p, _ in files) and any(p.name == "config.yaml" for p, _ in files)
        for v in all_values(values):
            assert v not in log
            for p, data in files:
                assert v.encode() not in data, f"a planted value leaked into {p.relative_to(run)}"


def test_kept_documents_are_scrubbed(built) -> None:
    runs, _, values = built
    kept = read_docs(runs["run1"][0])
    text = "\n".join(d["text"] for d in kept)
    for kind in ("email", "phone", "card", "iban", "ssn", "ip", "secret"):
        for v in values[kind]:
            assert v not in text, kind
    missed = [n for n in values["name"] if n in text]
    assert len(missed) <= 1, missed  # the model may miss a rare name; 12 planted
    assert "<PHONE_NUMBER>" in text and "<AWS_ACCESS_KEY>" in text and "<GITHUB_TOKEN>" in text
    assert "<CREDIT_CARD:" in text and "@example." in text  # hashed and pseudonymized


def test_counts_in_metadata_and_ledger(built) -> None:
    runs, docs, _ = built
    run = runs["run1"][0]
    kept = {d["id"]: d for d in read_docs(run)}
    assert set(kept) == {d["id"] for d in docs} - {"d0", "d1"}
    p0 = kept["p0"]["metadata"]["pii"]
    assert p0["EMAIL_ADDRESS"] == 1 and p0["CREDIT_CARD"] == 1 and p0["US_SSN"] == 1 and p0["PERSON"] >= 1
    assert all(isinstance(n, int) for n in p0.values())
    stage = orjson.loads((run / "stats.json").read_bytes())
    st = next(s for s in _stage_entries(stage) if s.get("removed", {}).get("pii_drop_document"))
    assert st["removed"] == {"pii_drop_document": 2}
    extra = st["extra"]
    assert extra["pii.EMAIL_ADDRESS.pseudonymize"] == 12 and extra["pii.CREDIT_CARD.hash"] == 12
    assert extra["pii.US_SSN.redact"] == 12 and extra["pii.US_SSN.drop_document"] == 6
    assert extra["pii.AWS_ACCESS_KEY.redact"] == 12 and extra["pii.GITHUB_TOKEN.redact"] == 12
    chars = sum(len(d["text"]) for d in docs)
    assert 0 < extra["pii.chars_analyzed_by_ner"] < chars  # the NER screen passed the letters, not the prose
    dropped = read_docs(run, "excluded")
    assert sorted(d["id"] for d in dropped) == ["d0", "d1"]
    assert all({"stage": "pii", "reason": "pii_drop_document"} in d["metadata"]["flags"] for d in dropped)


def _stage_entries(node):
    """Every mapping in stats.json that looks like one stage's ledger entry."""
    if isinstance(node, dict):
        if "removed" in node and "extra" in node:
            yield node
        for v in node.values():
            yield from _stage_entries(v)
    elif isinstance(node, list):
        for v in node:
            yield from _stage_entries(v)


def test_review_sample_is_private_and_marked(built) -> None:
    run = built[0]["run1"][0]
    review = run / "review" / "pii"
    assert stat.S_IMODE(review.stat().st_mode) == 0o700
    files = [p for p in review.rglob("*") if p.is_file()]
    assert files and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)
    assert "CONTAINS PERSONAL DATA" in (review / "README.txt").read_text()
    sample = [orjson.loads(line) for line in (review / "sample.jsonl").read_bytes().splitlines()]
    strata = {}
    for item in sample:
        strata[item["stratum"]] = strata.get(item["stratum"], 0) + 1
        if "span" in item:
            a, b = item["span"]
            assert 0 <= a < b <= len(item["snippet"])
    assert strata.get("unflagged") == 4 and strata.get("EMAIL_ADDRESS") == 4 and max(strata.values()) == 4


def test_keyed_run_is_reproducible(built) -> None:
    runs, _, _ = built
    texts = [sorted(d["text"] for d in read_docs(runs[r][0])) for r in ("run1", "run2")]
    assert texts[0] == texts[1]  # 2 workers vs 1: the same surrogates and hashes
    samples = [(runs[r][0] / "review" / "pii" / "sample.jsonl").read_bytes() for r in ("run1", "run2")]
    assert samples[0] == samples[1]


def test_missing_key_is_one_line_user_error(tmp_path: Path) -> None:
    docs, _ = planted_corpus()
    r = thresher("build", str(pipeline(tmp_path, docs[:2], "out", 1)), cwd=tmp_path, env={"THRESHER_PII_KEY": ""})
    assert r.returncode == 2 and "THRESHER_PII_KEY" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_report_lists_findings_apart_from_screening_counters(built) -> None:
    runs, _, _ = built
    run = runs["run1"][0]
    r = thresher("report", str(run), "--format", "md,json")
    assert r.returncode == 0, r.stderr
    facts = orjson.loads((run / "report" / "report.json").read_bytes())["pii"]
    assert {f["entity"] for f in facts["findings"]} >= {"EMAIL_ADDRESS", "PERSON"}
    assert all(f["action"] and f["entity"].isupper() for f in facts["findings"])
    screening = next(iter(facts["screening"].values()))
    assert screening["docs_with_pii"] >= 14 and screening["chars_analyzed_by_ner"] > 0
    assert "chars analyzed by ner" in (run / "report" / "report.md").read_text()
    # EU summary 3.3: the findings by action and the documents holding them, not "none"
    eu = (run / "report" / "eu_training_summary.md").read_text()
    stage = next(iter(facts["screening"]))
    line = next(x for x in eu.splitlines() if x.startswith(f"- PII handling by `{stage}`"))
    for action in {f["action"] for f in facts["findings"]}:
        n = sum(f["count"] for f in facts["findings"] if f["action"] == action)
        assert f"{n:,} {action}" in line, (line, action)
    assert f'in {screening["docs_with_pii"]:,} documents' in line
