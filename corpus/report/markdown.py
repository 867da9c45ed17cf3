"""Render report sections as Markdown: the same blocks as the HTML, charts as their numbers."""

from __future__ import annotations

from typing import Any

from corpus.report.blocks import Chart, Code, Para, Section, Table, fmt_num


def cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def table(headers: list[str], rows: list[list[Any]], numeric: set[int] = frozenset()) -> str:
    lines = ["| " + " | ".join(cell(h) for h in headers) + " |",
             "| " + " | ".join("---:" if i in numeric else "---" for i in range(len(headers))) + " |"]
    lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _block(b: Any) -> str | None:
    if isinstance(b, Para):
        return f"> **Note:** {b.text}" if b.note else b.text
    if isinstance(b, Table):
        return table(b.headers, b.rows, b.numeric)
    if isinstance(b, Chart):
        if b.tabled:
            return None
        return f"*{b.title}*\n\n" + table(["bin", b.unit], [[lb, fmt_num(v)] for lb, v in zip(b.labels, b.values, strict=True)],
                                          {1})
    if isinstance(b, Code):
        return f"```yaml\n{b.text}\n```"
    raise TypeError(f"unknown report block {type(b).__name__}")


def render(title: str, subtitle: str, sections: list[Section]) -> str:
    parts = [f"# {title}", subtitle]
    for s in sections:
        parts.append(f"## {s.title}")
        parts += [t for t in (_block(b) for b in s.blocks) if t is not None]
    return "\n\n".join(parts) + "\n"
