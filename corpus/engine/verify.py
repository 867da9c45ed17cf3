"""``thresher verify``: recompute every hash a run recorded and say which ones no longer match.

Checked: every data shard in ``manifest.json`` (``outputs``: size and sha256); every other file it lists
(``files``); that the run holds no file the manifest does not list (``data/``, ``excluded/``,
``quarantine/``, stage folders alike); the Merkle root over the data shards as they are now; every input
that still exists where the run read it; and, when the run was tokenized, every token shard's ``.bin``,
``.idx`` and ``.ids`` sha256 in ``tokens/manifest.json`` (and ``tokens/val/``); that the quarantine's
entries add up to ``stats.json``'s ``quarantined_total``; after ``thresher forget``, that each earlier manifest
kept under ``history/`` has the hash its successor recorded and ``erasures.jsonl`` leads from root to root. Inputs that moved or were deleted are listed as not checked, not as failures: the
corpus is the output, and its hashes are what lineage refers to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corpus.engine.manifest import leaf, merkle_root, sha256_file, sha256_tree
from corpus.errors import UserError
from corpus.io.atomic import read_json
from corpus.rights.forget import chain_problems
from corpus.rundir import DATA, NOT_HASHED, QUARANTINE, TOKENS, TOKENS_MANIFEST, TOKENS_VAL, RunDir

TOKEN_FILES = ("bin", "idx", "ids")


@dataclass
class Verification:
    checked: int = 0
    bytes: int = 0
    problems: list[str] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)
    merkle_root: str | None = None
    hashes: dict[Path, str] = field(default_factory=dict)  # a file listed twice (files, tokens) is read once

    @property
    def ok(self) -> bool:
        return not self.problems


def _check_file(v: Verification, path: Path, name: str, sha: str | None, size: int | None = None) -> str | None:
    """Compare one file with its recorded hash (and size); returns its actual sha256, or None if missing."""
    if not path.is_file():
        v.problems.append(f"{name}: missing")
        return None
    key = path.resolve()
    if key not in v.hashes:
        v.hashes[key] = sha256_file(path)
        v.checked += 1
        v.bytes += path.stat().st_size
    actual = v.hashes[key]
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        v.problems.append(f"{name}: size {actual_size} bytes, manifest says {size}")
    if actual != sha:
        v.problems.append(f"{name}: sha256 {actual}, manifest says {sha}")
    return actual


def _input_locations(run_dir: Path, manifest: dict[str, Any]) -> dict[str, Path]:
    """Where each input (by its manifest name) was read from: the run's task plan knows the full paths."""
    locations: dict[str, Path] = {}
    state = RunDir(run_dir).run_state
    if state.is_file():
        for task in read_json(state).get("tasks", []):
            for sl in task.get("slices", []):
                locations.setdefault(sl["file"], Path(sl["path"]))
    output = str((manifest.get("config") or {}).get("output", ""))
    parts = Path(output).parts
    if output and not Path(output).is_absolute() and run_dir.parts[-len(parts):] == parts:
        base = Path(*run_dir.parts[: -len(parts)]) if len(parts) < len(run_dir.parts) else Path("/")
        for i in manifest.get("inputs", []):
            locations.setdefault(i["path"], base / i["path"])
    return locations


def _inputs(v: Verification, run_dir: Path, manifest: dict[str, Any]) -> None:
    where = _input_locations(run_dir, manifest)
    for i in manifest.get("inputs", []):
        name = f"input {i['path']}"
        path = where.get(i["path"]) or Path(i["path"])
        if i.get("sha256") is None:
            v.not_checked.append(f"{name}: not hashed at build time ({i.get('note', 'remote')})")
        elif path.is_file():
            _check_file(v, path, name, i["sha256"], i.get("size"))
        elif path.is_dir():
            v.checked += 1
            actual = sha256_tree(path)
            if actual != i["sha256"]:
                v.problems.append(f"{name}: tree sha256 {actual}, manifest says {i['sha256']}")
        else:
            v.not_checked.append(f"{name}: no longer at {path}")


