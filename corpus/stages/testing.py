"""`run_stage`: one stage over a list of documents, as a build would run it, for tests.

A stage's own tests (this package's and a user's stage package's) need the stage's decisions, not a
pipeline: `run_stage` builds the stage from its pipeline entry (or takes an instance), runs it the way
the engine does — ``setup`` once, and for a stage that needs a global view (`Stage.needs_global`) its
``scan`` and ``reduce`` first — in a temporary run directory, as one task, and returns what it kept and
what it excluded with the reason::

    from corpus.document import Document
    from corpus.stages.testing import run_stage

    out = run_stage({"stage": "length", "min_words": 3}, [Document("1", "too short", "test")])
    assert out.reasons == ["too_few_words"]
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corpus.document import Document
from corpus.engine.ledger import StageStats, TaskResult
from corpus.rundir import RunDir
from corpus.stages import base
from corpus.stages.context import ReduceContext, RunContext, StageContext

TASK_ID = "00000"  # the one task's id (and its index is 0)


@dataclass
class StageRun:
    """What one stage did to the documents: kept in order, excluded in order with each one's reason,
    the task's counters (``stats``; a global stage's scan counters apart in ``scan_stats``), the reduce's
    phase figures and the run's own counters (`RunContext.count`, from ``finalize``)."""

    kept: list[Document]
    excluded: list[tuple[Document, str]]
    stats: StageStats
    scan_stats: StageStats = field(default_factory=StageStats)
    phases: dict[str, Any] = field(default_factory=dict)
    run_counts: Counter = field(default_factory=Counter)

    @property
    def reasons(self) -> list[str]:
        return [reason for _, reason in self.excluded]


@dataclass
class _Recording(StageContext):
    """A task's context that keeps what the stage excluded, with the reason, in memory."""

    excluded: list[tuple[Document, str]] = field(default_factory=list)

    def exclude(self, doc: Document, reason: str) -> None:
        super().exclude(doc, reason)
        self.excluded.append((doc, reason))


class _Discard:
    def write(self, doc: Document) -> None:
        pass


def _context(stage: base.Stage, run: RunDir, stats: StageStats) -> _Recording:
    return _Recording(stage.label, run, TASK_ID, 0, stats, _Discard)


def _serial_map(fn: Any, jobs: Any) -> list[Any]:
    return [fn(job) for job in jobs]


def run_stage(stage: base.Stage | dict[str, Any], docs: Iterable[Document], *, run_dir: Path | None = None) -> StageRun:
    """Run ``stage`` (an instance, or a pipeline entry such as ``{"stage": "length", "min_words": 3}``)
    over ``docs`` as one task of a build. The run directory is a temporary one unless ``run_dir`` is
    given (to look at what the stage wrote: its state folder, token shards, review samples). A stage
    that raises raises here (a build would quarantine the documents it held)."""
    if isinstance(stage, dict):
        stage = base.build(stage)[0]
    docs = list(docs)
    with tempfile.TemporaryDirectory(prefix="thresher-stage-") as tmp:
        run = RunDir(Path(run_dir) if run_dir is not None else Path(tmp))
        stats, out = StageStats(), StageRun([], [], StageStats())
        if stage.needs_global():
            # the scan sees copies, as the engine's next pass reads back what the scan's pass saved
            stage.scan((Document.from_dict(d.to_dict()) for d in docs), _context(stage, run, out.scan_stats))
            reduce_ctx = ReduceContext(stage.label, run, [TASK_ID], 1, _serial_map)
            stage.reduce(reduce_ctx)
            out.phases = reduce_ctx.phases
        ctx = _context(stage, run, stats)
        out.kept = list(stage.process(docs, ctx))
        out.excluded, out.stats = ctx.excluded, stats
        stats.docs_in, stats.chars_in = len(docs), sum(len(d.text) for d in docs)
        stats.docs_out, stats.chars_out = len(out.kept), sum(len(d.text) for d in out.kept)
        run_ctx = RunContext(stage.label, run, {"stages": []}, [TaskResult(TASK_ID, stages={stage.label: stats})])
        stage.finalize(run_ctx)
        out.run_counts = run_ctx.extra
    return out
