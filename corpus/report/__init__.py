"""Reports from a run's own records: the audit report (HTML, Markdown, JSON), the EU AI Act training-content
summary, a dataset card and Croissant metadata; and lineage reports for trained models.

The engine calls `write_reports` at the end of a build whose pipeline has ``report:``; ``thresher report``
calls the same function, or `write_model_report` for a checkpoint or export directory.
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson

from corpus.io import atomic
from corpus.rundir import REPORT, RunDir

ALWAYS = ("eu_training_summary.md", "dataset_card.md", "croissant.json")


def _json(obj: object) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS) + b"\n"


def _write_formats(out: Path, formats: list[str], title: str, subtitle: str, sections, facts: dict) -> list[Path]:
    from corpus.report import html, markdown

    written = []
    for fmt in formats:
        if fmt == "html":
            data = html.render(title, subtitle, sections).encode()
        elif fmt == "md":
            data = markdown.render(title, subtitle, sections).encode()
        elif fmt == "json":
            data = _json(facts)
        else:
            raise ValueError(f"unknown report format {fmt!r}")
        path = out / f"report.{fmt}"
        atomic.write_bytes(path, data)
        written.append(path)
    return written


def write_reports(run_dir: Path, formats: list[str], out_dir: Path | None = None,
                  workers: int | None = None) -> list[Path]:
    """Write the report of the run in ``run_dir`` to ``RUN/report/`` (or ``out_dir``); returns the paths.

    ``formats`` picks among html, md and json; the EU summary, dataset card and Croissant file are always
    written, since they are what the run is handed on with.
    """
    from corpus.report import croissant, dataset_card, eu_summary, facts, outline

    run_dir = Path(run_dir)
    out = Path(out_dir) if out_dir else RunDir(run_dir).report
    f = facts.build_facts(run_dir, workers)
    o = f["overview"]
    subtitle = (f"Run {o['name']}, built {o['finished']} with Thresher {o['thresher_version']}; "
                f"report generated {f['generated']}. Counts only: no document text appears here.")
    written = _write_formats(out, list(dict.fromkeys(formats)), f"Thresher corpus report: {o['name']}", subtitle,
                             outline.run_sections(f), f)
    for name, data in (("eu_training_summary.md", eu_summary.render(f).encode()),
                       ("dataset_card.md", dataset_card.render(f).encode()),
                       ("croissant.json", _json(croissant.render(f, Path(os.path.relpath(run_dir, out)).as_posix())))):
        atomic.write_bytes(out / name, data)
        written.append(out / name)
    return written


def write_model_report(model_dir: Path, formats: list[str], runs: list[Path] | None = None,
                       out_dir: Path | None = None) -> list[Path]:
    """Write the lineage report of a checkpoint or export directory to ``DIR/report/`` (or ``out_dir``)."""
    from corpus.report import lineage

    f = lineage.build_facts(Path(model_dir), runs or [])
    out = Path(out_dir) if out_dir else Path(model_dir) / REPORT
    return _write_formats(out, list(dict.fromkeys(formats)), f"Thresher model lineage: {Path(model_dir).name}",
                          f"Lineage of {f['model_dir']} back to its corpus run(s).", lineage.sections(f), f)
