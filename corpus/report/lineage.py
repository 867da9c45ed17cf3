"""Report for a trained model: its ``lineage.json`` traced back to the corpus run(s) it was trained on.

A trainer checkpoint or Hugging Face export holds ``lineage.json`` (sha256 of the tokens manifest, of the
tokenizer and of the config, the data-order seed, samples and tokens consumed, the corpus Merkle root).
The corpus run is found from the data paths the lineage names (a run directory, its ``tokens/`` folder
or a manifest inside it; a mixture's folders) or given with ``--run``; the report then says whether the
run's Merkle root and tokens-manifest hash are the ones the model recorded. Fields are read by the names
the trainer writes (`corpus.keys`), in the model's own lineage and in that of each export it started
from (``from_pretrained``: a DPO model's SFT model, whose pretraining data is the corpus).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from corpus import keys, rundir
from corpus.errors import UserError
from corpus.io.atomic import read_json
from corpus.report.blocks import Para, Section, Table, fmt_int, fmt_num
from corpus.report.facts import tokens_total
from corpus.rundir import RunDir


def is_model_dir(path: Path) -> bool:
    return (path / keys.LINEAGE_FILE).is_file() and not rundir.is_run(path)


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Leaves of nested dicts and lists under dotted keys (``mixture.0.path``): the model table's rows."""
    if isinstance(tree, dict):
        items = tree.items()
    elif isinstance(tree, list):
        items = ((str(i), v) for i, v in enumerate(tree))
    else:
        return {prefix.rstrip("."): tree}
    out: dict[str, Any] = {}
    for k, v in items:
        out.update(flatten(v, f"{prefix}{k}."))
    return out


def _chain(lineage: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The model's lineage, then that of the export it started from, and so on."""
    while isinstance(lineage, dict):
        yield lineage
        lineage = (lineage.get(keys.FROM_PRETRAINED) or {}).get(keys.SOURCE_LINEAGE)


def _sources(lineage: dict[str, Any]) -> list[dict[str, Any]]:
    """One lineage's data sources as ``{path, merkle_root}``: its mixture's, else its single source."""
    mixture = lineage.get(keys.MIXTURE) or []
    if mixture:
        return [{"path": m.get(keys.MIX_PATH), "merkle_root": m.get(keys.CORPUS_MERKLE_ROOT)} for m in mixture]
    return [{"path": lineage.get(keys.DATA), "merkle_root": lineage.get(keys.CORPUS_MERKLE_ROOT)}]


def recorded(lineage: dict[str, Any]) -> dict[str, list[str]]:
    """What the lineage chain recorded of its corpora: data ``paths``, ``merkle_roots``, ``tokens_manifests``
    (sha256 of a single source's tokens manifest)."""
    out: dict[str, list[str]] = {"paths": [], "merkle_roots": [], "tokens_manifests": []}
    for lin in _chain(lineage):
        for src in _sources(lin):
            out["paths"] += [src["path"]] if isinstance(src["path"], str) else []
            out["merkle_roots"] += [src["merkle_root"]] if isinstance(src["merkle_root"], str) else []
        sha = lin.get(keys.TOKENS_MANIFEST_SHA256)
        out["tokens_manifests"] += [sha] if isinstance(sha, str) else []
    return out


def _run_of(path: Path) -> Path | None:
    """The finished corpus run holding ``path`` (the run itself, its tokens folder, val split or a manifest)."""
    p = path.parent if path.is_file() else path
    for q in (p, p.parent, p.parent.parent):
        if rundir.is_run(q) and rundir.is_finished(q):
            return q.resolve()
    return None


def find_runs(model_dir: Path, paths: list[str]) -> list[Path]:
    runs: list[Path] = []
    for value in paths:
        if not value or len(value) > 4096:
            continue
        p = Path(value) if Path(value).is_absolute() else model_dir / value
        if p.exists() and (run := _run_of(p)) and run not in runs:
            runs.append(run)
    return runs


def _sha256(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def _match(recorded: list[str], actual: str | None) -> str:
    if not recorded:
        return f"not recorded in {keys.LINEAGE_FILE}"
    if actual is None:
        return "run has none"
    return "matches" if actual in recorded else f"DIFFERS (lineage: {', '.join(recorded)})"


def link(run_dir: Path, rec: dict[str, list[str]]) -> dict[str, Any]:
    """What the model recorded (`recorded`) against what the run holds now."""
    run = RunDir(run_dir)
    manifest = read_json(run.manifest)
    tokens = read_json(run.tokens_manifest) if run.tokens_manifest.is_file() else None
    stats = read_json(run.stats) if run.stats.is_file() else {}
    report = run.report_html
    return {"run_dir": str(run_dir), "name": manifest.get("name"), "finished": manifest.get("finished"),
            "documents": manifest.get("documents"), "tokens": tokens_total(tokens),
            "records_read": stats.get("records_read"), "merkle_root": manifest.get(keys.MERKLE_ROOT),
            "merkle_root_check": _match(rec["merkle_roots"], manifest.get(keys.MERKLE_ROOT)),
            "tokens_manifest_sha256": _sha256(run.tokens_manifest),
            "tokens_manifest_check": _match(rec["tokens_manifests"], _sha256(run.tokens_manifest)),
            "corpus_report": str(report) if report.is_file() else None}


def build_facts(model_dir: Path, runs: list[Path]) -> dict[str, Any]:
    path = model_dir / keys.LINEAGE_FILE
    if not path.is_file():
        raise UserError(f"{model_dir} holds no {keys.LINEAGE_FILE}: not a Thresher checkpoint or export")
    lineage = read_json(path)
    rec = recorded(lineage)
    runs = [r.resolve() for r in runs] or find_runs(model_dir, rec["paths"])
    for r in runs:
        if not rundir.is_finished(r):
            raise UserError(f"{r} is not a finished Thresher run ({rundir.MANIFEST} missing)")
    return {"schema": "thresher.lineage-report/1", "model_dir": str(model_dir.resolve()), "lineage": lineage,
            "corpus_runs": [link(r, rec) for r in runs]}


def sections(facts: dict[str, Any]) -> list[Section]:
    flat = flatten(facts["lineage"])
    model = Section("model", "Model lineage", [
        Para(f"From {facts['model_dir']}/{keys.LINEAGE_FILE}:"),
        Table(["field", "value"], [[k, fmt_num(v) if isinstance(v, (int, float)) else str(v)] for k, v in flat.items()]),
    ])
    runs = facts["corpus_runs"]
    blocks: list[Any] = []
    if not runs:
        blocks.append(Para(f"No corpus run found from the paths in {keys.LINEAGE_FILE}; name it with --run RUN_DIR.",
                           note=True))
    for r in runs:
        blocks += [
            Para(f"Corpus run {r['name']} at {r['run_dir']} (built {r['finished']})."),
            Table(["item", "value"], [
                ["Merkle root of the data shards", r["merkle_root"]], ["Merkle root check", r["merkle_root_check"]],
                [f"{rundir.TOKENS}/{rundir.TOKENS_MANIFEST} sha256", r["tokens_manifest_sha256"] or "not tokenized"],
                ["tokens manifest check", r["tokens_manifest_check"]],
                ["records read", fmt_int(r["records_read"])], ["documents kept", fmt_int(r["documents"])],
                ["tokens", fmt_int(r["tokens"])],
                ["corpus report", r["corpus_report"] or "none yet: thresher report " + r["run_dir"]]]),
        ]
    blocks.append(Para("The run's own hashes are checked by `thresher verify RUN_DIR`."))
    return [model, Section("corpus", "Corpus runs", blocks)]
