"""Run a pipeline: plan, run every pass on the executor with barriers, account, write the manifest.

The engine owns ordering, phases, markers and accounting; stages own their decisions. Rerunning the
same command resumes: a task with a marker is skipped, a task without one is redone from scratch.
The engine never imports the report: the build command writes it (the ``finished`` hook of `run`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from corpus.config import PipelineConfig
from corpus.engine import buildplan, duplicate_ids, ledger, manifest, plan, progress, runstate
from corpus.engine.buildplan import BuildPlan
from corpus.engine.ledger import TaskResult
from corpus.engine.quarantine import STAGE_ERROR
from corpus.engine.task import run_pass
from corpus.errors import Fault, InvariantError, UserError, os_fault
from corpus.io import atomic
from corpus.rundir import DATA, EXCLUDED, QUARANTINE, REVIEW, STATE, WORK, RunDir
from corpus.stages import base
from corpus.stages.context import ReduceContext, RunContext


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def make_executor(cfg: PipelineConfig, view: progress.Progress | None):
    if cfg.executor == "ray":
        try:
            from corpus.engine.ray_executor import RayExecutor
        except ImportError as e:
            raise UserError(f"executor 'ray' needs Ray: pip install 'thresher[ray]' ({e})") from None
        return RayExecutor(cfg.workers, cfg.ray_address, view)
    from corpus.engine.executor import LocalExecutor

    return LocalExecutor(cfg.workers, view)


@contextlib.contextmanager
def _os_faults(run_dir: Path):
    """An operating-system error (full disk, lost input, no permission) ends the build as one line."""
    try:
        yield
    except OSError as e:
        raise os_fault(e, f"writing {run_dir}") from None


@dataclass
class Outcome:
    """What the passes left: each pass's ledger entries (plan order), the global stages' phase figures,
    and the run's duplicate-id counts."""

    results_by_pass: list[list[dict[str, Any]]] = field(default_factory=list)
    phases: dict[str, Any] = field(default_factory=dict)
    duplicates: dict[str, Any] = field(default_factory=dict)

    def merged(self) -> list[TaskResult]:
        """One ledger entry per task from its entries in every pass."""
        merged: list[TaskResult] = []
        for i, first in enumerate(self.results_by_pass[0]):
            tr = TaskResult.from_dict(first)
            for later in self.results_by_pass[1:]:
                other = TaskResult.from_dict(later[i])
                tr.stages.update(other.stages)
                tr.quarantined.update(other.quarantined)
                for label, n in other.excluded.items():
                    tr.excluded[label] = tr.excluded.get(label, 0) + n
                tr.outputs = other.outputs
                tr.seconds += other.seconds
            merged.append(tr)
        return merged


def run(cfg: PipelineConfig, *, limit: int | None = None, dry_run: bool = False, quiet: bool = False,
        restart: bool = False, out=sys.stdout, finished: Callable[[Path], None] | None = None) -> dict[str, Any]:
    """Build the pipeline; returns ``stats.json``'s content. Raises `InvariantError` if accounting fails.

    ``restart`` first moves an existing run in the output aside (``<name>.old-<time>``); ``finished``
    runs on the run directory once its manifest is written, before the summary (the report)."""
    t0 = time.perf_counter()
    _check_output(cfg.output_dir)
    bp = buildplan.make(cfg)
    config_warnings = stage_warnings(bp.stages)
    if dry_run:
        _print_plan(bp, out)
        return {}
    inputs = _identify(bp)
    view = progress.Progress(quiet=quiet)
    _open_run(bp.run, restart)
    with _os_faults(bp.run.root), runstate.locked(bp.run.root):
        started = _prepare(bp, limit)
        executor = make_executor(cfg, view)
        try:
            outcome = _run_passes(bp, executor, view, limit)
            results = outcome.merged()
            stats = _account(bp, outcome, results, config_warnings, t0)
            _write_manifest(bp, results, inputs, started)
        finally:
            executor.close()
            view.close()
        shutil.rmtree(bp.run.work_root, ignore_errors=True)
    if finished is not None:
        finished(bp.run.root)
    if not quiet:
        print(ledger.format_table(stats), file=out)
        print(f"\nrun directory: {bp.run.root}", file=out)
    if not stats["invariant"]["holds"]:
        raise InvariantError("; ".join(stats["invariant"]["problems"]))
    return stats


def warn(lines: list[str]) -> None:
    """Warnings go to stderr whatever ``--quiet`` says, and into ``stats.json`` and the report."""
    for line in lines:
        print(f"thresher: warning: {line}", file=sys.stderr)


def stage_warnings(stage_list: list[base.Stage]) -> list[str]:
    """The stages' word on their settings (`Stage.warnings`), printed as warnings and returned."""
    lines = [w for st in stage_list for w in st.warnings()]
    warn(lines)
    return lines


