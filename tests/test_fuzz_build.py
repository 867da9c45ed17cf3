"""Property: whatever the input holds, no build crashes and every record is accounted for.

Random JSON values, random bytes, random Unicode (lone surrogates, NUL, RTL marks), deep nesting and
a stage that raises on random documents, through a multi-pass pipeline (normalize, a failing stage,
dedup_exact, length). After each build: records read = kept + excluded + quarantined, the quarantine
holds exactly ``quarantined_total`` entries, and ``verify`` finds every hash intact. Builds run in this
process (one worker) so the suite stays within a minute.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from pathlib import Path

import faulty_stage  # noqa: F401 - registers test_fault
from conftest import write_pipeline
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from corpus import cli, config
from corpus.engine import build

BOOM = "BOOM"  # the failing stage raises on any document holding this
ODD = ["\u0000", "\u200f", "\u202e", "\ud800", "\udfff", "\ufeff", "\u00a0", BOOM, "\n", "é"]

texts = st.lists(st.one_of(st.characters(), st.sampled_from(ODD)), max_size=30).map("".join)
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | texts,
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
                           max_leaves=8)


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


records = st.one_of(  # one input line each, as bytes
    st.builds(lambda t, i, m: json.dumps({"id": i, "text": t, "meta": m}), texts, st.one_of(st.none(), texts,
              st.integers()), json_values).map(str.encode),
    json_values.map(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass")),  # raw surrogates
    st.binary(max_size=60),  # random bytes
    st.integers(1, 600).map(lambda d: f'{{"id": "deep", "text": "nested words", "m": {_nested(d)}}}'.encode()),
    texts.map(lambda t: json.dumps({"text": f"{t} {BOOM} {t}"}).encode()),
)


def _write_inputs(root: Path, lines: list[bytes], blob: bytes) -> None:
    (root / "in").mkdir()
    (root / "in" / "a.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    (root / "in" / "b.txt").write_bytes(blob)
    values = []
    for line in lines[:6]:
        with contextlib.suppress(ValueError):
            values.append(json.loads(line))
    (root / "in" / "c.json").write_text(json.dumps(values))


def _check_run(run: Path) -> None:
    stats = json.loads((run / "stats.json").read_text())
    assert stats["invariant"]["holds"], stats["invariant"]
    assert stats["records_read"] == stats["kept"] + stats["excluded_total"] + stats["quarantined_total"]
    entries = sum(1 for p in (run / "quarantine").glob("*.jsonl") for _ in p.read_text().splitlines()) \
        if (run / "quarantine").is_dir() else 0
    assert entries == stats["quarantined_total"]
    for code in stats["quarantined"]:
        event(f"quarantined: {code}")  # --hypothesis-show-statistics: what the examples reached
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert cli.main(["verify", str(run)]) == 0, out.getvalue()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(lines=st.lists(records, max_size=25), blob=st.binary(max_size=200))
@example(lines=[json.dumps({"id": "big", "text": "word " * 200_000}).encode()], blob=b"\xff\xfe\x00")  # a 1 MB line
@example(lines=[b'{"id": "dup", "text": "same"}'] * 2, blob=b"")
@example(lines=[b'{"id": "\\udfff", "text": "", "meta": 1000000000000000000}'], blob=b"")  # a lone surrogate id
def test_any_input_is_accounted_for_and_no_build_crashes(lines: list[bytes], blob: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _write_inputs(root, lines, blob)
        p = write_pipeline(root / "p.yaml", name="fuzz", input={"paths": ["in"]}, output="out", workers=1,
                           max_error_rate=1.0,
                           stages=[{"stage": "normalize"}, {"stage": "test_fault", "word": BOOM},
                                   {"stage": "dedup_exact"}, {"stage": "length", "min_words": 1}])
        build.run(config.load(p), quiet=True)
        _check_run(root / "out")
