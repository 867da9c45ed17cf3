"""A wheel (non-editable) install carries the rules: every stage reads its thresholds from rules/. Its
dependencies are the data side's; torch comes with the ``train`` extra (``thresher[train]``), which
``make setup`` installs."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parents[1]


def test_every_rules_file_is_listed_for_the_wheel() -> None:
    data_files = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["data-files"]
    listed = {f"share/thresher/{p.relative_to(REPO).as_posix()}"
              for target, globs in data_files.items() for g in globs for p in REPO.glob(g)
              if target == f"share/thresher/{p.parent.relative_to(REPO).as_posix()}"}
    on_disk = {f"share/thresher/{p.relative_to(REPO).as_posix()}" for p in (REPO / "rules").rglob("*") if p.is_file()}
    assert on_disk and on_disk == listed, sorted(on_disk ^ listed)


def test_torch_comes_only_with_the_train_extra() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    name = re.compile(r"[A-Za-z0-9_.-]+")
    assert "torch" not in {name.match(d).group() for d in project["dependencies"]}
    assert any(name.match(d).group() == "torch" for d in project["optional-dependencies"]["train"])
    setup = (REPO / "Makefile").read_text()
    assert re.search(r"install -q -e \"\.\[[a-z,]*\btrain\b[a-z,]*\]\"", setup), "make setup installs .[train]"


def test_a_wheel_install_finds_its_rules(tmp_path: Path) -> None:
    src = tmp_path / "src"  # a copy: an in-tree build would leave build/ in the checkout
    for name in ("corpus", "trainer", "rules"):
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(tmp_path / "dist"), str(src)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    wheel = next((tmp_path / "dist").glob("thresher-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.endswith(".data/data/share/thresher/rules/pii/default.yaml") for n in names)
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    torch_lines = [ln for ln in metadata.splitlines() if ln.startswith("Requires-Dist: torch")]
    assert torch_lines and all("extra == \"train\"" in ln for ln in torch_lines), torch_lines
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
                        "--no-deps", "-q", str(wheel)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    # the installed package, with this environment's dependencies behind it (no .pth: not the editable copy)
    deps = next(p for p in sys.path if p.endswith("site-packages"))
    code = (f"import sys; sys.path.append({deps!r}); from corpus import rules; "
            "print(rules.rules_dir()); print(rules.load('pii/default.yaml')['ner']['screen'])")
    r = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, timeout=120,
                       cwd=tmp_path, env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    where, screen = r.stdout.split()
    assert Path(where) == venv / "share" / "thresher" / "rules"
    assert screen == "pii/ner_screen.yaml" and (Path(where) / screen).is_file()
