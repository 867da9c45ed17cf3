"""One task of one pass: read (or re-read), run the pass's stages, write, leave a marker.

A pipeline is cut into passes at each stage that needs a global view (`corpus.engine.buildplan`):
pass 0 reads the inputs and ends by feeding the first global stage's ``scan`` while saving the stream
to ``RUN/.work/<label>/``; after that stage's ``reduce``, the next pass reads those files back and
starts with its ``process``. The last pass writes ``data/``. Every output name is derived from the
task id, so a task that is redone after a kill overwrites exactly what it wrote before.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from corpus.document import Document
from corpus.engine import duplicate_ids, progress
from corpus.engine.buildplan import TaskJob
from corpus.engine.ledger import SCAN_SUFFIX, StageStats, TaskResult
from corpus.engine.plan import Slice, Task
from corpus.engine.quarantine import DUPLICATE_ID, STAGE_ERROR, UNSERIALISABLE, Quarantine
from corpus.errors import Fault
from corpus.io import atomic
from corpus.io.jsonl import read_jsonl
from corpus.io.raw import Raw
from corpus.io.records import READER_STAGE, RecordRules, to_document
from corpus.io.writers import ShardWriter, UnserialisableError
from corpus.rundir import DATA, WORK
from corpus.stages import base
from corpus.stages.context import StageContext

_STAGES: dict[str, list[base.Stage]] = {}


def stages_for(job: TaskJob) -> list[base.Stage]:
    """The pipeline's stages, built from the plan's resolved specs and set up once per worker process."""
    if job.config_sha not in _STAGES:
        built = [base.build(spec)[0] for spec in job.config["stages"]]
        for st in built:
            st.ensure_setup()
        _STAGES[job.config_sha] = built
    return _STAGES[job.config_sha]


def iter_slice(sl: Slice, rules: RecordRules, split: str) -> Iterator[Raw]:
    """The raw records of one slice, by its format: the one dispatch from a file to its reader."""
    if sl.fmt == "jsonl":
        return read_jsonl(sl.path, sl.file, sl.start, sl.end, sl.first)
    if sl.fmt == "parquet":
        from corpus.io.parquet import read_parquet

        return read_parquet(sl.path, sl.file, sl.start, sl.end, sl.first)
    if sl.fmt == "text":
        from corpus.io.text import read_text

        return read_text(sl.path, sl.file, rules.text_field, rules.id_field)
    if sl.fmt == "json":
        from corpus.io.json_array import read_json

        return read_json(sl.path, sl.file)
    if sl.fmt in ("csv", "tsv"):
        from corpus.io.tables import read_table

        return read_table(sl.path, sl.file, sl.fmt)
    if sl.fmt == "warc":
        from corpus.io.warc import read_warc

        return read_warc(sl.path, sl.file, rules.text_field, rules.id_field)
    if sl.fmt == "hf":
        from corpus.io.hf import read_hf

        return read_hf(sl.path, sl.file, split, sl.start, sl.end)
    raise ValueError(f"unknown slice format {sl.fmt}")


def _read(task: Task, rules: RecordRules, split: str, result: TaskResult, quarantine: Quarantine,
          ctx: StageContext, limit: int | None, ids: duplicate_ids.IdLog) -> Iterator[Document]:
    st = ctx.stats
    for sl in task.slices:
        for raw in iter_slice(sl, rules, split):
            if limit is not None and result.read >= limit:
                return
            result.read += 1
            if not result.read & 255:
                progress.tick(256)
            for key in raw.counts:
                st.extra[key] += 1
            if raw.skip:
                result.skipped[raw.skip] += 1
                continue
            doc, problem = to_document(raw, rules)
            if doc is None:
                raw.error = problem
                quarantine.raw(raw)
                continue
            if not ids.admit(doc):
                quarantine.doc(doc, DUPLICATE_ID, READER_STAGE)
                continue
            st.docs_in += 1
            st.chars_in += len(doc.text)
            if problem:
                doc.flag(READER_STAGE, problem)
                ctx.exclude(doc, problem)
                continue
            st.docs_out += 1
            st.chars_out += len(doc.text)
            yield doc


class _Clock:
    seconds = 0.0


def _timed(docs: Iterable[Document], clock: _Clock, count: Callable[[Document], None]) -> Iterator[Document]:
    """Yield ``docs``, adding the time spent producing each to ``clock`` and counting it."""
    it = iter(docs)
    while True:
        t0 = time.perf_counter()
        doc = next(it, None)
        clock.seconds += time.perf_counter() - t0
        if doc is None:
            return
        count(doc)
        yield doc


def _metered(stage: base.Stage, docs: Iterable[Document], ctx: StageContext) -> Iterator[Document]:
    """Run ``stage`` over ``docs``, counting documents, characters and the stage's own seconds
    (the time to produce its output less the time its input took upstream)."""
    st = ctx.stats
    upstream, total = _Clock(), _Clock()

    def came_in(doc: Document) -> None:
        st.docs_in += 1
        st.chars_in += len(doc.text)
        ctx.pending[id(doc)] = doc

    def went_out(doc: Document) -> None:
        ctx.pending.pop(id(doc), None)
        st.docs_out += 1
        st.chars_out += len(doc.text)

    yield from _timed(_guarded(stage, _timed(docs, upstream, came_in), ctx), total, went_out)
    st.seconds += total.seconds - upstream.seconds


def _guarded(stage: base.Stage, docs: Iterator[Document], ctx: StageContext) -> Iterator[Document]:
    """``stage.process(docs)``; when the stage raises, the documents it was holding are quarantined
    (`STAGE_ERROR`) and the stage starts again on the rest of the stream, so one hostile document
    costs itself, not the build. An exception with no document held, one that came from upstream, or
    an `OSError` (a full disk, a lost file) is not the documents' doing and propagates."""
    upstream_failed = False

    def feed() -> Iterator[Document]:
        nonlocal upstream_failed
        while True:
            try:
                doc = next(docs)
            except StopIteration:
                return
            except BaseException:
                upstream_failed = True
                raise
            yield doc

    while True:
        try:
            yield from stage.process(feed(), ctx)
            return
        except Exception as e:
            if upstream_failed or not ctx.pending or isinstance(e, OSError):
                raise
            for doc in list(ctx.pending.values()):
                ctx.quarantine(doc, STAGE_ERROR, stage.label, e)


