"""The report's building blocks, independent of output format: the HTML and Markdown renderers each
turn the same list of sections into their format, so the two reports can never say different things.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Para:
    text: str
    note: bool = False  # a caveat or a "not measured" statement, shown as such


@dataclass
class Table:
    headers: list[str]
    rows: list[list[Any]]
    numeric: set[int] = field(default_factory=set)  # column indexes aligned right


@dataclass
class Chart:
    """A bar chart (``kind`` "bars"), a histogram ("histogram") or a stage waterfall ("waterfall").

    ``values`` are numbers, or for a waterfall ``(remaining, removed)`` pairs. ``tabled`` says the same
    numbers are in a table of the section, so a text renderer can leave the chart out.
    """

    kind: str
    title: str
    labels: list[str]
    values: list[Any]
    unit: str = ""
    tabled: bool = True


@dataclass
class Code:
    text: str


@dataclass
class Section:
    key: str
    title: str
    blocks: list[Any]


def fmt_int(n: Any) -> str:
    return f"{n:,}" if isinstance(n, int) else "-" if n is None else str(n)


def fmt_pct(share: float | None) -> str:
    return "-" if share is None else f"{100 * share:.2f}%"


def fmt_num(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:,.3f}".rstrip("0").rstrip(".")
    return fmt_int(x)
