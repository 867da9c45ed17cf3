"""Report for a trained model: its ``lineage.json`` traced back to the corpus run(s) it was trained on.

A trainer checkpoint or Hugging Face export holds ``lineage.json`` (sha256 of the tokens manifest, of the
tokenizer and of the config, the data-order seed, samples and tokens consumed, the corpus Merkle root).
The corpus run is found from the paths the lineage names (a run directory, its ``tokens/`` folder or a
manifest inside it) or given with ``--run``; the report then says whether the run's Merkle root and
tokens-manifest hash are the ones the model recorded. Field names are matched by suffix so that nested
or prefixed keys (``corpus.merkle_root``) are found too.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from corpus.errors import UserError
from corpus.io.atomic import read_json
from corpus.report.blocks import Para, Section, Table, fmt_int, fmt_num
from corpus.report.facts import tokens_total

LINEAGE = "lineage.json"
MERKLE_SUFFIX = "merkle_root"


def is_model_dir(path: Path) -> bool:
    return (path / LINEAGE).is_file() and not (path / "stats.json").is_file()


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Leaves of nested dicts and lists under dotted keys (``corpus.merkle_root``, ``runs.0.path``)."""
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


def _run_of(path: Path) -> Path | None:
    """The corpus run holding ``path`` (the run itself, its tokens folder, val split or a manifest)."""
    p = path.parent if path.is_file() else path
    for q in (p, p.parent, p.parent.parent):
        m = q / "manifest.json"
        if m.is_file() and MERKLE_SUFFIX in read_json(m):
            return q.resolve()
    return None


def find_runs(model_dir: Path, flat: dict[str, Any]) -> list[Path]:
    runs: list[Path] = []
    for value in flat.values():
        if not isinstance(value, str) or not value or len(value) > 4096:
            continue
        p = Path(value) if Path(value).is_absolute() else model_dir / value
        if p.exists() and (run := _run_of(p)) and run not in runs:
            runs.append(run)
    return runs


def _sha256(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def _match(recorded: list[str], actual: str | None) -> str:
    if not recorded:
        return "not recorded in lineage.json"
    if actual is None:
        return "run has none"
    return "matches" if actual in recorded else f"DIFFERS (lineage: {', '.join(recorded)})"


def link(run_dir: Path, flat: dict[str, Any]) -> dict[str, Any]:
    """What the model recorded against what the run holds now."""
    manifest = read_json(run_dir / "manifest.json")
    tokens_path = run_dir / "tokens" / "manifest.json"
    tokens = read_json(tokens_path) if tokens_path.is_file() else None
    merkles = [v for k, v in flat.items() if k.endswith(MERKLE_SUFFIX) and isinstance(v, str)]
    token_shas = [v for k, v in flat.items() if "token" in k and "manifest" in k and "sha256" in k and isinstance(v, str)]
    stats = read_json(run_dir / "stats.json") if (run_dir / "stats.json").is_file() else {}
    report = run_dir / "report" / "report.html"
    return {"run_dir": str(run_dir), "name": manifest.get("name"), "finished": manifest.get("finished"),
            "documents": manifest.get("documents"), "tokens": tokens_total(tokens),
            "records_read": stats.get("records_read"), "merkle_root": manifest.get("merkle_root"),
            "merkle_root_check": _match(merkles, manifest.get("merkle_root")),
            "tokens_manifest_sha256": _sha256(tokens_path),
            "tokens_manifest_check": _match(token_shas, _sha256(tokens_path)),
            "corpus_report": str(report) if report.is_file() else None}


def build_facts(model_dir: Path, runs: list[Path]) -> dict[str, Any]:
    path = model_dir / LINEAGE
    if not path.is_file():
        raise UserError(f"{model_dir} holds no {LINEAGE}: not a Thresher checkpoint or export")
    lineage = read_json(path)
    flat = flatten(lineage)
    runs = [r.resolve() for r in runs] or find_runs(model_dir, flat)
    for r in runs:
        if not (r / "manifest.json").is_file():
            raise UserError(f"{r} is not a finished Thresher run (manifest.json missing)")
    return {"schema": "thresher.lineage-report/1", "model_dir": str(model_dir.resolve()), "lineage": lineage,
            "corpus_runs": [link(r, flat) for r in runs]}


def sections(facts: dict[str, Any]) -> list[Section]:
    flat = flatten(facts["lineage"])
    model = Section("model", "Model lineage", [
        Para(f"From {facts['model_dir']}/{LINEAGE}:"),
        Table(["field", "value"], [[k, fmt_num(v) if isinstance(v, (int, float)) else str(v)] for k, v in flat.items()]),
    ])
    runs = facts["corpus_runs"]
    blocks: list[Any] = []
    if not runs:
        blocks.append(Para("No corpus run found from the paths in lineage.json; name it with --run RUN_DIR.", note=True))
    for r in runs:
        blocks += [
            Para(f"Corpus run {r['name']} at {r['run_dir']} (built {r['finished']})."),
            Table(["item", "value"], [
                ["Merkle root of the data shards", r["merkle_root"]], ["Merkle root check", r["merkle_root_check"]],
                ["tokens/manifest.json sha256", r["tokens_manifest_sha256"] or "not tokenized"],
                ["tokens manifest check", r["tokens_manifest_check"]],
                ["records read", fmt_int(r["records_read"])], ["documents kept", fmt_int(r["documents"])],
                ["tokens", fmt_int(r["tokens"])],
                ["corpus report", r["corpus_report"] or "none yet: thresher report " + r["run_dir"]]]),
        ]
    blocks.append(Para("The run's own hashes are checked by `thresher verify RUN_DIR`."))
    return [model, Section("corpus", "Corpus runs", blocks)]