def _written(writer: ShardWriter, doc: Document, quarantine: Quarantine, step: str) -> bool:
    """Write ``doc``, or quarantine it if it has no JSON form; says whether it was written."""
    try:
        writer.write(doc)
    except UnserialisableError as e:
        quarantine.doc(doc, UNSERIALISABLE, step, e)
        return False
    return True


class ScanFailed(Exception):
    """A global stage's ``scan`` raised while holding the document at ``position`` of its stream."""

    def __init__(self, position: int, exc: Exception):
        super().__init__(position, exc)
        self.position, self.exc = position, exc


# A scan cannot be resumed past a document it raised on, so the task's pass is redone without it; more
# failures than this in one task stop the build (each costs a redo of the task's pass).
SCAN_RETRIES = 8


def _scan(stage: base.GlobalStage, docs: Iterable[Document], writer: ShardWriter, ctx: StageContext,
          quarantine: Quarantine, failed: dict[int, Exception]) -> None:
    """Feed ``stage.scan`` while saving the stream for the next pass; the scan's own seconds (between
    taking a document and asking for the next, and after the last) go to the ledger, not the upstream
    stages' nor the writer's. A document the scan raised on in an earlier attempt (its position in
    ``failed``) is quarantined (`STAGE_ERROR`) instead of scanned or saved; a new failure raises
    `ScanFailed` (the caller redoes the pass), one with no document held a `Fault`."""
    inside, finished = 0.0, None
    held: int | None = None

    def tee() -> Iterator[Document]:
        nonlocal inside, finished, held
        for position, doc in enumerate(docs):
            if position in failed:
                ctx.quarantine(doc, STAGE_ERROR, stage.label, failed[position])
                continue
            if not _written(writer, doc, quarantine, f"write {WORK}/{stage.label}"):
                continue
            t0 = time.perf_counter()
            held = position
            yield doc
            held = None
            inside += time.perf_counter() - t0
        finished = time.perf_counter()

    try:
        stage.scan(tee(), ctx)
    except Exception as e:
        if isinstance(e, OSError):
            raise
        if held is None:  # upstream's failure (not the scan's), or the scan's after its last document
            if finished is None:
                raise
            raise Fault(f"stage {stage.label} failed ({type(e).__name__}) after scanning task {ctx.task_id}'s "
                        "documents: fix the stage, then rerun the same command to resume") from None
        raise ScanFailed(held, e) from None
    ctx.stats.seconds += inside + (time.perf_counter() - finished if finished is not None else 0.0)


