"""``dedup_minhash`` on real near-duplicates: edited copies of public-domain speeches at known Jaccard.

The contract checked here is the issue's: pairs at J >= 0.85 end in one cluster (recall >= 0.95),
every merged document has a real near-duplicate (J >= 0.5) in its cluster (``verify`` is the
default; an adversarial corpus shows plain LSH breaking this), the earliest
document represents its cluster, and the output is the same byte for byte across worker counts and
across SIGKILL + rerun.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import orjson
import pytest
from conftest import read_docs, thresher, tree_bytes, write_pipeline
from dedup_corpus import edited_copy, prose_text, unresembled, word_slices
from testdata import sentences_by_language

from corpus.stages.dedup.shingles import jaccard, shingle_set, shingles

TARGETS = [1.0, 0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.45]
COPIES_PER_TARGET = 20


def _write_jsonl(path: Path, docs: list[dict]) -> None:
    path.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    """500 speech slices of 300 words plus 160 edited copies; copies are spread through the input,
    some before their original, across two files and several tasks."""
    root = tmp_path_factory.mktemp("minhash")
    rng = np.random.default_rng(7)
    base = word_slices(prose_text(), 300, 500)
    docs = [{"id": f"b{i}", "text": t} for i, t in enumerate(base)]
    pairs = []  # (original id, copy id, exact jaccard)
    for k, target in enumerate(TARGETS * COPIES_PER_TARGET):
        text, j = edited_copy(base[k], target, rng)
        docs.append({"id": f"c{k}", "text": text})
        pairs.append((f"b{k}", f"c{k}", j))
    docs = [docs[i] for i in rng.permutation(len(docs))]
    _write_jsonl(root / "a.jsonl", docs[: len(docs) // 2])
    _write_jsonl(root / "b.jsonl", docs[len(docs) // 2:])
    texts = {d["id"]: d["text"] for d in docs}
    order = {d["id"]: i for i, d in enumerate(docs)}
    return {"root": root, "pairs": pairs, "texts": texts, "order": order}


def _pipeline(root: Path, name: str, workers: int = 1, **stage) -> str:
    write_pipeline(root / f"{name}.yaml", name=name, input={"paths": ["a.jsonl", "b.jsonl"], "task_size_mb": 0.25},
                   output=name, workers=workers, stages=[{"stage": "dedup_minhash", **stage}])
    return f"{name}.yaml"


def _build(root: Path, pipeline: str, *extra: str) -> None:
    r = thresher("build", pipeline, "--quiet", *extra, cwd=root)
    assert r.returncode == 0, r.stderr


def _all_docs(run: Path, label: str = "dedup_minhash") -> list[dict]:
    return read_docs(run) + read_docs(run, f"excluded/{label}")


@pytest.fixture(scope="module")
def reference(corpus: dict) -> Path:
    root = corpus["root"]
    _build(root, _pipeline(root, "ref"))
    return root / "ref"


def _clusters(docs: list[dict]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for d in docs:
        out[d["metadata"]["dedup_cluster"]].append(d["id"])
    return out


def test_recall_precision_and_representatives(corpus: dict, reference: Path) -> None:
    docs = _all_docs(reference)
    assert sorted(d["id"] for d in docs) == sorted(corpus["texts"])  # nothing lost, nothing doubled
    cluster_of = {d["id"]: d["metadata"]["dedup_cluster"] for d in docs}
    close = [(a, b) for a, b, j in corpus["pairs"] if j >= 0.85]
    assert len(close) >= 60
    recall = sum(cluster_of[a] == cluster_of[b] for a, b in close) / len(close)
    assert recall >= 0.95, recall

    sets = {i: shingle_set(shingles(t, 5)) for i, t in corpus["texts"].items()}
    clusters = _clusters(docs)
    merged, lonely = unresembled(clusters.values(), sets)
    assert merged and not lonely

    order = corpus["order"]
    for rep, members in clusters.items():
        assert rep == min(members, key=order.get)  # the earliest document in input order represents
        for d in members:
            assert next(x for x in docs if x["id"] == d)["metadata"]["dedup_cluster_size"] == len(members)
    kept = read_docs(reference)
    assert sorted(d["id"] for d in kept) == sorted(clusters)  # filter mode: exactly the representatives stay
    excluded = read_docs(reference, "excluded/dedup_minhash")
    assert all(d["metadata"]["flags"] == [{"stage": "dedup_minhash", "reason": "near_duplicate"}] for d in excluded)


def test_ledger_phases(reference: Path) -> None:
    stats = orjson.loads((reference / "stats.json").read_bytes())
    assert stats["invariant"]["holds"]
    st = next(s for s in stats["stages"] if s["label"] == "dedup_minhash")
    ph = st["phases"]
    assert ph["signatures"]["signatures"] == stats["records_read"]
    assert (ph["signatures"]["bands"], ph["signatures"]["rows"]) == (16, 8)  # optimiser with the rules' weights
    assert ph["candidate_pairs"]["candidate_pairs"] > 0
    removed = st["removed"]["near_duplicate"]
    assert ph["clusters"]["duplicates"] == removed
    assert ph["clusters"]["documents_in_clusters"] - ph["clusters"]["clusters"] == removed
    assert sum(ph["clusters"]["cluster_sizes"].values()) == ph["clusters"]["clusters"]
    for name in ("signatures", "buckets", "candidate_pairs", "clusters"):
        assert ph[name]["peak_rss_mb"], name
    assert not (reference / "dedup_minhash" / "buckets").exists()  # intermediate runs removed at the end


def test_same_output_with_two_workers(corpus: dict, reference: Path) -> None:
    root = corpus["root"]
    _build(root, _pipeline(root, "two", workers=2))
    for sub in ("data", "excluded"):
        assert tree_bytes(root / "two" / sub) == tree_bytes(reference / sub)


def test_sigkill_during_dedup_then_rerun_is_byte_identical(corpus: dict, reference: Path) -> None:
    root = corpus["root"]
    pipeline = _pipeline(root, "killed")
    # the build's own time (stats.json), not the process's: interpreter start-up comes before the
    # dedup folder appears, and counting it would let most waits outlast the build
    duration = orjson.loads((reference / "stats.json").read_bytes())["seconds"]
    rng = random.Random()
    kills, delays = 0, []
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-m", "corpus.cli", "build", pipeline, "--quiet"], cwd=root,
                                start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while proc.poll() is None and not (root / "killed" / "dedup_minhash").exists():
            time.sleep(0.01)
        delays.append(rng.uniform(0, duration * 0.8))
        time.sleep(delays[-1])  # a random moment in the dedup phases
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills  # at least one attempt was really interrupted
    _build(root, pipeline)
    for sub in ("data", "excluded"):
        assert tree_bytes(root / "killed" / sub) == tree_bytes(reference / sub), f"killed after {delays} s"


def test_defaults_merge_no_document_with_nothing_it_resembles(tmp_path: Path) -> None:
    """The precision promise on an adversarial corpus: chains of documents, each an edit of the one
    before at Jaccard just under 0.5 (A~B~C~D, with A and D far apart), hung on originals that have a
    true copy at 0.9. Plain LSH (``verify: false``) makes a few percent of the links candidates and so
    merges documents that resemble no member of their cluster; the defaults merge none of them and
    still join the true copies."""
    rng = np.random.default_rng(11)
    docs, copies = [], []
    for i, text in enumerate(word_slices(prose_text(), 300, 100)):
        copy, _ = edited_copy(text, 0.9, rng)
        docs += [{"id": f"a{i}", "text": text}, {"id": f"a{i}-copy", "text": copy}]
        copies.append((f"a{i}", f"a{i}-copy"))
        link = text
        for k in range(3):
            link, j = edited_copy(link, 0.47, rng)
            assert j < 0.5
            docs.append({"id": f"a{i}-link{k}", "text": link})
    docs = [docs[i] for i in rng.permutation(len(docs))]
    _write_jsonl(tmp_path / "a.jsonl", docs[: len(docs) // 2])
    _write_jsonl(tmp_path / "b.jsonl", docs[len(docs) // 2:])
    sets = {d["id"]: shingle_set(shingles(d["text"], 5)) for d in docs}
    lonely = {}
    for name, stage in (("default", {}), ("plain", {"verify": False})):
        _build(tmp_path, _pipeline(tmp_path, name, **stage))
        clusters = _clusters(_all_docs(tmp_path / name))
        lonely[name] = unresembled(clusters.values(), sets)[1]
        if name == "default":
            cluster_of = {i: rep for rep, members in clusters.items() for i in members}
            assert sum(cluster_of[a] == cluster_of[b] for a, b in copies) >= 0.98 * len(copies)
    assert lonely["plain"], "the corpus is meant to make plain LSH merge dissimilar documents"
    assert lonely["default"] == []


def test_verify_keep_per_cluster_annotate(corpus: dict) -> None:
    """verify drops LSH false positives; annotate keeps everyone; keep_per_cluster 2 flags only the third on."""
    root = corpus["root"]
    _build(root, _pipeline(root, "verified", verify=True, keep_per_cluster=2, mode="annotate"))
    run = root / "verified"
    docs = read_docs(run)
    assert len(docs) == len(corpus["texts"])
    sets = {i: shingle_set(shingles(t, 5)) for i, t in corpus["texts"].items()}
    clusters = _clusters(docs)
    for members in clusters.values():
        for i in members:  # every member is linked by a verified pair: a neighbour at J >= threshold
            assert len(members) == 1 or any(jaccard(sets[i], sets[o]) >= 0.8 for o in members if o != i)
    order = corpus["order"]
    flagged = {d["id"] for d in docs if d["metadata"].get("flags")}
    expect = {i for members in clusters.values() for i in sorted(members, key=order.get)[2:]}
    assert flagged == expect
    st = next(s for s in orjson.loads((run / "stats.json").read_bytes())["stages"] if s["label"] == "dedup_minhash")
    assert st["flagged"].get("near_duplicate", 0) == len(expect) and not st["removed"]
    ph = st["phases"]["candidate_pairs"]
    assert ph["false_positives"] > 0  # the J = 0.6-0.7 copies are candidates that verify rejects
    assert ph["verified_pairs"] + ph["false_positives"] == ph["candidate_pairs"]


def test_dedup_eval_reports_precision_recall_and_png(reference: Path, tmp_path: Path) -> None:
    png = tmp_path / "curve.png"
    r = thresher("dedup-eval", str(reference), "--png", str(png), "--samples", "400")
    assert r.returncode == 0, r.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    figures = orjson.loads(png.with_suffix(".json").read_bytes())
    assert figures["recall"] is not None and figures["recall"] >= 0.9
    assert 0 < figures["precision"] <= 1
    assert "precision" in r.stdout and "recall" in r.stdout
    high = [b for b in figures["s_curve"] if b["jaccard"] == "0.9-1.0"][0]
    assert high["pairs"] and high["observed"] >= 0.95


def test_against_earlier_run_reuses_its_signatures(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    base = word_slices(prose_text(), 300, 240)
    old = [{"id": f"old{i}", "text": t} for i, t in enumerate(base[:120])]
    copies = [{"id": f"new-copy{i}", "text": edited_copy(base[i], 0.9, rng)[0]} for i in range(30)]
    fresh = [{"id": f"new{i}", "text": t} for i, t in enumerate(base[120:])]
    _write_jsonl(tmp_path / "old.jsonl", old)
    _write_jsonl(tmp_path / "new.jsonl", fresh + copies)
    write_pipeline(tmp_path / "old.yaml", name="old", input={"paths": ["old.jsonl"]}, output="run-old",
                   workers=1, stages=[{"stage": "dedup_minhash"}])
    _build(tmp_path, "old.yaml")
    before = tree_bytes(tmp_path / "run-old" / "dedup_minhash")
    write_pipeline(tmp_path / "new.yaml", name="new", input={"paths": ["new.jsonl"]}, output="run-new",
                   workers=1, stages=[{"stage": "dedup_minhash", "against": [str(tmp_path / "run-old")]}])
    _build(tmp_path, "new.yaml")
    kept = {d["id"] for d in read_docs(tmp_path / "run-new")}
    assert kept == {d["id"] for d in fresh}
    excluded = read_docs(tmp_path / "run-new", "excluded/dedup_minhash")
    assert {d["metadata"]["dedup_cluster"] for d in excluded} == {f"old{i}" for i in range(30)}
    assert tree_bytes(tmp_path / "run-old" / "dedup_minhash") == before  # earlier run read, not touched
    sigs = sorted(p.name for p in (tmp_path / "run-new" / "dedup_minhash" / "signatures").glob("*.npy"))
    assert sigs == ["00000.npy"]  # only this run's documents were signed
    ph = orjson.loads((tmp_path / "run-new" / "stats.json").read_bytes())["stages"][1]["phases"]
    assert ph["signatures"]["against_signatures"] == 120

    # verify is the default: an earlier run built without it kept no texts, which is a one-line error
    write_pipeline(tmp_path / "plain.yaml", name="plain", input={"paths": ["old.jsonl"]}, output="run-plain",
                   workers=1, stages=[{"stage": "dedup_minhash", "verify": False}])
    _build(tmp_path, "plain.yaml")
    write_pipeline(tmp_path / "late.yaml", name="late", input={"paths": ["new.jsonl"]}, output="run-late",
                   workers=1, stages=[{"stage": "dedup_minhash", "against": [str(tmp_path / "run-plain")]}])
    r = thresher("validate", "late.yaml", cwd=tmp_path)
    assert r.returncode == 2 and "verify: false" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_character_ngrams_for_text_without_spaces(tmp_path: Path) -> None:
    by_lang = sentences_by_language()
    cjk = by_lang["zh"] + by_lang["ja"]  # 40 real sentences written without spaces
    rng = np.random.default_rng(5)
    # 20 documents of 10 of them each, drawn at random: any two share a few sentences at most
    base = ["".join(rng.choice(cjk, 10, replace=False)) for _ in range(20)]
    copies = [edited_copy(t, 0.9, rng, unit="chars") for t in base[:10]]
    assert all(0.9 <= j < 1 for _, j in copies)  # really edited, not identical
    docs = [{"id": f"z{i}", "text": t} for i, t in enumerate(base + [t for t, _ in copies])]
    _write_jsonl(tmp_path / "zh.jsonl", docs)
    for unit, expected in (("chars", 10), ("words", 0)):
        write_pipeline(tmp_path / f"{unit}.yaml", name=unit, input={"paths": ["zh.jsonl"]}, output=unit, workers=1,
                       stages=[{"stage": "dedup_minhash", "unit": unit}])
        _build(tmp_path, f"{unit}.yaml")
        removed = {d["id"] for d in read_docs(tmp_path / unit, "excluded/dedup_minhash")}
        assert len(removed) == expected, unit
        assert removed <= {f"z{i}" for i in range(20, 30)}


@pytest.mark.parametrize("stage, message", [
    ({"bands": 10}, "give both bands and rows"),
    ({"bands": 20, "rows": 10}, "at most num_perm"),
    ({"unit": "letters"}, "unit must be one of"),
    ({"keep_per_cluster": [{"min_size": 2}]}, "keep_per_cluster"),
    ({"against": ["nowhere"]}, "against: nowhere"),
])
def test_config_mistakes_are_one_line_errors(tmp_path: Path, stage: dict, message: str) -> None:
    (tmp_path / "in.jsonl").write_text('{"id": "a", "text": "x"}\n')
    write_pipeline(tmp_path / "p.yaml", name="bad", input={"paths": ["in.jsonl"]}, output="out",
                   stages=[{"stage": "dedup_minhash", **stage}])
    r = thresher("validate", "p.yaml", cwd=tmp_path)
    assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
