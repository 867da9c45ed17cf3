"""Charts as inline SVG strings: no script, no font or image to fetch, so report.html stays one file that
opens anywhere (and under a Content-Security-Policy that forbids every external load).
"""

from __future__ import annotations

from html import escape

from corpus.report.blocks import Chart, fmt_num

WIDTH = 760
BAR_H = 18
GAP = 6
LABEL_W = 230
VALUE_W = 110
KEPT, REMOVED, BAR, AXIS = "#3b6ea5", "#c0392b", "#4f8a5b", "#888"


def _clip(label: str, n: int = 34) -> str:
    return label if len(label) <= n else label[: n - 1] + "\u2026"


def _value(v: float, unit: str) -> str:
    return f"{v:.2f}%" if unit == "%" else fmt_num(int(v) if float(v).is_integer() else v)


def _frame(height: int, title: str, body: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{WIDTH}" height="{height}" '
            f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">'
            f"<title>{escape(title)}</title>" + "".join(body) + "</svg>")


def hbars(chart: Chart) -> str:
    """One horizontal bar per label, scaled to the largest value."""
    top = max([float(v) for v in chart.values] + [0.0]) or 1.0
    span = WIDTH - LABEL_W - VALUE_W
    body = []
    for i, (label, v) in enumerate(zip(chart.labels, chart.values, strict=True)):
        y = i * (BAR_H + GAP)
        w = max(span * float(v) / top, 1.0 if v else 0.0)
        body.append(f'<g><title>{escape(label)}: {escape(_value(v, chart.unit))} {escape(chart.unit)}</title>'
                    f'<text x="{LABEL_W - 6}" y="{y + 13}" text-anchor="end">{escape(_clip(label))}</text>'
                    f'<rect x="{LABEL_W}" y="{y}" width="{w:.1f}" height="{BAR_H}" fill="{BAR}"/>'
                    f'<text x="{LABEL_W + w + 4:.1f}" y="{y + 13}">{escape(_value(v, chart.unit))}</text></g>')
    return _frame(max(len(chart.labels), 1) * (BAR_H + GAP), chart.title, body)


def waterfall(chart: Chart) -> str:
    """Per stage, what remains (blue) and what the stage removed (red), on one scale."""
    pairs = [(max(int(a), 0), max(int(b), 0)) for a, b in chart.values]
    top = max([a + b for a, b in pairs] + [1])
    span = WIDTH - LABEL_W - VALUE_W - 60
    body = []
    for i, (label, (remaining, removed)) in enumerate(zip(chart.labels, pairs, strict=True)):
        y = i * (BAR_H + GAP)
        w1, w2 = span * remaining / top, span * removed / top
        text = f"{fmt_num(remaining)}" + (f" (\u2212{fmt_num(removed)})" if removed else "")
        body.append(f'<g><title>{escape(label)}: {escape(text)} {escape(chart.unit)}</title>'
                    f'<text x="{LABEL_W - 6}" y="{y + 13}" text-anchor="end">{escape(_clip(label))}</text>'
                    f'<rect x="{LABEL_W}" y="{y}" width="{w1:.1f}" height="{BAR_H}" fill="{KEPT}"/>'
                    f'<rect x="{LABEL_W + w1:.1f}" y="{y}" width="{w2:.1f}" height="{BAR_H}" fill="{REMOVED}"/>'
                    f'<text x="{LABEL_W + w1 + w2 + 4:.1f}" y="{y + 13}">{escape(text)}</text></g>')
    return _frame(max(len(pairs), 1) * (BAR_H + GAP), chart.title, body)


def histogram(chart: Chart) -> str:
    """Vertical bars over ordered bins, first and last bin labelled on the axis."""
    height, plot_h, left = 200, 150, 50
    n = max(len(chart.values), 1)
    bw = (WIDTH - left - 10) / n
    top = max([int(v) for v in chart.values] + [1])
    body = [f'<line x1="{left}" y1="{plot_h}" x2="{WIDTH - 10}" y2="{plot_h}" stroke="{AXIS}"/>',
            f'<text x="{left - 4}" y="12" text-anchor="end">{fmt_num(top)}</text>',
            f'<text x="{left - 4}" y="{plot_h}" text-anchor="end">0</text>']
    for i, (label, v) in enumerate(zip(chart.labels, chart.values, strict=True)):
        h = plot_h * int(v) / top
        x = left + i * bw
        body.append(f'<rect x="{x + 1:.1f}" y="{plot_h - h:.1f}" width="{max(bw - 2, 1):.1f}" height="{h:.1f}" '
                    f'fill="{BAR}"><title>{escape(label)}: {fmt_num(v)} {escape(chart.unit)}</title></rect>')
    if chart.labels:
        body.append(f'<text x="{left}" y="{plot_h + 16}">{escape(chart.labels[0])}</text>')
        body.append(f'<text x="{WIDTH - 10}" y="{plot_h + 16}" text-anchor="end">{escape(chart.labels[-1])}</text>')
    body.append(f'<text x="{left}" y="{plot_h + 36}" fill="{AXIS}">{escape(chart.unit)} per bin</text>')
    return _frame(height, chart.title, body)


RENDER = {"bars": hbars, "waterfall": waterfall, "histogram": histogram}


def svg(chart: Chart) -> str:
    return RENDER[chart.kind](chart)
