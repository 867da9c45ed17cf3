"""The stage API (issue 14 item 2): contexts carry the task index and the run's folders, each instance
says whether it needs a global pass, the base class guarantees ``setup()``, pipeline-position rules
fail before any task, stages are found by ``@register``, ``@base.register`` and the ``thresher.stages``
entry point group, ``run_stage`` runs a stage like a build, and counts do not depend on the workers."""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path

from conftest import thresher, write_pipeline
from tokenizer_fixtures import trained_tokenizer  # noqa: F401

from corpus.document import Document
from corpus.engine.buildplan import cut_passes
from corpus.rundir import RunDir
from corpus.stages import base
from corpus.stages.testing import run_stage


@dataclass
class _CountingParams:
    word: str = "x"


class _NeedsSetup(base.Filter):
    """A filter whose ``decide`` would fail without its ``setup``; counts how often ``setup`` ran."""

    name = "test_needs_setup"
    Params = _CountingParams
    setups = 0

    def setup(self) -> None:
        type(self).setups += 1
        self._word = self.p.word

    def decide(self, doc: Document) -> str | None:
        return "has_word" if self._word in doc.text.split() else None


def test_the_base_class_runs_setup_once_before_the_first_decision() -> None:
    stage = _NeedsSetup(_CountingParams("spam"))
    _NeedsSetup.setups = 0
    assert stage.decide(Document("1", "spam here", "t")) == "has_word"  # no setup() called by the caller
    assert list(stage.process([Document("2", "ham", "t")], None)) and _NeedsSetup.setups == 1
    other = _NeedsSetup(_CountingParams())
    other.setup()  # a caller that sets up itself is not set up twice
    other.decide(Document("3", "x", "t"))
    assert _NeedsSetup.setups == 2


def test_no_stage_guards_against_a_skipped_setup() -> None:
    root = Path(base.__file__).parent
    guarded = [str(p.relative_to(root)) for p in root.rglob("*.py") if "hasattr(self" in p.read_text()]
    assert not guarded


def test_each_instance_says_whether_it_needs_a_global_pass(tmp_path: Path) -> None:
    model = tmp_path / "q.bin"
    model.write_bytes(b"")  # never loaded: the plan does not set stages up
    fixed, _ = base.build({"stage": "quality_classifier", "model": str(model), "min_score": 0.5})
    top, _ = base.build({"stage": "quality_classifier", "model": str(model), "top_fraction": 0.5})
    length, _ = base.build({"stage": "length"})
    assert not fixed.needs_global() and top.needs_global() and not length.needs_global()
    assert len(cut_passes([length, fixed])) == 1
    cuts = cut_passes([length, top, length])
    assert [(c.first, c.end, c.scan, c.read_from) for c in cuts] == [(0, 1, 1, None), (1, 3, None, "quality_classifier")]


def test_tokenize_not_last_fails_before_any_task(tmp_path: Path, trained_tokenizer: Path) -> None:  # noqa: F811
    (tmp_path / "in.jsonl").write_text(json.dumps({"id": "a", "text": "some words here"}) + "\n")
    p = write_pipeline(tmp_path / "p.yaml", name="t", input={"paths": ["in.jsonl"]}, output="out", workers=1,
                       stages=[{"stage": "tokenize", "tokenizer": str(trained_tokenizer)}, {"stage": "length"}])
    for args in (("build", str(p), "--quiet"), ("validate", str(p))):
        r = thresher(*args, cwd=tmp_path)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert "must be the last stage" in r.stderr
    assert not (tmp_path / "out").exists()  # no run started: no .state/, no pass markers


def _registered_by_ast(source: str) -> list[str]:
    """What `base.registered_names` must find, read from the parsed module: the ``name = "..."`` of each
    module-level class decorated ``@register`` or ``@<module>.register``."""
    def is_register(d: ast.expr) -> bool:
        return (isinstance(d, ast.Name) and d.id == "register") or (isinstance(d, ast.Attribute) and d.attr == "register")

    return [stmt.value.value for node in ast.parse(source).body
            if isinstance(node, ast.ClassDef) and any(map(is_register, node.decorator_list))
            for stmt in node.body if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant)
            and any(isinstance(t, ast.Name) and t.id == "name" for t in stmt.targets)]


def test_register_is_recognised_written_either_way() -> None:
    source = ('@dataclass\n@register\nclass A(Stage):\n\n    """Doc."""\n    name = "a"  # the name\n\n'
              '    def f(self):\n        name = "local"\n\n\nname = "module"\n\n\n@base.register\nclass B(\n'
              '    Filter,\n):\n    name = \'b\'\n\n\n@other\nclass C(Stage):\n    name = "c"\n')
    assert base.registered_names(source) == _registered_by_ast(source) == ["a", "b"]
    assert "test_fault" not in base.names()  # a test module's stage is not part of the package


