"""design.md's dependency direction, both ways: corpus never imports trainer (the trainer's commands reach
the one ``thresher`` CLI through the ``thresher.commands`` entry point); the trainer imports of corpus
only the base named in `corpus.base_modules`, and the base imports only itself. And the packaging that
rests on it: the data side builds, reports, verifies, trains a tokenizer and tokenizes with torch (and,
where it needs none, transformers) not installed, and a trainer command, or the one stage setting that
runs torch (a transformers NER model), then says which extra to install."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import orjson
import yaml
from conftest import thresher
from testdata import PROSE

from corpus.base_modules import BASE

REPO = Path(__file__).resolve().parents[1]


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    path = REPO.joinpath(*name.split("."))
    return (path / "__init__.py").is_file() or path.with_suffix(".py").is_file()


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at module level or inside a function: ``from a import b`` names
    ``a`` and, when ``b`` is a module of the checkout, ``a.b``; relative imports are made absolute."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names if is_module(f"{base}.{a.name}"))
    return names


def of(package: str, names: set[str]) -> set[str]:
    return {n for n in names if n.split(".")[0] == package}


def test_corpus_never_imports_trainer() -> None:
    offenders = {str(p.relative_to(REPO)): sorted(of("trainer", imported_modules(p)))
                 for p in (REPO / "corpus").rglob("*.py")}
    assert not {k: v for k, v in offenders.items() if v}


def test_the_trainer_imports_only_the_base() -> None:
    """No exception: even ``thresher ablate``, which drives the data side, does so through ``thresher``
    commands in subprocesses, not imports."""
    offenders = {str(p.relative_to(REPO)): sorted(of("corpus", imported_modules(p)) - set(BASE))
                 for p in (REPO / "trainer").rglob("*.py")}
    offenders = {k: v for k, v in offenders.items() if v}
    assert not offenders, f"outside corpus.base_modules.BASE: {offenders}"


def test_the_base_is_closed() -> None:
    """A base module imports only base modules (and third-party packages), so importing one never pulls in
    the pipeline; every package above a base module is in the base too (importing it runs them)."""
    for name in BASE:
        assert is_module(name), f"{name} is named in the base but is not a module"
        assert name.rpartition(".")[0] in ("", *BASE), f"{name}'s package is not in the base"
    offenders = {}
    for name in BASE:
        path = REPO.joinpath(*name.split("."))
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        imports = imported_modules(path)
        if outside := (of("corpus", imports) | of("trainer", imports)) - set(BASE):
            offenders[name] = sorted(outside)
    assert not offenders, offenders


def test_trainer_commands_are_part_of_the_cli(tmp_path: Path) -> None:
    r = thresher("--help")
    assert r.returncode == 0 and all(f"    {c} " in r.stdout for c in ("build", "train", "export", "trace"))
    r = thresher("train", str(tmp_path / "missing.yaml"))
    assert r.returncode == 2 and "not found" in r.stderr and "Traceback" not in r.stderr, r.stderr


# ---- the data side without the training stack


def without(tmp_path: Path, *hidden: str) -> dict[str, str]:
    """An environment in which the packages ``hidden`` are not installed: Python runs with ``-S`` (no
    site-packages) and finds the checkout and a folder of links to every other entry of site-packages
    (their ``.dist-info`` too, so the ``thresher.commands`` entry point is there)."""
    site = Path(sysconfig.get_paths()["purelib"])
    overlay = tmp_path / ("site-without-" + "-".join(hidden))
    overlay.mkdir()
    for entry in site.iterdir():
        top = entry.name.split("-")[0] if entry.name.endswith(".dist-info") else entry.name
        if top not in hidden and not entry.name.endswith(".pth"):
            (overlay / entry.name).symlink_to(entry)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(overlay)])}


def run(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-S", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


def test_the_data_side_runs_without_torch_and_the_trainer_names_its_extra(tmp_path: Path) -> None:
    no_training = without(tmp_path, "torch", "transformers")
    no_torch = without(tmp_path, "torch")
    probe = "import importlib.util as u; print(u.find_spec('torch'), u.find_spec('transformers') is None)"
    assert run(no_training, "-c", probe, cwd=tmp_path).stdout.split() == ["None", "True"]
    assert run(no_torch, "-c", probe, cwd=tmp_path).stdout.split() == ["None", "False"]

    pipeline = tmp_path / "speeches.yaml"
    pipeline.write_text(yaml.safe_dump({
        "name": "speeches", "input": {"paths": [str(PROSE / "inaugural" / "*.txt")]}, "output": "run",
        "stages": [{"stage": "normalize"}, {"stage": "length", "min_words": 50}, {"stage": "dedup_exact"}]}))
    for args in (["build", str(pipeline)], ["report", "run"], ["verify", "run"]):
        r = run(no_training, "-m", "corpus.cli", *args, cwd=tmp_path)
        assert r.returncode == 0, (args, r.stderr[-2000:])
    assert orjson.loads((tmp_path / "run" / "stats.json").read_bytes())["kept"] > 0
    assert (tmp_path / "run" / "report" / "report.html").is_file()

    # tokenizer folders are written through transformers (without torch)
    for args in (["tokenizer", "train", "--input", "run", "--vocab-size", "300", "--output", "tok"],
                 ["tokenize", "run", "--tokenizer", "tok"]):
        r = run(no_torch, "-m", "corpus.cli", *args, cwd=tmp_path)
        assert r.returncode == 0, (args, r.stderr[-2000:])
        assert "PyTorch was not found" not in r.stderr, r.stderr  # transformers' advice is no news here

    # the one data-side stage setting that runs torch says so before any task
    (tmp_path / "ner-model").mkdir()
    pii = tmp_path / "pii.yaml"
    pii.write_text(yaml.safe_dump({
        "name": "pii", "input": {"paths": [str(PROSE / "inaugural" / "*.txt")]}, "output": "pii-run",
        "stages": [{"stage": "pii", "ner": {"backend": "transformers", "model": "ner-model"}}]}))
    for command in ("validate", "build"):
        r = run(no_torch, "-m", "corpus.cli", command, str(pii), cwd=tmp_path)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr[-2000:]
        assert "needs no torch" in r.stderr and "pip install 'thresher[train]'" in r.stderr, r.stderr

    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump({
        "task": "pretrain", "tokenizer": "tok", "data": {"tokens": "run/tokens", "seq_len": 32},
        "model": {"arch": "llama", "hidden_size": 32, "num_layers": 1, "num_heads": 4,
                  "intermediate_size": 64},
        "train": {"steps": 1, "micro_batch_size": 1}, "output": {"dir": "out"}}))
    for env in (no_training, no_torch):
        r = run(env, "-m", "corpus.cli", "train", str(config), cwd=tmp_path)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
        assert r.stderr.count("\n") == 1 and "pip install 'thresher[train]'" in r.stderr, r.stderr
