"""The decision report, ``OUTPUT/report.md`` and ``OUTPUT/report.html``, from ``results.json``.

It says in words what the numbers decide ("base beats junk on bpb/news", or "no difference detectable
at this scale"), which metric to trust (signal-to-noise), and draws the loss and primary-metric curves
as inline SVG so the page needs nothing beside it.
"""

from __future__ import annotations

import html
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from corpus.io.atomic import write_bytes
from trainer.ablate.experiment import Experiment
from trainer.ablate.stats import lower_is_better, run_metrics

LINK = re.compile(r"\[([^\]]+)\]\(([^)]+)\)")
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def verdict_text(c: dict[str, Any]) -> str:
    if c["verdict"] == "a_better":
        return f"{c['a']} beats {c['b']} on {c['metric']}"
    if c["verdict"] == "b_better":
        return f"{c['b']} beats {c['a']} on {c['metric']}"
    return f"{c['a']} vs {c['b']} on {c['metric']}: no difference detectable at this scale"


def svg(title: str, series: dict[str, list[tuple[float, float]]], width: int = 480, height: int = 240) -> str:
    """A line chart: one polyline per series (x, y), axes labelled with their ranges."""
    pts = [p for s in series.values() for p in s]
    if not pts:
        return ""
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1e-9)
    m = 40

    def at(x: float, y: float) -> str:
        return f"{m + (x - x0) / (x1 - x0) * (width - 2 * m):.1f},{height - m - (y - y0) / (y1 - y0) * (height - 2 * m):.1f}"

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">',
             f'<text x="{m}" y="16" font-size="13">{html.escape(title)}</text>',
             f'<text x="2" y="{m}" font-size="10">{y1:.4g}</text>',
             f'<text x="2" y="{height - m}" font-size="10">{y0:.4g}</text>',
             f'<text x="{m}" y="{height - 8}" font-size="10">step {x0:g}</text>',
             f'<text x="{width - m - 40}" y="{height - 8}" font-size="10">{x1:g}</text>']
    for i, (name, s) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" '
                     f'points="{" ".join(at(x, y) for x, y in s)}"/>')
        parts.append(f'<text x="{width - m - 90}" y="{30 + 13 * i}" font-size="11" fill="{colour}">'
                     f'{html.escape(name)}</text>')
    return "".join(parts) + "</svg>"


def _mean_curve(curves: list[list[tuple[int, float]]]) -> list[tuple[float, float]]:
    """The mean over seeds at the steps every seed has."""
    steps = sorted(set.intersection(*(set(dict(c)) for c in curves))) if curves else []
    return [(s, float(np.mean([dict(c)[s] for c in curves]))) for s in steps]


def charts(exp: Experiment, variants: dict[str, dict[str, Any]]) -> list[str]:
    loss = {v: _mean_curve([r["loss"] for r in d["runs"]]) for v, d in variants.items()}
    primary = {v: _mean_curve([[(p["step"], run_metrics(p["summary"])[exp.primary]) for p in r["evals"]]
                               for r in d["runs"]]) for v, d in variants.items()}
    return [svg("training loss (mean over seeds)", loss), svg(f"{exp.primary} (mean over seeds)", primary)]


def markdown(exp: Experiment, res: dict[str, Any]) -> str:
    p = res["primary"]
    lines = [f"# Ablation: {exp.name}", "",
             f"Primary metric: `{p}` ({'lower' if lower_is_better(p) else 'higher'} is better). "
             f"Proxy: {exp.proxy['model']}, {exp.proxy['tokens']} training tokens per run, "
             f"seeds {exp.proxy['seeds']}.", "", "## Ranking", ""]
    for i, v in enumerate(res["ranking"], 1):
        m = res["variants"][v]["metrics"][p]
        lines.append(f"{i}. **{v}**: {p} {m['mean']:.4f} ± {m['sd']:.4f}")
    lines += ["", "## Variants", "", "| variant | documents | tokens | epochs | audit report |",
              "| --- | ---: | ---: | ---: | --- |"]
    for v, d in res["variants"].items():
        link = os.path.relpath(d["report"], exp.output)  # the report sits in OUTPUT/
        lines.append(f"| {v} | {d['documents']} | {d['tokens']} | {d['epochs']} | [report]({link}) |")
    metrics = sorted(next(iter(res["variants"].values()))["metrics"])
    lines += ["", "## Metrics (mean ± sd over seeds)", "", "| metric | signal/noise | " +
              " | ".join(res["variants"]) + " |", "| --- | ---: |" + " ---: |" * len(res["variants"])]
    for m in metrics:
        snr = res["signal_to_noise"].get(m)
        cells = [f"{d['metrics'][m]['mean']:.4f} ± {d['metrics'][m]['sd']:.4f}" for d in res["variants"].values()]
        lines.append(f"| {m} | {'n/a' if snr is None else f'{snr:.2f}'} | " + " | ".join(cells) + " |")
    lines += ["", "Signal/noise: the spread of the variants' means over one variant's spread across seeds and late "
              "checkpoints. Near or below 1, the metric cannot tell these variants apart at this scale.", "",
              "## Comparisons (a - b, 95% interval: paired over seeds, bootstrap over eval items)", "",
              "| a | b | metric | diff | 95% interval | verdict |", "| --- | --- | --- | ---: | --- | --- |"]
    for c in res["comparisons"]:
        lines.append(f"| {c['a']} | {c['b']} | {c['metric']} | {c['diff']:+.4f} | "
                     f"[{c['ci95'][0]:+.4f}, {c['ci95'][1]:+.4f}] | {verdict_text(c)} |")
    return "\n".join(lines) + "\n"


def to_html(md: str) -> str:
    """The report's own Markdown (headings, paragraphs, list items, pipe tables) as HTML."""
    out: list[str] = []
    rows: list[list[str]] = []

    def cells(line: str) -> list[str]:
        return [LINK.sub(r"<a href='\2'>\1</a>", html.escape(c.strip()).replace("**", ""))
                for c in line.strip().strip("|").split("|")]

    for line in [*md.splitlines(), ""]:
        if line.startswith("|"):
            if not set(line) <= set("|-: "):  # skip the alignment row
                rows.append(cells(line))
            continue
        if rows:
            head, *rest = rows
            out.append("<table border='1' cellspacing='0' cellpadding='3'><tr>" + "".join(f"<th>{c}</th>" for c in head)
                       + "</tr>" + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rest)
                       + "</table>")
            rows = []
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{html.escape(line.lstrip('# '))}</h{level}>")
        elif line:
            out.append(f"<p>{html.escape(line).replace('**', '')}</p>")
    return "\n".join(out)


def write(exp: Experiment, res: dict[str, Any], variants: dict[str, dict[str, Any]]) -> Path:
    md = markdown(exp, res)
    figures = charts(exp, variants)
    write_bytes(exp.output / "report.md", md.encode())
    body = to_html(md)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(exp.name)}</title></head>"
            f"<body style='font-family:sans-serif;max-width:60em'>{body}<h2>Curves</h2>{''.join(figures)}</body></html>")
    write_bytes(exp.output / "report.html", page.encode())
    return exp.output / "report.html"