def _check_output(run_dir: Path) -> None:
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"output {run_dir} exists and is not a directory")
    if run_dir.is_dir() and any(run_dir.iterdir()) and not RunDir(run_dir).state.is_dir():
        raise UserError(f"output {run_dir} is not empty and holds no Thresher run; choose another output")


def _print_plan(bp: BuildPlan, out) -> None:
    """``--dry-run``: the tasks, the passes and the resolved stages; nothing is written."""
    print(f"pipeline {bp.cfg.name}: {len(bp.tasks)} task(s), {len(bp.passes)} pass(es), output {bp.run.root}",
          file=out)
    for t in bp.tasks:
        print(f"  task {t.id}: " + ", ".join(sl.file for sl in t.slices), file=out)
    for s in bp.resolved["stages"]:
        print(f"  stage {s}", file=out)


def _identify(bp: BuildPlan) -> list[dict[str, Any]]:
    """Each input's identity by content, taken at plan time: the tasks' slices carry their input's sha256,
    so a rerun after an input was edited plans other tasks (the run state refuses to mix them), and the
    manifest records the hashes of what the tasks read, not of what the files hold at the end. Returns
    the manifest's input entries."""
    inputs = plan.expand_inputs(bp.cfg)
    with ThreadPoolExecutor(max(1, min(bp.cfg.workers, len(inputs)))) as pool:  # hashlib releases the GIL
        entries = list(pool.map(lambda args: manifest.input_entry(*args), inputs))
    sha = {path: e["sha256"] for (path, _, _), e in zip(inputs, entries, strict=True)}
    bp.tasks = [plan.Task(t.id, tuple(replace(s, sha256=sha.get(s.path)) for s in t.slices)) for t in bp.tasks]
    return entries


def _open_run(run: RunDir, restart: bool) -> None:
    with _os_faults(run.root):
        if restart and (aside := runstate.move_aside(run.root)) is not None:
            print(f"thresher: moved the earlier run in {run.root} to {aside}", file=sys.stderr)
        run.root.mkdir(parents=True, exist_ok=True)


def _prepare(bp: BuildPlan, limit: int | None) -> str:
    """Under the lock: check or start the run state, sweep unfinished writes, write ``config.yaml``.
    Returns when the run started (its first build)."""
    state = {"config_sha256": bp.config_sha, "limit": limit, "started": _now(),
             "tasks": [t.to_dict() for t in bp.tasks]}
    state = runstate.prepare(bp.run.root, state, bp.resolved)
    _sweep_temp_files(bp.run, bp.labels)
    atomic.write_bytes(bp.run.config, yaml.safe_dump(bp.resolved, sort_keys=False).encode())
    return state["started"]


def _sweep_temp_files(run: RunDir, labels: list[str]) -> None:
    """Delete writes that never finished. Under the lock no other build is alive, so a ``.*.tmp`` in
    the run's own folders (the stages' state folders ``RUN/<label>/`` too) belongs to a killed process
    (its task is redone without a marker)."""
    folders = (STATE, WORK, DATA, EXCLUDED, REVIEW, QUARANTINE, *labels)
    for p in [*run.root.glob(".*.tmp"), *(q for d in folders for q in (run.root / d).rglob(".*.tmp"))]:
        p.unlink(missing_ok=True)


def _account(bp: BuildPlan, outcome: Outcome, results: list[TaskResult], config_warnings: list[str],
             t0: float) -> dict[str, Any]:
    """Finalize every stage, sum the ledger, check it, and write ``stats.json``."""
    kept = sum(o["docs"] for r in results for o in r.outputs)
    run_counts = {}
    for st in bp.stages:
        run_ctx = RunContext(st.label, bp.run, bp.resolved, results)
        st.finalize(run_ctx)
        run_counts[st.label] = run_ctx.extra
    stats = ledger.summarize(ledger.stage_rows(bp.stages), results, kept, outcome.phases,
                             time.perf_counter() - t0, run_counts, outcome.duplicates)
    stats["warnings"] = config_warnings + ledger.warnings(stats)
    warn(stats["warnings"][len(config_warnings):])
    atomic.write_json(bp.run.stats, stats)
    return stats


def _write_manifest(bp: BuildPlan, results: list[TaskResult], inputs: list[dict[str, Any]], started: str) -> None:
    data_docs = {o["path"]: o["docs"] for r in results for o in r.outputs}
    atomic.write_json(bp.run.manifest, manifest.build(
        bp.run.root, name=bp.cfg.name, config=bp.resolved, config_sha=bp.config_sha, inputs=inputs,
        data_docs=data_docs, started=started, finished=_now()))