def clean_task_outputs(run_dir: Path, task_id: str, dirs: list[Path]) -> None:
    """Remove what an interrupted attempt at this task may have left, so the redo starts clean."""
    for d in dirs:
        if d.is_dir():
            for p in d.glob(f"{task_id}-*"):
                p.unlink()
            for p in d.glob(f".{task_id}-*.tmp"):
                p.unlink()


def run_pass(job: TaskJob) -> dict[str, Any]:
    """Run one task of one pass and write its marker; returns the task's ledger entry. A global stage's
    scan that raises on a document costs that document: the pass is redone with it quarantined."""
    failed: dict[int, Exception] = {}
    while True:
        try:
            return _run_pass(job, failed)
        except ScanFailed as e:
            if len(failed) >= SCAN_RETRIES:
                raise Fault(f"a global stage's scan failed on more than {SCAN_RETRIES} documents of task {job.task.id} "
                            f"(last: {type(e.exc).__name__}); fix the stage, then rerun the same command to "
                            "resume") from None
            failed[e.position] = e.exc


def _run_pass(job: TaskJob, failed: dict[int, Exception]) -> dict[str, Any]:
    t_start = time.perf_counter()
    run, config, task, k, cut = job.run, job.config, job.task, job.pass_index, job.cut
    stage_list = stages_for(job)
    scan_stage = stage_list[cut.scan] if cut.scan is not None else None
    writer_cfg = config["writer"]
    result = TaskResult(task.id)
    quarantine = Quarantine(result.quarantined)
    excluded: dict[str, ShardWriter] = {}

    def ctx_for(label: str, key: str | None = None) -> StageContext:
        stats = result.stages.setdefault(key or label, StageStats())

        def writer() -> ShardWriter:
            if label not in excluded:
                excluded[label] = ShardWriter(run.excluded(label), task.id)
            return excluded[label]

        return StageContext(label, run, task.id, job.task_index, stats, writer, quarantine.doc)

    labels = [s.label for s in stage_list[cut.first:cut.end]] + ([READER_STAGE] if k == 0 else [])
    out_dir = run.work(scan_stage.label) if scan_stage else run.data
    clean_task_outputs(run.root, task.id, [out_dir] + [run.excluded(lb) for lb in labels])

    if k == 0:
        ids = duplicate_ids.IdLog(config["reader"]["duplicate_ids"], {p: r for p, r in job.repeats or []},
                                  run.state / duplicate_ids.LOG_DIR / duplicate_ids.ALL)
        inp = config["input"]
        rules = RecordRules(inp["text_field"], inp["id_field"], inp["max_doc_chars"])
        docs: Iterable[Document] = _read(task, rules, inp["hf_split"], result, quarantine,
                                         ctx_for(READER_STAGE), job.limit, ids)
    else:
        docs = run.documents("work", label=cut.read_from, task_id=task.id)
    for stage in stage_list[cut.first:cut.end]:
        docs = _metered(stage, docs, ctx_for(stage.label))

    if scan_stage is not None:
        writer = ShardWriter(out_dir, task.id, "jsonl.zst", writer_cfg["shard_size_mb"])
        _scan(scan_stage, docs, writer, ctx_for(scan_stage.label, scan_stage.label + SCAN_SUFFIX), quarantine,
              failed)
    else:
        writer = ShardWriter(out_dir, task.id, writer_cfg["format"], writer_cfg["shard_size_mb"])
        for doc in docs:
            _written(writer, doc, quarantine, f"write {DATA}")
    result.outputs = [{"path": str(p.relative_to(run.root)), "docs": n} for p, n in writer.close()]
    for label, w in excluded.items():
        result.excluded[label] = sum(n for _, n in w.close())
    quarantine.write(run.root, task.id, k)
    progress.tick(result.read & 255)
    progress.flush()
    result.seconds = time.perf_counter() - t_start
    out = result.to_dict()
    if k == 0:
        ids.save(duplicate_ids.log_path(run.state, task.id))
        if job.repeats is not None:
            out[duplicate_ids.SETTLED_KEY] = True
    atomic.write_json(run.marker(k, task.id), out)
    return out