def test_the_stage_scan_agrees_with_the_parsed_sources() -> None:
    """Every module of the package: the cheap scan a build runs finds what parsing the module finds."""
    root = Path(base.__file__).parent
    for path in sorted(root.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        assert base.registered_names(source) == _registered_by_ast(source), path
    assert len(base.names()) >= 16 and base.get("extract").name == "extract"


def test_run_stage_runs_a_global_stage_with_its_scan_and_reduce() -> None:
    docs = [Document("a", "Same text here.", "t"), Document("b", "same   TEXT here.", "t"), Document("c", "other", "t")]
    out = run_stage({"stage": "dedup_exact"}, docs)
    assert [d.id for d in out.kept] == ["a", "c"]
    assert [(d.id, reason) for d, reason in out.excluded] == [("b", "exact_duplicate")]
    assert out.phases["duplicates"]["repeats"] == 1
    assert out.stats.docs_in == 3 and out.stats.docs_out == 2


def test_run_stage_can_keep_its_run_directory(tmp_path: Path) -> None:
    docs = [Document(str(i), f"document number {i} of a few words", "t") for i in range(3)]
    run_stage({"stage": "dedup_minhash"}, docs, run_dir=tmp_path)
    assert (RunDir(tmp_path).root / "dedup_minhash" / "params.json").is_file()


def test_decontaminate_counts_do_not_depend_on_the_workers(tmp_path: Path) -> None:
    (tmp_path / "eval.jsonl").write_text("\n".join(json.dumps({"text": t}) for t in (
        "what is the capital of france answer paris is the capital city", "too short", "two words")) + "\n")
    for i in range(4):  # four files: four tasks, shared by two workers
        (tmp_path / f"in{i}.jsonl").write_text("\n".join(json.dumps({"id": f"{i}-{j}", "text": t}) for j, t in enumerate([
            "clean text about something else entirely", "the question what is the capital of france answer paris "
            "is the capital city appears here"])) + "\n")
    stats = {}
    for workers in (1, 2):
        p = write_pipeline(tmp_path / f"p{workers}.yaml", name="d", input={"paths": ["in*.jsonl"]},
                           output=f"out{workers}", workers=workers,
                           stages=[{"stage": "decontaminate", "eval_sets": {"qa": "eval.jsonl"}, "n": 8,
                                    "min_words": 3}])
        r = thresher("build", str(p), "--quiet", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        stats[workers] = json.loads((tmp_path / f"out{workers}" / "stats.json").read_text())
    [one] = [s for s in stats[1]["stages"] if s["label"] == "decontaminate"]
    [two] = [s for s in stats[2]["stages"] if s["label"] == "decontaminate"]
    for key in ("docs_in", "docs_out", "removed", "flagged", "extra"):
        assert one[key] == two[key], key
    assert one["removed"] == {"contaminated_qa": 4} and one["extra"] == {"eval_items_too_short": 2}


def _install_by_hand(site: Path, entry_points: dict[str, str], module: str) -> dict[str, str]:
    """A package as pip leaves it (module + ``*.dist-info`` with METADATA and entry_points.txt); the
    environment that puts it on the path."""
    info = site / "handmade_stages-0.1.dist-info"
    info.mkdir(parents=True)
    (site / "handmade_stages.py").write_text(module)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: handmade-stages\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[thresher.stages]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items()))
    return {"PYTHONPATH": str(site)}


MODULE = '''
from corpus.stages.base import Filter


class Good(Filter):
    name = "good"

    def decide(self, doc):
        return "odd_length" if len(doc.text) % 2 else None
'''


def test_an_installed_stage_that_is_broken_or_misnamed_is_one_line(tmp_path: Path) -> None:
    env = _install_by_hand(tmp_path / "site", {"good": "handmade_stages:Good", "misnamed": "handmade_stages:Good",
                                                "broken": "handmade_stages:Missing"}, MODULE)
    (tmp_path / "in.jsonl").write_text("\n".join(json.dumps({"id": str(i), "text": "ab"[:i % 2 + 1]})
                                                 for i in range(4)) + "\n")
    r = thresher("stages", env=env)
    assert r.returncode == 2 and "good  [filter]" in r.stdout and "length  [filter]" in r.stdout
    assert sorted(line.split("'")[1] for line in r.stderr.splitlines()) == ["broken", "misnamed"], r.stderr
    for stage, rc, words in (("broken", 1, "cannot be loaded"), ("misnamed", 2, "it must be 'misnamed'")):
        p = write_pipeline(tmp_path / f"{stage}.yaml", name=stage, input={"paths": ["in.jsonl"]}, output=stage,
                           workers=1, stages=[{"stage": stage}])
        r = thresher("build", str(p), "--quiet", cwd=tmp_path, env=env)
        assert r.returncode == rc and len(r.stderr.strip().splitlines()) == 1 and words in r.stderr, r.stderr
    p = write_pipeline(tmp_path / "good.yaml", name="good", input={"paths": ["in.jsonl"]}, output="good", workers=2,
                       stages=[{"stage": "good"}])
    r = thresher("build", str(p), "--quiet", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    [row] = [s for s in json.loads((tmp_path / "good" / "stats.json").read_text())["stages"] if s["label"] == "good"]
    assert row["removed"] == {"odd_length": 2}


def test_the_build_plan_builds_each_stage_once(tmp_path: Path, monkeypatch) -> None:
    from corpus import config
    from corpus.engine import buildplan

    (tmp_path / "in.jsonl").write_text(json.dumps({"id": "a", "text": "some words"}) + "\n")
    p = write_pipeline(tmp_path / "p.yaml", name="t", input={"paths": ["in.jsonl"]}, output="out", workers=1,
                       stages=[{"stage": "normalize"}, {"stage": "dedup_exact"}, {"stage": "length"}])
    cfg = config.load(p)
    built = []
    real = base.build
    monkeypatch.setattr(base, "build", lambda spec, where="": built.append(spec["stage"]) or real(spec, where))
    bp = buildplan.make(cfg)
    assert built == ["normalize", "dedup_exact", "length"]
    assert [c.scan for c in bp.passes] == [1, None] and bp.config_sha == cfg.sha256()
