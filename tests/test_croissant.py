"""`croissant.json` loads through the real `mlcroissant`: exactly the run's kept records, from paths that
resolve from the JSON's own folder (``report/`` inside the run), and `mlcroissant validate` accepts it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from corpus import config
from corpus.engine import build
from tests.conftest import REPO, write_pipeline

mlc = pytest.importorskip("mlcroissant")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("croissant")
    demo = REPO / "corpus" / "demo" / "data"
    cfg = write_pipeline(root / "p.yaml", name="croissant-demo", output="run", workers=1,
                         input={"paths": [f"{demo}/*.jsonl"]}, stages=[{"stage": "length", "min_words": 5}],
                         writer={"format": "parquet", "shard_size_mb": 0.1}, report={"formats": ["json"]})
    build.run(config.load(cfg), quiet=True)
    return root / "run"


def test_mlcroissant_loads_exactly_the_kept_records(run_dir):
    kept = [i for p in sorted((run_dir / "data").glob("*.parquet")) for i in pq.read_table(p)["id"].to_pylist()]
    assert len(kept) == json.loads((run_dir / "stats.json").read_text())["kept"] > 0
    assert len(list((run_dir / "data").glob("*.parquet"))) > 1  # several shards, each its own record set
    ds = mlc.Dataset(str(run_dir / "report" / "croissant.json"))
    loaded = []
    for rs in ds.metadata.record_sets:
        for rec in ds.records(rs.uuid):
            loaded.append(rec[f"{rs.uuid}/id"].decode())
            meta = json.loads(rec[f"{rs.uuid}/metadata"])  # JSON-encoded text, as declared
            assert isinstance(meta, dict)
    assert sorted(loaded) == sorted(kept) and len(loaded) == len(kept)


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
