"""design.md's dependency direction: corpus never imports trainer; the trainer's commands still reach
the one ``thresher`` CLI, through the ``thresher.commands`` entry point."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import thresher

REPO = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_corpus_never_imports_trainer() -> None:
    offenders = {str(p.relative_to(REPO)): sorted(m for m in imported_modules(p) if m.split(".")[0] == "trainer")
                 for p in (REPO / "corpus").rglob("*.py")}
    assert not {k: v for k, v in offenders.items() if v}


def test_trainer_commands_are_part_of_the_cli(tmp_path: Path) -> None:
    r = thresher("--help")
    assert r.returncode == 0 and all(f"    {c} " in r.stdout for c in ("build", "train", "export", "trace"))
    r = thresher("train", str(tmp_path / "missing.yaml"))
    assert r.returncode == 2 and "not found" in r.stderr and "Traceback" not in r.stderr, r.stderr
