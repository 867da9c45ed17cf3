"""What a stage sees of the run: which task, the run's folders, how to exclude, where to count.

The contexts are the stage API's (stages import nothing of the engine); the engine makes them; a stage reads its task as ``ctx.task_id`` (the name its files carry)
and ``ctx.task_index`` (its place in the plan, for arrays and ordering), and every folder of the run
through ``ctx.run`` (`corpus.rundir.RunDir`), so no stage spells a layout name or parses a task id.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corpus.document import Document
from corpus.io import atomic
from corpus.io.raw import UNSERIALISABLE
from corpus.io.writers import ShardWriter, UnserialisableError
from corpus.rundir import EXCLUDED, RunDir

if TYPE_CHECKING:
    from corpus.engine.ledger import StageStats, TaskResult

# Quarantines a document: (document, code, failing step, exception).
QuarantineFn = Callable[[Document, str, str, BaseException], None]


@dataclass
class _InRun:
    """One stage (``label``) in one run (``run``)."""

    label: str
    run: RunDir

    @property
    def state_dir(self) -> Path:
        """``RUN/<label>/``, created: this stage's files between phases (signatures, buckets, clusters)."""
        return self.run.stage_state(self.label)


@dataclass
class StageContext(_InRun):
    """One stage in one task. ``exclude`` and the counters are the ledger, counted where decided."""

    task_id: str
    task_index: int
    stats: StageStats
    _excluded: Callable[[], ShardWriter]
    _quarantine_to: QuarantineFn | None = None
    # Documents handed to the stage and neither yielded nor excluded yet (by ``id``): the ones a
    # stage that raises was holding, which the engine then quarantines.
    pending: dict[int, Document] = field(default_factory=dict)

    def exclude(self, doc: Document, reason: str) -> None:
        """Remove ``doc`` from the stream: it goes to ``excluded/<label>/`` with its flags (or to the
        quarantine, if it cannot be written)."""
        self.pending.pop(id(doc), None)
        try:
            self._excluded().write(doc)
        except UnserialisableError as e:
            self.quarantine(doc, UNSERIALISABLE, f"write {EXCLUDED}/{self.label}", e)
            return
        self.stats.removed[reason] += 1

    def quarantine(self, doc: Document, code: str, step: str, exc: BaseException) -> None:
        """Take ``doc`` out of the stream into ``quarantine/`` (it can be neither kept nor excluded)."""
        if self._quarantine_to is None:
            raise exc
        self.pending.pop(id(doc), None)
        self.stats.quarantined[code] += 1
        self._quarantine_to(doc, code, step, exc)

    def flagged(self, reason: str) -> None:
        """Count a negative decision that, in annotate mode, keeps the document."""
        self.stats.flagged[reason] += 1

    def count(self, key: str, n: int | float = 1) -> None:
        """A stage-specific counter (summed over tasks into ``extra`` in ``stats.json``)."""
        self.stats.extra[key] += n


@dataclass
class ReduceContext(_InRun):
    """The barrier phase of a `GlobalStage`: every task's scan is done; this runs once.
    ``task_ids[i]`` is the id of the task whose ``task_index`` is ``i``."""

    task_ids: list[str]
    workers: int
    map: Callable[[Callable[..., Any], Sequence[Any]], list[Any]]
    phases: dict[str, Any] = field(default_factory=dict)  # per-phase figures for the ledger

    def step(self, name: str, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` once across resumes: its JSON result is the step's completion marker."""
        marker = self.state_dir / f".{name}.done"
        if marker.exists():
            result = atomic.read_json(marker)
        else:
            result = fn()
            atomic.write_json(marker, result)
        self.phases[name] = result
        return result


@dataclass
class RunContext(_InRun):
    """After every task: the run directory, the resolved config and every task's result."""

    config: dict[str, Any]
    results: list[TaskResult]
    extra: Counter = field(default_factory=Counter)  # counters of the run, not of a task's documents

    def count(self, key: str, n: int | float = 1) -> None:
        """A counter counted once for the run (e.g. about the stage's own files): a task's `StageContext`
        counter is summed over tasks, so a figure every task would see would count once per task."""
        self.extra[key] += n
