"""A user mistake is one clear line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import thresher, write_pipeline


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "in.jsonl").write_text('{"text": "hello world, a document"}\n')
    return tmp_path


def good(**over) -> dict:
    cfg = {"name": "t", "input": {"paths": ["in.jsonl"]}, "output": "out", "workers": 1,
           "stages": [{"stage": "normalize"}]}
    cfg.update(over)
    return cfg


def assert_user_error(r, *needles: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    for n in needles:
        assert n in lines[0], lines[0]


CASES = {
    "unknown top-level key": (good(stagse=[]), ["unknown key 'stagse'", "did you mean 'stages'?"]),
    "unknown top-level key, nothing close": (good(colour="blue"), ["unknown key 'colour'", "allowed: name, input"]),
    "unknown input key": (good(input={"paths": ["in.jsonl"], "txt_field": "x"}), ["unknown key 'txt_field'"]),
    "unknown stage": (good(stages=[{"stage": "normalise"}]), ["unknown stage 'normalise'", "normalize"]),
    "unknown stage key": (good(stages=[{"stage": "length", "min_char": 3}]),
                          ["unknown key 'min_char' in stages[0] (did you mean 'min_chars'?)"]),
    "wrong type": (good(stages=[{"stage": "length", "min_chars": "ten"}]),
                   ["stages[0].min_chars must be a whole number, got 'ten'"]),
    "bool is no number": (good(stages=[{"stage": "length", "max_words": True}]),
                          ["stages[0].max_words must be a whole number or null, got True"]),
    "wrong section type": (good(writer={"format": "csv"}), ["writer.format must be one of jsonl.zst"]),
    "max_doc_chars is a key": (good(input={"paths": ["in.jsonl"], "max_doc_chars": "many"}),
                               ["input.max_doc_chars must be a whole number, got 'many'"]),
    "bad mode": (good(stages=[{"stage": "length", "mode": "drop"}]), ["mode must be one of"]),
    "missing input": (good(input={"paths": ["nothing-*.jsonl"]}), ["matches no files"]),
    "missing key": ({"name": "t", "output": "o", "stages": []}, ["missing required key 'input'"]),
    "bad workers": (good(workers=0), ["workers"]),
    "unknown input format": (good(input={"paths": ["in.docx"]}), ["unknown format"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_config_is_one_line_exit_2(workdir: Path, case: str) -> None:
    cfg, needles = CASES[case]
    if case == "unknown input format":
        (workdir / "in.docx").write_text("a,b\n")
    p = write_pipeline(workdir / "p.yaml", **cfg)
    assert_user_error(thresher("build", str(p), cwd=workdir), *needles)
    assert not (workdir / "out").exists()


def test_invalid_yaml(workdir: Path) -> None:
    (workdir / "p.yaml").write_text("name: t\ninput: {paths: [in.jsonl]\nstages: []\n")
    assert_user_error(thresher("build", "p.yaml", cwd=workdir), "invalid YAML", "line")


def test_missing_pipeline_file(workdir: Path) -> None:
    assert_user_error(thresher("build", "nope.yaml", cwd=workdir), "pipeline file not found")


def test_output_is_a_file(workdir: Path) -> None:
    (workdir / "out").write_text("I am a file")
    p = write_pipeline(workdir / "p.yaml", **good())
    assert_user_error(thresher("build", str(p), cwd=workdir), "not a directory")


def test_output_with_other_content_is_refused(workdir: Path) -> None:
    (workdir / "out").mkdir()
    (workdir / "out" / "thesis.tex").write_text("precious")
    p = write_pipeline(workdir / "p.yaml", **good())
    assert_user_error(thresher("build", str(p), cwd=workdir), "holds no Thresher run")
    assert (workdir / "out" / "thesis.tex").read_text() == "precious"


def test_changed_config_on_existing_run_is_refused(workdir: Path) -> None:
    p = write_pipeline(workdir / "p.yaml", **good())
    assert thresher("build", str(p), "--quiet", cwd=workdir).returncode == 0
    write_pipeline(workdir / "p.yaml", **good(stages=[{"stage": "length", "min_chars": 3}]))
    assert_user_error(thresher("build", str(p), cwd=workdir), "the pipeline config differs (stages[0]: normalize -> length)",
                      "--restart")


def test_bad_command_line(workdir: Path) -> None:
    assert_user_error(thresher("build", cwd=workdir), "pipeline")
    assert_user_error(thresher("build", "p.yaml", "--workers", "many", cwd=workdir), "--workers")


def test_validate_stages_version_and_dry_run(workdir: Path) -> None:
    p = write_pipeline(workdir / "p.yaml", **good())
    r = thresher("validate", str(p), cwd=workdir)
    assert r.returncode == 0 and "ok" in r.stdout
    r = thresher("stages")
    assert r.returncode == 0
    assert "normalize" in r.stdout and "min_chars: 0" in r.stdout
    r = thresher("--version")
    assert r.returncode == 0 and r.stdout.startswith("thresher ")
    r = thresher("build", str(p), "--dry-run", cwd=workdir)
    assert r.returncode == 0 and "task 00000" in r.stdout
    assert not (workdir / "out").exists()
