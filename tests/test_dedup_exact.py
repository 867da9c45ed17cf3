"""``dedup_exact``: the first occurrence in input order stays, across files and tasks, by text or field."""

from __future__ import annotations

from pathlib import Path

import orjson
from conftest import read_docs, thresher, write_pipeline
from dedup_corpus import prose_text, word_slices


def _run(tmp_path: Path, name: str, files: dict[str, list[dict]], workers: int = 1, **stage) -> Path:
    for fname, docs in files.items():
        (tmp_path / fname).write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs))
    write_pipeline(tmp_path / f"{name}.yaml", name=name, input={"paths": sorted(files), "task_size_mb": 0.05},
                   output=name, workers=workers, stages=[{"stage": "dedup_exact", **stage}])
    r = thresher("build", f"{name}.yaml", "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    return tmp_path / name


def test_normalised_text_keeps_first_occurrence_across_tasks(tmp_path: Path) -> None:
    texts = word_slices(prose_text(), 120, 300)
    first = [{"id": f"a{i}", "text": t} for i, t in enumerate(texts)]
    # case and whitespace variants of every 10th text, later in the input (another file, other tasks)
    variants = [{"id": f"v{i}", "text": "  " + texts[i].upper().replace(" ", " \n\t ") + " "} for i in range(0, 300, 10)]
    punct = [{"id": "p0", "text": texts[1].replace(",", "").replace(".", " .")}]
    run = _run(tmp_path, "text", {"1.jsonl": first, "2.jsonl": variants + punct}, workers=2)
    kept = {d["id"] for d in read_docs(run)}
    assert kept == {d["id"] for d in first} | {"p0"}  # punctuation differs: kept without strip_punctuation
    removed = read_docs(run, "excluded/dedup_exact")
    assert sorted(d["id"] for d in removed) == sorted(d["id"] for d in variants)
    assert all(d["metadata"]["flags"] == [{"stage": "dedup_exact", "reason": "exact_duplicate"}] for d in removed)
    stats = orjson.loads((run / "stats.json").read_bytes())
    assert stats["invariant"]["holds"] and stats["tasks"] > 1
    ph = stats["stages"][1]["phases"]["duplicates"]
    assert (ph["keys"], ph["repeats"], ph["keys_with_repeats"]) == (331, 30, 30)

    run = _run(tmp_path, "punct", {"1.jsonl": first, "2.jsonl": punct}, strip_punctuation=True)
    assert [d["id"] for d in read_docs(run, "excluded/dedup_exact")] == ["p0"]


def test_metadata_key_and_missing_field(tmp_path: Path) -> None:
    docs = [{"id": "1", "text": "one", "url": "https://a.example/x"},
            {"id": "2", "text": "two", "url": "https://b.example/y"},
            {"id": "3", "text": "three", "url": "https://a.example/x"},
            {"id": "4", "text": "four"},
            {"id": "5", "text": "five"},
            {"id": "6", "text": "one", "url": "https://c.example/z"}]
    run = _run(tmp_path, "url", {"in.jsonl": docs}, key="metadata.url", mode="annotate")
    out = read_docs(run)
    assert [d["id"] for d in out] == ["1", "2", "3", "4", "5", "6"]  # annotate keeps everyone
    assert [d["id"] for d in out if d["metadata"].get("flags")] == ["3"]
    st = orjson.loads((run / "stats.json").read_bytes())["stages"][1]
    assert st["flagged"] == {"exact_duplicate": 1} and st["extra"]["missing_key"] == 2


def test_bad_key_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text('{"id": "a", "text": "x"}\n')
    write_pipeline(tmp_path / "p.yaml", name="bad", input={"paths": ["in.jsonl"]}, output="out",
                   stages=[{"stage": "dedup_exact", "key": "url"}])
    r = thresher("validate", "p.yaml", cwd=tmp_path)
    assert r.returncode == 2 and "metadata.<field>" in r.stderr, r.stderr


def test_against_an_earlier_build(tmp_path: Path) -> None:
    """A new build drops what an earlier release already holds, and its own repeats, and nothing else."""
    texts = word_slices(prose_text(), 60, 200)
    old = _run(tmp_path, "old", {"old.jsonl": [{"id": f"o{i}", "text": t} for i, t in enumerate(texts[:100])]})
    assert (old / "dedup_exact" / "params.json").is_file()  # kept for later builds
    new_docs = ([{"id": f"again{i}", "text": texts[i].upper()} for i in range(0, 100, 5)]  # in the old build
                + [{"id": f"n{i}", "text": texts[i]} for i in range(100, 200)]
                + [{"id": f"dup{i}", "text": texts[i]} for i in range(100, 110)])  # repeats within the new build
    new = _run(tmp_path, "new", {"new.jsonl": new_docs}, workers=2, against=[str(old)])
    assert sorted(d["id"] for d in read_docs(new)) == sorted(f"n{i}" for i in range(100, 200))
    removed = sorted(d["id"] for d in read_docs(new, "excluded/dedup_exact"))
    assert removed == sorted([f"again{i}" for i in range(0, 100, 5)] + [f"dup{i}" for i in range(100, 110)])
    ph = orjson.loads((new / "stats.json").read_bytes())["stages"][1]["phases"]["duplicates"]
    assert (ph["keys"], ph["against_keys"], ph["repeats"]) == (130, 100, 30)

    write_pipeline(tmp_path / "other.yaml", name="other", input={"paths": ["new.jsonl"]}, output="other",
                   stages=[{"stage": "dedup_exact", "lowercase": False, "against": [str(old)]}])
    r = thresher("validate", "other.yaml", cwd=tmp_path)
    assert r.returncode == 2 and "lowercase" in r.stderr and "Traceback" not in r.stderr, r.stderr
    write_pipeline(tmp_path / "nowhere.yaml", name="nowhere", input={"paths": ["new.jsonl"]}, output="x",
                   stages=[{"stage": "dedup_exact", "against": ["nowhere"]}])
    r = thresher("validate", "nowhere.yaml", cwd=tmp_path)
    assert r.returncode == 2 and "against: nowhere" in r.stderr, r.stderr
