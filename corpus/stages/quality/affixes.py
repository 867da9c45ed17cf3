"""Searching spaCy's prefix and suffix patterns fast, with the answers ``re.search`` gives.

The patterns are alternations of a few hundred branches (``^§|^%|...``, ``…$|,$|...``), and ``re``
tries every branch. A branch anchored at the start can only match a string whose first character
it can start with, and one anchored at the end only a string whose last character it can end with:
`by_edge` reads those characters from the parsed branches, and a search runs just the branches that
can match at this string's edge, in their order (same first match, so same answer). Where a branch's
edge is not known (any character, a category, case-insensitive) it stays in every search.
"""

from __future__ import annotations

import re

try:  # the parser behind `re` (for the widths and edges of a pattern's branches); sre_parse before Python 3.11
    from re import _constants as sre_constants  # type: ignore[attr-defined]
    from re import _parser as sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    import sre_constants  # type: ignore[no-redef]
    import sre_parse  # type: ignore[no-redef]

_LONG = 64  # a suffix branch that can match more characters than this is searched over the whole chunk
_ZERO_WIDTH = (sre_constants.AT, sre_constants.ASSERT, sre_constants.ASSERT_NOT)


def branches(pattern: str) -> list[str]:
    """The top-level alternatives of a regular expression (``a|(b|c)|[|]`` -> ``a``, ``(b|c)``, ``[|]``)."""
    out, depth, in_class, escaped, start = [], 0, False, False, 0
    for i, ch in enumerate(pattern):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch in "()":
            depth += 1 if ch == "(" else -1
        elif ch == "|" and depth == 0:
            out.append(pattern[start:i])
            start = i + 1
    return [*out, pattern[start:]]


def edge_chars(items: sre_parse.SubPattern | list, last: bool) -> set[int] | None:
    """The code points a match of the parsed ``items`` can start with (``last``: end with), or None
    when that is not known. Zero-width items (anchors, look-arounds) at the edge are passed over: they
    only narrow what matches."""
    for op, av in (reversed(list(items)) if last else items):
        if op in _ZERO_WIDTH:
            continue
        if op is sre_constants.LITERAL:
            return {av}
        if op is sre_constants.IN:
            chars: set[int] = set()
            for kind, value in av:
                if kind is sre_constants.LITERAL:
                    chars.add(value)
                elif kind is sre_constants.RANGE:
                    chars.update(range(value[0], value[1] + 1))
                else:  # a negated class or a category
                    return None
            return chars
        if op is sre_constants.SUBPATTERN:
            return None if av[1] & re.IGNORECASE else edge_chars(av[3], last)
        if op is sre_constants.BRANCH:
            sets = [edge_chars(b, last) for b in av[1]]
            return None if any(s is None for s in sets) else set().union(*sets)  # type: ignore[arg-type]
        if op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT) and av[0] >= 1:
            return edge_chars(av[2], last)
        return None
    return None  # the match can be empty here


def first_chars(pattern: str) -> frozenset[str] | None:
    """The characters a match of ``pattern`` can start with (look-behinds aside), or None when that is not
    known or a match can be empty: a string holding none of them has no match anywhere."""
    alternatives = branches(pattern)
    if any(sre_parse.parse(b).state.flags & (re.IGNORECASE | re.MULTILINE) for b in alternatives):
        return None
    edges = [edge_chars(sre_parse.parse(b), last=False) for b in alternatives]
    if any(e is None for e in edges):
        return None
    return frozenset(map(chr, set().union(*edges)))  # type: ignore[arg-type]


