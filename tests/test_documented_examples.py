"""Every documented example runs as shipped: the pipelines in rules/pipelines/, the trainer configs in
docs/trainer-examples/, the writing-a-stage example (its package and pipeline read from the page itself
and installed with pip, so page and test cannot drift), and the policy and required keys the docs state."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest
import trainer_data as td
import yaml
from conftest import REPO, read_docs, thresher

from corpus import config
from corpus.errors import UserError
from corpus.stages import base

DOCS = REPO / "docs"
TRAINER_EXAMPLES = sorted((DOCS / "trainer-examples").glob("*.yaml"))
PIPELINES = sorted((REPO / "rules" / "pipelines").glob("*.yaml"))


def fenced(md_path: Path) -> dict[str, str]:
    """The fenced code blocks of a page that open with a ``# path`` comment, by that path."""
    blocks = re.findall(r"```(?:python|yaml|toml)\n# (\S+)[^\n]*\n(.*?)```", md_path.read_text(encoding="utf-8"), re.S)
    return {path: body for path, body in blocks}


# ---- docs/writing-a-stage.md ------------------------------------------------------------------------

STAGE_PAGE = DOCS / "writing-a-stage.md"
TITLES = ["BREAKING NEWS FROM THE CAPITAL", "BREAKING news Today", "An ordinary first line"]
PACKAGE = "shouting-title"


@pytest.fixture
def installed(tmp_path: Path) -> dict[str, Path]:
    """The page's stage package installed with pip into a folder of its own (``--target``, as a user's
    ``pip install`` puts it beside Thresher), and the page's pipeline with a few inputs."""
    import subprocess

    files = fenced(STAGE_PAGE)
    assert set(files) == {f"{PACKAGE}/pyproject.toml", f"{PACKAGE}/shouting_title/__init__.py",
                          f"{PACKAGE}/shouting_title/titles.yaml", f"{PACKAGE}/tests/test_shouting_title.py",
                          "titles.yaml"}, files
    src, site, work = tmp_path / "src", tmp_path / "site", tmp_path / "work"
    for path, body in files.items():
        target = (work if path == "titles.yaml" else src) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body)
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                        "--no-index", "--target", str(site), str(src / PACKAGE)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    (work / "docs").mkdir()
    lines = [json.dumps({"id": f"t{i}", "text": f"{title}\nThe body of the piece, in plain sentences."})
             for i, title in enumerate(TITLES)]
    (work / "docs" / "news.jsonl").write_text("\n".join(lines) + "\n")
    env = {k: v for k, v in os.environ.items() if k != "THRESHER_RULES"}
    env["PYTHONPATH"] = str(site)  # installed: found through its entry point, not through this checkout
    return {"src": src, "site": site, "work": work, "env": env}


def run_installed(installed: dict[str, Path], *args: str, module: str = "corpus.cli"):
    import subprocess

    return subprocess.run([sys.executable, "-m", module, *args], cwd=installed["work"], env=installed["env"],
                          capture_output=True, text=True, timeout=600)


def test_writing_a_stage_example_runs_end_to_end(installed) -> None:
    r = run_installed(installed, "stages")
    assert r.returncode == 0, r.stderr
    listing = r.stdout[r.stdout.index("shouting_title  [filter]"):]
    assert f"defaults from {installed['site'] / 'shouting_title' / 'titles.yaml'}" in listing
    assert "max_upper_ratio: 0.6" in listing
    r = run_installed(installed, "-p", "no:cacheprovider", "-q", str(installed["src"] / PACKAGE / "tests"),
                      module="pytest")
    assert r.returncode == 0, r.stdout[-2000:]  # the package's own test, through run_stage
    r = run_installed(installed, "build", "titles.yaml", "--quiet", "--workers", "2")  # found by the workers too
    assert r.returncode == 0, r.stderr[-2000:]
    run = installed["work"] / "out" / "titles"
    stats = {s["label"]: s for s in json.loads((run / "stats.json").read_text())["stages"]}
    assert stats["shouting_title"]["removed"] == {"shouting_title": 1}  # all capitals
    assert stats["shouting_strict"]["removed"] == {"shouting_title": 1}  # 9 of 17 letters: only the strict one
    assert stats["shouting_strict"]["docs_out"] == 1
    excluded = {label: [d["id"] for d in read_docs(run, f"excluded/{label}")]
                for label in ("shouting_title", "shouting_strict")}
    assert excluded == {"shouting_title": ["t0"], "shouting_strict": ["t1"]}


def test_a_missing_rules_file_is_one_line_and_the_other_stages_are_listed(installed) -> None:
    (installed["site"] / "shouting_title" / "titles.yaml").unlink()
    r = run_installed(installed, "stages")
    assert r.returncode == 2
    [line] = r.stderr.splitlines()
    assert line.startswith("thresher: error: stage 'shouting_title': rules file not found: ") and "titles.yaml" in line
    listed = re.findall(r"^(\S+)  \[", r.stdout, re.M)
    assert listed == [n for n in base.names() if n != "shouting_title"]  # before and after it
    r = run_installed(installed, "build", "titles.yaml", "--quiet")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "titles.yaml" in r.stderr


# ---- docs/pii.md, docs/pipeline.md ------------------------------------------------------------------

