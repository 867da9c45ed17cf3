"""``thresher contains``: exact copy, edited copy with its Jaccard, unrelated text refused, ``--url``, ``--id``;
the index holds hashes, never the text or the URL, and follows the run's data when it changes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest
from conftest import read_docs, thresher, write_pipeline
from testdata import speech_pieces

from corpus.rights.contains import INDEX_DIR, INDEX_FILE


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("contains")
    records = [{"id": i, "text": t, "url": f"https://speeches.example.org/{i}"}
               for i, t in speech_pieces("inaugural", 3000, files=8)]
    (tmp / "in.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    cfg = write_pipeline(tmp / "p.yaml", name="c", output="run", stages=[{"stage": "normalize"}],
                         input={"paths": [str(tmp / "in.jsonl")]})
    r = thresher("build", str(cfg), "--quiet", cwd=tmp)
    assert r.returncode == 0, r.stderr
    return tmp / "run"


def ask(run: Path, *args: str) -> tuple[int, dict]:
    r = thresher("contains", str(run), *args, "--json")
    assert r.returncode in (0, 1), r.stderr
    return r.returncode, orjson.loads(r.stdout)


def edited(text: str) -> str:
    """``text`` with a sentence added and a few words changed: still a near copy."""
    words = text.split()
    for k in range(0, len(words), 97):
        words[k] = "zebra"
    return " ".join(words) + " And we add one sentence of our own here."


def test_exact_edited_unrelated_url_id(run, tmp_path):
    doc = max(read_docs(run), key=lambda d: len(d["text"]))
    exact = tmp_path / "exact.txt"
    exact.write_text(doc["text"] + "\n")
    assert ask(run, "--text", str(exact)) == (0, {"present": True, "match": "exact", "jaccard": 1.0,
                                                   "doc_id": doc["id"]})

    near = tmp_path / "near.txt"
    near.write_text(edited(doc["text"]))
    code, ans = ask(run, "--text", str(near))
    assert (code, ans["present"], ans["match"], ans["doc_id"]) == (0, True, "near", doc["id"])
    assert 0.8 <= ans["jaccard"] < 1.0

    unrelated = tmp_path / "other.txt"
    unrelated.write_text(speech_pieces("state_union", 3000, files=1)[0][1])
    assert ask(run, "--text", str(unrelated)) == (1, {"present": False, "match": None, "jaccard": None,
                                                       "doc_id": None})

    assert ask(run, "--url", f"https://speeches.example.org/{doc['id']}") == (
        0, {"present": True, "match": "url", "jaccard": None, "doc_id": doc["id"]})
    assert ask(run, "--url", "https://speeches.example.org/nope")[0] == 1
    assert ask(run, "--id", doc["id"])[1]["match"] == "id"
    assert ask(run, "--id", "no-such-id")[0] == 1

    r = thresher("contains", str(run), "--id", doc["id"])  # the plain answer is one line
    assert (r.returncode, r.stdout.strip()) == (0, f"present: id match, document {doc['id']}")


def test_index_holds_hashes_only_and_verify_passes(run):
    thresher("contains", str(run), "--id", "x")
    raw = run.joinpath(*INDEX_DIR, INDEX_FILE).read_bytes()
    with np.load(run.joinpath(*INDEX_DIR, INDEX_FILE)) as z:
        assert len(z["ids"]) == len(read_docs(run))
    for doc in read_docs(run)[:5]:
        assert doc["text"][:40].encode() not in raw and b"speeches.example.org" not in raw
    r = thresher("verify", str(run))
    assert r.returncode == 0, r.stderr


def test_user_mistakes_exit_2(run, tmp_path):
    assert thresher("contains", str(run)).returncode == 2
    assert thresher("contains", str(run), "--id", "a", "--url", "b").returncode == 2
    r = thresher("contains", str(run), "--text", str(tmp_path / "missing.txt"))
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert thresher("contains", str(tmp_path), "--id", "a").returncode == 2