class ByEdge:
    """``pattern(ch)``: the alternation of those ``alternatives`` that can match with ``ch`` at the
    edge (first character, or last with ``last``), in their order; None when none can."""

    def __init__(self, alternatives: list[str], last: bool) -> None:
        self.alternatives = alternatives
        # case-insensitive or multi-line (an anchor at every line) anywhere: no edge is known
        unknown = any(sre_parse.parse(b).state.flags & (re.IGNORECASE | re.MULTILINE) for b in alternatives)
        edges = [None if unknown else edge_chars(sre_parse.parse(b), last) for b in alternatives]
        self.anywhere = [i for i, e in enumerate(edges) if e is None]
        self.at: dict[str, list[int]] = {}
        for i, e in enumerate(edges):
            for c in e or ():
                self.at.setdefault(chr(c), []).append(i)
        self._by_char: dict[str, re.Pattern[str] | None] = {}
        self._by_set: dict[tuple[int, ...], re.Pattern[str] | None] = {}

    def pattern(self, ch: str) -> re.Pattern[str] | None:
        found = self._by_char.get(ch, False)
        if found is False:
            chosen = tuple(sorted({*self.anywhere, *self.at.get(ch, ())}))
            if chosen not in self._by_set:
                self._by_set[chosen] = re.compile("|".join(self.alternatives[i] for i in chosen)) if chosen else None
            found = self._by_char[ch] = self._by_set[chosen]
        return found


class PrefixFinder:
    """``search``: spaCy's prefix pattern's ``re.search``. When every branch is anchored at the start
    (``^``), only the branches that can start with the string's first character are tried."""

    def __init__(self, pattern: str) -> None:
        self.full = re.compile(pattern)
        alternatives = branches(pattern)
        anchored = all(sre_parse.parse(b).data[:1] == [(sre_constants.AT, sre_constants.AT_BEGINNING)]
                       for b in alternatives)
        self.by_first = ByEdge(alternatives, last=False) if anchored else None

    def search(self, s: str) -> re.Match[str] | None:
        if self.by_first is None or not s:
            return self.full.search(s)
        pattern = self.by_first.pattern(s[0])
        return pattern.search(s) if pattern is not None else None


class SuffixFinder:
    """Length of the suffix spaCy's suffix pattern finds (the leftmost match; every branch ends in ``$``).

    ``re.search`` tries the whole alternation at every position of the chunk. A branch that matches
    at most ``window`` characters can only start in the last ``window``, so those branches are searched
    from there (a look-behind still sees the text before); the few unbounded ones (``\\.\\.+$``) are
    searched in full; the leftmost start of both is spaCy's match. Of each, only the branches that can
    end with the string's last character are tried (all of them when it ends in a line break, before
    which ``$`` also matches).
    """

    def __init__(self, pattern: str) -> None:
        alternatives = branches(pattern)
        widths = [sre_parse.parse(b).getwidth()[1] for b in alternatives]
        anchored = all(b.endswith("$") and not b.endswith("\\$") for b in alternatives)
        if not anchored:
            widths = [sre_parse.MAXREPEAT] * len(alternatives)  # not all end-anchored: search in full
        bounded = [b for b, w in zip(alternatives, widths, strict=True) if w < _LONG]
        unbounded = [b for b, w in zip(alternatives, widths, strict=True) if w >= _LONG]
        self.window = max((w for w in widths if w < _LONG), default=0)
        self.bounded = re.compile("|".join(bounded)) if bounded else None
        self.unbounded = re.compile("|".join(unbounded)) if unbounded else None
        self.by_last = (ByEdge(bounded, last=True), ByEdge(unbounded, last=True)) if anchored else None

    def __call__(self, s: str) -> int:
        bounded, unbounded = self.bounded, self.unbounded
        if self.by_last is not None and s and s[-1] != "\n":
            bounded = self.by_last[0].pattern(s[-1]) if bounded is not None else None
            unbounded = self.by_last[1].pattern(s[-1]) if unbounded is not None else None
        best = unbounded.search(s) if unbounded is not None else None
        if bounded is not None:
            m = bounded.search(s, max(0, len(s) - self.window))
            if m is not None and (best is None or m.start() < best.start()):
                best = m
        return best.end() - best.start() if best is not None else 0
