"""Build the demo corpus: real public-domain speeches, made deliberately messy.

Sources (see README.md beside this file): US presidential inaugural and State of the Union
addresses (public domain, via NLTK data), a few dozen non-English sentences from the Leipzig
corpora (via lingua-py's test data, Apache-2.0 repository), and fake personal data made with Faker.

The mess is what a real crawl has: exact and near duplicates, boilerplate pages, other languages,
personal data, malformed and undecodable lines, empty and missing text, in four input formats.
Run: ``python -m corpus.demo.make_sample SHARED_DATA_DIR`` (output is deterministic).
"""

from __future__ import annotations

import gzip
import json
import random
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

OUT = Path(__file__).resolve().parent / "data"
LANGS = ("de", "fr", "es", "it", "nl", "pt")
DOMAINS = ("presidency.ucsb.edu", "millercenter.org", "archives.gov", "speeches.example.org")
BOILERPLATE = (
    "Home | About | Contact | Privacy Policy\nWe use cookies to improve your experience. By using this site "
    "you accept our cookie policy.\nJavascript must be enabled to view this page.\n{n} items in your cart",
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit. Page {n} of 40.\nClick here to subscribe!\n"
    "Click here to subscribe!\nClick here to subscribe!",
    "Terms of use\nAll rights reserved {n}\nShare on Facebook\nShare on Twitter\nShare by email\nPrint",
)


def chunks(text: str, rng: random.Random) -> list[str]:
    """Split a speech into documents of a few paragraphs (about 1-3 KB)."""
    paras = [p.strip() for p in text.replace("\r", "").split("\n") if p.strip()]
    docs, cur = [], []
    target = rng.randint(1000, 3000)
    for p in paras:
        cur.append(p)
        if sum(len(c) for c in cur) >= target:
            docs.append("\n\n".join(cur))
            cur, target = [], rng.randint(1000, 3000)
    if cur:
        docs.append("\n\n".join(cur))
    return docs


def near_duplicate(text: str, rng: random.Random, rate: float = 0.04) -> str:
    """An edited copy: a few words dropped or swapped, as a re-published page would be."""
    words = text.split(" ")
    out = []
    for w in words:
        r = rng.random()
        if r < rate / 2:
            continue
        out.append(w.upper() if r < rate else w)
    return "Transcript. " + " ".join(out)


def pii_sentence(fake, rng: random.Random) -> str:
    choices = [
        lambda: f"For questions write to {fake.name()} at {fake.email()}.",
        lambda: f"Call our office on {fake.phone_number()} or visit {fake.address().replace(chr(10), ', ')}.",
        lambda: f"Donations were paid with card {fake.credit_card_number()} by {fake.name()}.",
        lambda: f"Wire transfers go to IBAN {fake.iban()}; contact {fake.email()}.",
        lambda: f"The record of {fake.name()} (SSN {fake.ssn()}) was accessed from {fake.ipv4_public()}.",
    ]
    return rng.choice(choices)()


def build(shared: Path) -> None:
    from faker import Faker

    rng = random.Random(1789)
    Faker.seed(1789)
    fake = Faker("en_US")
    speeches = sorted((shared / "prose" / "inaugural").glob("*.txt"))[::2] + \
        sorted((shared / "prose" / "state_union").glob("*.txt"))[::3]
    docs: list[dict] = []
    for path in speeches:
        text = path.read_text(encoding="utf-8", errors="replace")
        for i, chunk in enumerate(chunks(text, rng)):
            docs.append({"id": f"{path.stem}-{i:03d}", "text": chunk, "url":
                         f"https://{rng.choice(DOMAINS)}/speeches/{path.stem.lower()}/{i}",
                         "license": "public-domain", "date": path.stem[:4]})
    base = list(docs)
    for d in rng.sample(base, 25):  # exact duplicates, some with extra whitespace
        docs.append({**d, "id": d["id"] + "-copy", "text": d["text"] if rng.random() < 0.5 else d["text"] + "  \n"})
    for d in rng.sample(base, 30):  # near duplicates
        docs.append({**d, "id": d["id"] + "-edit", "text": near_duplicate(d["text"], rng)})
    for n in range(24):  # boilerplate pages
        docs.append({"id": f"boilerplate-{n:02d}", "text": BOILERPLATE[n % 3].format(n=n),
                     "url": f"https://shop.example.com/page/{n}", "license": "unknown"})
    for d in rng.sample(base, 60):  # personal data planted in real text
        sentences = d["text"].split(". ")
        sentences.insert(rng.randrange(len(sentences)), pii_sentence(fake, rng))
        d["text"] = ". ".join(sentences)
    lines = [json.loads(s) for s in (shared / "langid-dev" / "sentences.jsonl").open(encoding="utf-8")]
    for lang in LANGS:  # a few documents in other languages (a few dozen sentences in all)
        sents = [x["text"] for x in lines if x["lang"] == lang][:6]
        for k in range(2):
            docs.append({"id": f"{lang}-{k}", "text": " ".join(sents[k * 3:(k + 1) * 3]),
                         "url": f"https://news.example.{lang}/{k}", "license": "CC-BY-4.0"})
    rng.shuffle(docs)
    write(docs, rng)


def write(docs: list[dict], rng: random.Random) -> None:
    (OUT / "notes").mkdir(parents=True, exist_ok=True)
    for old in [*OUT.glob("*"), *(OUT / "notes").glob("*")]:  # what this script writes; web/ is make_warc's
        if old.is_file():
            old.unlink()
    n = len(docs)
    parts = [docs[: n // 4], docs[n // 4: n // 2], docs[n // 2: 3 * n // 4], docs[3 * n // 4: -5]]
    enc = [json.dumps(d, ensure_ascii=False).encode() for d in parts[0]]
    bad = [b'{"id": "broken-1", "text": "an unterminated record', b"{not json at all}",
           b'{"id": "latin1", "text": "caf\xe9 cr\xe8me"}', b'{"id": "no-text", "body": "misnamed field"}',
           b'{"id": "empty", "text": ""}', b'{"id": "number", "text": 42}', b'["a", "list"]']
    for b in bad:
        enc.insert(rng.randrange(len(enc)), b)
    (OUT / "web-crawl.jsonl").write_bytes(b"\n".join(enc) + b"\n")
    with gzip.GzipFile(OUT / "archive-a.jsonl.gz", "wb", mtime=0) as f:
        f.write(b"".join(json.dumps(d, ensure_ascii=False).encode() + b"\n" for d in parts[1]))
    raw = b"".join(json.dumps(d, ensure_ascii=False).encode() + b"\n" for d in parts[2])
    (OUT / "archive-b.jsonl.zst").write_bytes(zstandard.ZstdCompressor(level=10).compress(raw))
    cols = {k: [d.get(k) for d in parts[3]] for k in ("id", "text", "url", "license", "date")}
    pq.write_table(pa.table(cols), OUT / "archive-c.parquet", row_group_size=100)
    for d in docs[-5:]:
        (OUT / "notes" / f"{d['id']}.txt").write_text(d["text"] + "\n", encoding="utf-8")


if __name__ == "__main__":
    # The source folder is named by the caller: the repository never reaches outside itself on its own.
    src = Path(sys.argv[1]) if len(sys.argv) == 2 else None
    if src is None or not (src / "prose").is_dir() or not (src / "langid-dev").is_dir():
        sys.exit("usage: python -m corpus.demo.make_sample DATA_DIR  (a folder holding prose/ and langid-dev/)")
    build(src)