def test_pii_doc_shows_the_shipped_default_policy() -> None:
    shown = yaml.safe_load(fenced(DOCS / "pii.md")["rules/pii/default.yaml"])
    shipped = yaml.safe_load((REPO / "rules" / "pii" / "default.yaml").read_text())
    assert set(shown) == {"default_threshold", "entities", "key_env"}
    assert shown == {k: shipped[k] for k in shown}


def test_pii_doc_example_policy_is_valid(monkeypatch) -> None:
    md = (DOCS / "pii.md").read_text()
    example = yaml.safe_load(re.search(r"for example \(not the default\):\n\n```yaml\n(.*?)```", md, re.S).group(1))
    monkeypatch.setenv("THRESHER_PII_KEY", "a key of sixteen characters or more")
    _, resolved = base.build({"stage": "pii", **example})
    assert resolved["entities"] == example["entities"]


def test_pipeline_doc_marks_exactly_the_required_keys() -> None:
    md = (DOCS / "pipeline.md").read_text()
    block = re.search(r"```yaml\n(.*?)```", md, re.S).group(1)
    marked = set(re.findall(r"^(\w+):.*# required", block, re.M))
    full = yaml.safe_load(block)
    config.parse(full, REPO)  # the reference example itself is valid
    required = set()
    for key in full:
        try:
            config.parse({k: v for k, v in full.items() if k != key}, REPO)
        except UserError as e:
            assert f"missing required key {key!r}" in str(e) or key == "input", e
            required.add(key)
    assert marked == required == {"name", "input", "output", "stages"}


# ---- rules/pipelines/ -------------------------------------------------------------------------------

@pytest.mark.parametrize("pipeline", PIPELINES, ids=[p.stem for p in PIPELINES])
def test_every_shipped_pipeline_builds(pipeline: Path, tmp_path: Path) -> None:
    r = thresher("build", str(pipeline), "--output", str(tmp_path / "run"), "--limit", "60", "--quiet")
    assert r.returncode == 0, r.stderr[-3000:]
    stats = json.loads((tmp_path / "run" / "stats.json").read_text())
    assert stats["invariant"]["holds"] and stats["records_read"] == 60 and stats["kept"] > 0


# ---- docs/trainer-examples/ -------------------------------------------------------------------------

TINY = {"hidden_size": 32, "num_layers": 1, "num_heads": 4, "intermediate_size": 64}


@pytest.fixture(scope="module")
def train_fx(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("examples")
    tok = td.build_tokenizer(root / "tok")
    return {"root": root, "tok": tok, "tokens": td.build_tokens(root, td.documents()[:80], tok)}


def shrunk(example: Path, fx: dict[str, Path], out: Path, pretrained: Path | None) -> dict:
    """The shipped config with what it reads pointed at test data, what it writes under ``out``,
    two steps, and a GPU-sized model cut to a CPU-sized one; every other key as shipped."""
    cfg = yaml.safe_load(example.read_text())
    if cfg.get("task", "pretrain") == "pretrain":
        cfg["tokenizer"], cfg["data"]["tokens"] = str(fx["tok"]), str(fx["tokens"])
    else:
        data = (example.parent / cfg["data"]["path"]).resolve()
        assert data.is_file(), f"{example.name}: data.path {data} is not shipped"
        cfg["data"]["path"] = str(data)
        cfg["tokenizer"] = cfg["model"]["from_pretrained"] = str(pretrained)
    model = cfg.setdefault("model", {})
    if "from_pretrained" not in model and model.get("hidden_size", 0) > 256:
        model.update(TINY)
        cfg["data"]["seq_len"] = min(cfg["data"].get("seq_len", 64), 64)
    cfg["train"] = {**cfg.get("train", {}), "steps": 2, "warmup_steps": 1, "micro_batch_size": 2, "grad_accum": 1}
    cfg["parallel"] = {**cfg.get("parallel", {}), "compile": False}
    cfg["checkpoint"] = {**cfg.get("checkpoint", {}), "dir": str(out / "ckpt"), "every": 1}
    cfg["output"] = {**cfg.get("output", {}), "dir": str(out)}
    if "eval" in cfg:
        cfg["eval"]["every"] = 1
    return cfg


def train(example: Path, fx: dict[str, Path], pretrained: Path | None = None) -> Path:
    out = fx["root"] / example.stem
    out.mkdir()
    (out / "train.yaml").write_text(yaml.safe_dump(shrunk(example, fx, out, pretrained)))
    r = thresher("train", str(out / "train.yaml"), env={"OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, f"{example.name}: {r.stderr[-3000:]}"
    steps = [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines()]
    assert [s["step"] for s in steps if "loss" in s] == [1, 2]
    return out


@pytest.fixture(scope="module")
def demo_model(train_fx) -> Path:
    """What ``sft.yaml`` fine-tunes: the model ``demo.yaml`` exports."""
    return train(DOCS / "trainer-examples" / "demo.yaml", train_fx) / "hf"


@pytest.mark.parametrize("example", TRAINER_EXAMPLES, ids=[p.stem for p in TRAINER_EXAMPLES])
def test_every_trainer_example_trains(example: Path, train_fx, demo_model: Path) -> None:
    if example.stem == "demo":
        assert (demo_model / "config.json").is_file()
        return
    out = train(example, train_fx, demo_model)
    assert (out / "ckpt" / "step-000002").is_dir()