def _outputs(v: Verification, run_dir: Path, manifest: dict[str, Any]) -> None:
    leaves = []
    for o in manifest.get("outputs", []):
        actual = _check_file(v, run_dir / o["path"], o["path"], o["sha256"], o.get("size"))
        leaves.append(leaf(o["path"], actual or "00" * 32))
    if sum(o.get("docs", 0) for o in manifest.get("outputs", [])) != manifest.get("documents"):
        v.problems.append("manifest: documents != sum of the shards' documents")
    v.merkle_root = merkle_root(leaves)
    if v.merkle_root != manifest.get("merkle_root"):
        v.problems.append(f"merkle root {v.merkle_root}, manifest says {manifest.get('merkle_root')}")
    for f in manifest.get("files", []):
        _check_file(v, run_dir / f["path"], f["path"], f["sha256"], f.get("size"))


def _unlisted(v: Verification, run_dir: Path, manifest: dict[str, Any]) -> None:
    """Every file the build wrote is one the manifest lists (``outputs`` or ``files``), in every folder
    alike: a shard added to ``data/``, ``excluded/`` or ``quarantine/`` later is not part of the run.
    ``tokens/`` is checked against its own manifest (``thresher tokenize`` writes it after the build)."""
    listed = {f["path"] for key in ("outputs", "files") for f in manifest.get(key, [])}
    for p in sorted(run_dir.rglob("*")):
        rel = p.relative_to(run_dir)
        if rel.parts[0] in (*NOT_HASHED, TOKENS) or p.name.startswith(".") or not p.is_file():
            continue
        if str(rel) not in listed:
            kind = {DATA: "data shard", QUARANTINE: "quarantine file"}.get(rel.parts[0], "file")
            v.problems.append(f"{rel}: {kind} not listed in the manifest")


def _quarantine(v: Verification, run_dir: Path, manifest: dict[str, Any]) -> None:
    """The quarantine's entries add up to ``stats.json``'s ``quarantined_total`` (a deleted or emptied quarantine loses records silently otherwise)."""
    folder = RunDir(run_dir).quarantine
    entries = 0
    for p in sorted(folder.iterdir()) if folder.is_dir() else []:
        if p.name.startswith(".") or not p.is_file():
            continue
        with open(p, "rb") as f:
            entries += sum(1 for line in f if line.strip())
    stats = RunDir(run_dir).stats
    if stats.is_file():
        expected = read_json(stats).get("quarantined_total")
        if expected is not None and entries != expected:
            v.problems.append(f"{QUARANTINE}/: {entries} entries, stats.json counts {expected} quarantined records")


def _tokens(v: Verification, run_dir: Path, tokens_dir: Path) -> None:
    path = tokens_dir / TOKENS_MANIFEST
    if not path.is_file():
        return
    for shard in read_json(path).get("shards", []):
        for ext in TOKEN_FILES:
            sha = (shard.get("sha256") or {}).get(ext)
            name = str((tokens_dir / f"{shard['name']}.{ext}").relative_to(run_dir))
            if sha is None:
                v.problems.append(f"{name}: no sha256 in {path.name}")
            else:
                _check_file(v, tokens_dir / f"{shard['name']}.{ext}", name, sha)


def verify_run(run_dir: Path) -> Verification:
    """Recompute every recorded hash of ``run_dir``; the result lists each mismatch."""
    run = RunDir(run_dir)
    path = run.manifest
    if not path.is_file():
        raise UserError(f"{run_dir} holds no manifest.json: not a finished Thresher run")
    manifest = read_json(path)
    v = Verification()
    _outputs(v, run_dir, manifest)
    _unlisted(v, run_dir, manifest)
    _quarantine(v, run_dir, manifest)
    _inputs(v, run_dir, manifest)
    _tokens(v, run_dir, run.tokens)
    _tokens(v, run_dir, run.tokens / TOKENS_VAL)
    v.problems += chain_problems(run_dir, manifest)
    return v