def _check_error_rate(results_by_pass: list[list[dict]], max_rate: float) -> None:
    """Stop the build when stages failed on more than ``max_rate`` of the records read."""
    read = sum(r["read"] for r in results_by_pass[0])
    per_stage: Counter = Counter()
    for results in results_by_pass:
        for r in results:
            for label, st in r["stages"].items():
                per_stage[label] += st.get("quarantined", {}).get(STAGE_ERROR, 0)
    errors = sum(per_stage.values())
    if errors > max_rate * read:
        where = ", ".join(f"{label} {n}" for label, n in per_stage.most_common() if n)
        raise Fault(f"stages failed on {errors} of {read} records ({errors / read:.1%}, {where}), more than "
                    f"max_error_rate {max_rate:.1%}; quarantine/ names each document and exception type: fix the "
                    "stage or raise max_error_rate, then rerun the same command to resume")


def _run_tasks(bp: BuildPlan, k: int, executor, view: progress.Progress, limit: int | None, label: str,
               settled: dict[str, Any] | None = None) -> list[dict]:
    """Run pass ``k`` of every task without a marker (and, once ``settled``, redo the read pass of each
    task holding a repeated id that has not run with its repeats applied); results in plan order."""
    done: dict[str, dict] = {}
    todo: list[int] = []
    repeats = (settled or {}).get("repeats", {})
    for i, t in enumerate(bp.tasks):
        m = bp.run.marker(k, t.id)
        if m.exists():
            done[t.id] = atomic.read_json(m)
            if not (t.id in repeats and not done[t.id].get(duplicate_ids.SETTLED_KEY)):
                continue
        todo.append(i)
    if not todo:
        view.log(f"{label}: all {len(bp.tasks)} task(s) already done")
        return [done[t.id] for t in bp.tasks]
    view.start_pass(label, len(todo))
    extra = (lambda i: {"repeats": repeats.get(bp.tasks[i].id, [])}) if settled else (lambda i: {})
    jobs = [bp.job(k, i, **extra(i)) for i in todo]
    if limit is not None and k == 0:
        # in order, in this process: each task's record budget is what the tasks before it left
        pending, used = {j.task.id: j for j in jobs}, 0
        for t in bp.tasks:
            if t.id in pending:
                done[t.id] = run_pass(replace(pending[t.id], limit=max(0, limit - used)))
                view.task_done(done[t.id])
            used += done[t.id]["read"]
    else:
        for r in executor.map(run_pass, jobs, on_done=view.task_done):
            done[r["task"]] = r
    view.close()
    return [done[t.id] for t in bp.tasks]


def _settle_ids(bp: BuildPlan, executor, view: progress.Progress, limit: int | None) -> tuple[list[dict], dict]:
    """After the read pass: rank every id across the run (`duplicate_ids.settle`, once across resumes);
    under ``suffix`` or ``quarantine`` redo the read pass of the tasks holding a repeat."""
    path = bp.run.state / duplicate_ids.SETTLED
    settled = atomic.read_json(path) if path.exists() else duplicate_ids.settle(bp.run.state, bp.task_ids)
    if bp.cfg.reader.duplicate_ids == "keep":
        settled = {**settled, "repeats": {}}
    return _run_tasks(bp, 0, executor, view, limit, "pass 1 (ids seen before)", settled), settled


def _reduce(bp: BuildPlan, stage: base.Stage, executor, view: progress.Progress) -> dict[str, Any]:
    """``stage``'s global phase, once across resumes; returns its phase figures for the ledger."""
    ctx = ReduceContext(stage.label, bp.run, bp.task_ids, bp.cfg.workers, executor.map)
    reduce_marker = bp.run.reduce_marker(stage.label)
    if reduce_marker.exists():
        return atomic.read_json(reduce_marker)
    view.log(f"{stage.label}: global phase")
    stage.reduce(ctx)
    atomic.write_json(reduce_marker, ctx.phases)
    return ctx.phases


def _run_passes(bp: BuildPlan, executor, view: progress.Progress, limit: int | None) -> Outcome:
    outcome = Outcome()
    for k, cut in enumerate(bp.passes):
        scan_stage = bp.scan_stage(cut)
        label = f"pass {k + 1}/{len(bp.passes)}" + (f" (to {scan_stage.label})" if scan_stage else "")
        results = _run_tasks(bp, k, executor, view, limit, label)
        if k == 0:
            results, settled = _settle_ids(bp, executor, view, limit)
            outcome.duplicates = settled["counts"]
        outcome.results_by_pass.append(results)
        _check_error_rate(outcome.results_by_pass, bp.cfg.max_error_rate)
        if scan_stage is not None:
            outcome.phases[scan_stage.label] = _reduce(bp, scan_stage, executor, view)
    return outcome
