"""Render report sections as one self-contained HTML file: inline CSS, inline SVG charts, no script.

The Content-Security-Policy forbids every external load, so a browser opening the file proves it
needs nothing but itself.
"""

from __future__ import annotations

from html import escape
from typing import Any

from corpus.report.blocks import Chart, Code, Para, Section, Table
from corpus.report.charts import svg

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
STYLE = """
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:0 24px 48px;color:#222}
h1{margin-top:24px}h2{border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:36px}
nav a{margin-right:12px}table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}
td{max-width:520px;overflow-wrap:anywhere}p.note{background:#fff6e0;border-left:4px solid #e0a800;padding:6px 10px}
pre{background:#f6f6f6;padding:10px;overflow-x:auto;font-size:12px}figure{margin:12px 0}
figcaption{font-weight:600;margin-bottom:4px}.meta{color:#666}
"""


def _block(b: Any) -> str:
    if isinstance(b, Para):
        return f'<p class="note">{escape(b.text)}</p>' if b.note else f"<p>{escape(b.text)}</p>"
    if isinstance(b, Table):
        head = "".join(f"<th>{escape(h)}</th>" for h in b.headers)
        rows = "".join("<tr>" + "".join(
            f'<td{" class=n" if i in b.numeric else ""}>{escape(str(c))}</td>' for i, c in enumerate(r)) + "</tr>"
            for r in b.rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    if isinstance(b, Chart):
        return f"<figure><figcaption>{escape(b.title)}</figcaption>{svg(b)}</figure>"
    if isinstance(b, Code):
        return f"<pre>{escape(b.text)}</pre>"
    raise TypeError(f"unknown report block {type(b).__name__}")


def render(title: str, subtitle: str, sections: list[Section]) -> str:
    nav = "".join(f'<a href="#{s.key}">{escape(s.title)}</a>' for s in sections)
    body = "".join(f'<section id="{s.key}"><h2>{escape(s.title)}</h2>' + "".join(_block(b) for b in s.blocks)
                   + "</section>" for s in sections)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
            f'<h1>{escape(title)}</h1><p class="meta">{escape(subtitle)}</p><nav>{nav}</nav>{body}</body></html>\n')
