"""`croissant.json` loads through the real `mlcroissant`: exactly the run's kept records, from paths that
resolve from the JSON's own folder (``report/`` inside the run), for Parquet shards as they are and for the
default ``.jsonl.zst`` shards once decompressed into ``report/jsonl/``; `mlcroissant validate` accepts it."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from corpus.io.writers import list_shards
from corpus.report.croissant import VIEWS, view_name
from tests.conftest import REPO, read_docs, thresher, write_pipeline

mlc = pytest.importorskip("mlcroissant")


def _build(root: Path, fmt: str) -> Path:
    demo = REPO / "corpus" / "demo" / "data"
    cfg = write_pipeline(root / "p.yaml", name="croissant-demo", output="run", workers=1,
                         input={"paths": [f"{demo}/*.jsonl"]}, stages=[{"stage": "length", "min_words": 5}],
                         writer={"format": fmt, "shard_size_mb": 0.1}, report={"formats": ["json"]})
    r = thresher("build", str(cfg), "--quiet", cwd=root)
    assert r.returncode == 0, r.stderr
    return root / "run"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return _build(tmp_path_factory.mktemp("croissant"), "parquet")


def _load(path: Path) -> list[dict]:
    """Every record of every record set, read by mlcroissant, by field name."""
    ds = mlc.Dataset(str(path))
    return [{k.split("/", 1)[1]: v for k, v in rec.items()} for rs in ds.metadata.record_sets for rec in ds.records(rs.uuid)]


def test_mlcroissant_loads_exactly_the_kept_records(run_dir):
    kept = [i for p in sorted((run_dir / "data").glob("*.parquet")) for i in pq.read_table(p)["id"].to_pylist()]
    assert len(kept) == json.loads((run_dir / "stats.json").read_text())["kept"] > 0
    assert len(list((run_dir / "data").glob("*.parquet"))) > 1  # several shards, each its own record set
    loaded = _load(run_dir / "report" / "croissant.json")
    assert all(isinstance(json.loads(r["metadata"]), dict) for r in loaded)  # JSON-encoded text, as declared
    assert sorted(r["id"].decode() for r in loaded) == sorted(kept) and len(loaded) == len(kept)


def test_mlcroissant_loads_the_default_jsonl_zst_run_once_decompressed(tmp_path):
    import zstandard

    run = _build(tmp_path, "jsonl.zst")
    kept = read_docs(run)
    shards = list_shards(run / "data")
    assert len(shards) > 1 and all(p.name.endswith(".jsonl.zst") for p in shards)
    report = run / "report"
    cr = json.loads((report / "croissant.json").read_text())
    assert {d["sha256"] for d in cr["distribution"] if d["@type"] == "cr:FileObject"} == {
        hashlib.sha256(p.read_bytes()).hexdigest() for p in shards}  # the shards themselves stay pinned
    for p in shards:  # what the Croissant file's description asks for: zstd -d into jsonl/ beside it
        target = report / view_name(str(p.relative_to(run)))
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(zstandard.ZstdDecompressor().stream_reader(p.open("rb")).read())
    loaded = _load(report / "croissant.json")
    assert len(loaded) == len(kept)
    assert {r["id"].decode(): (r["text"].decode(), r["source"].decode()) for r in loaded} == {
        d["id"]: (d["text"], d["source"]) for d in kept}
    r = thresher("verify", str(run))
    assert r.returncode == 0, r.stderr  # the decompressed copies are not run outputs
    (tmp_path / "ids.txt").write_text(kept[0]["id"] + "\n")
    assert thresher("forget", str(run), "--ids", str(tmp_path / "ids.txt"), "--reason", "test").returncode == 0
    assert len(list((report / VIEWS).glob("*.jsonl"))) == len(shards) - 1  # the stale copy held the forgotten text


def test_required_properties_and_validation(run_dir):
    path = run_dir / "report" / "croissant.json"
    cr = json.loads(path.read_text())
    for key in ("url", "creator", "datePublished", "license"):
        assert cr[key], key
    assert "https://spdx.org/licenses/CC-BY-4.0.html" in cr["license"]  # the demo's "CC-BY-4.0" documents
    assert all(d["contentUrl"].startswith("../data/") for d in cr["distribution"])
    cli = Path(sys.executable).parent / "mlcroissant"
    proc = subprocess.run([str(cli), "validate", "--jsonld", str(path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "error" not in proc.stderr.lower().replace("0 error", "")
