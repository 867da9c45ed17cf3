"""Run a pipeline: plan, run every pass on the executor with barriers, account, write the manifest.

The engine owns ordering, phases, markers and accounting; stages own their decisions. Rerunning the
same command resumes: a task with a marker is skipped, a task without one is redone from scratch.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from corpus.config import PipelineConfig
from corpus.engine import duplicate_ids, ledger, manifest, plan, progress, runstate
from corpus.engine.context import ReduceContext, RunContext
from corpus.engine.ledger import TaskResult
from corpus.engine.quarantine import DIR as QUARANTINE
from corpus.engine.quarantine import STAGE_ERROR
from corpus.engine.task import STATE, WORK, marker_path, passes, run_pass
from corpus.errors import Fault, InvariantError, UserError, os_fault
from corpus.io import atomic
from corpus.rundir import in_run
from corpus.stages import base


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


def _sweep_temp_files(run_dir: Path, labels: list[str]) -> None:
    """Delete writes that never finished. Under the lock no other build is alive, so a ``.*.tmp`` in
    the run's own folders (the stages' state folders ``RUN/<label>/`` too) belongs to a killed process
    (its task is redone without a marker)."""
    folders = (STATE, WORK, "data", "excluded", "review", QUARANTINE, *labels)
    for p in [*run_dir.glob(".*.tmp"), *(q for d in folders for q in (run_dir / d).rglob(".*.tmp"))]:
        p.unlink(missing_ok=True)


def _merge(results_by_pass: list[list[dict]]) -> list[TaskResult]:
    """One ledger entry per task from its entries in every pass."""
    merged: list[TaskResult] = []
    for i, first in enumerate(results_by_pass[0]):
        tr = TaskResult.from_dict(first)
        for later in results_by_pass[1:]:
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
        restart: bool = False, out=sys.stdout) -> dict[str, Any]:
    """Build the pipeline; returns ``stats.json``'s content. Raises `InvariantError` if accounting fails.

    ``restart`` first moves an existing run in the output aside (``<name>.old-<time>``)."""
    t0 = time.perf_counter()
    run_dir = cfg.output_dir
    _check_output(run_dir)
    resolved = cfg.resolved()
    config_sha = cfg.sha256()
    tasks = plan.plan(cfg)
    stage_list = [base.build(s)[0] for s in resolved["stages"]]
    labels = [s.label for s in stage_list]
    if len(set(labels)) != len(labels):
        dup = next(lb for lb in labels if labels.count(lb) > 1)
        raise UserError(f"stage label {dup!r} is used twice; give one of them 'label: <other name>'")
    pass_plan = passes(stage_list)
    config_warnings = stage_warnings(stage_list)
    if dry_run:
        print(f"pipeline {cfg.name}: {len(tasks)} task(s), {len(pass_plan)} pass(es), output {run_dir}", file=out)
        for t in tasks:
            print(f"  task {t.id}: " + ", ".join(sl.file for sl in t.slices), file=out)
        for s in resolved["stages"]:
            print(f"  stage {s}", file=out)
        return {}

    tasks, inputs = _identify(cfg, tasks)
    state = {"config_sha256": config_sha, "limit": limit, "started": _now(),
             "tasks": [t.to_dict() for t in tasks]}
    view = progress.Progress(quiet=quiet)
    with _os_faults(run_dir):
        if restart and (aside := runstate.move_aside(run_dir)) is not None:
            print(f"thresher: moved the earlier run in {run_dir} to {aside}", file=sys.stderr)
        run_dir.mkdir(parents=True, exist_ok=True)
    with _os_faults(run_dir), runstate.locked(run_dir):
        state = runstate.prepare(run_dir, state, resolved)
        _sweep_temp_files(run_dir, labels)
        atomic.write_bytes(run_dir / "config.yaml", yaml.safe_dump(resolved, sort_keys=False).encode())
        executor = make_executor(cfg, view)
        try:
            results_by_pass, phases, duplicates = _run_passes(cfg, run_dir, resolved, config_sha, tasks, stage_list,
                                                  pass_plan, executor, view, limit)
            results = _merge(results_by_pass)
            kept = sum(o["docs"] for r in results for o in r.outputs)
            run_counts = {}
            for st in stage_list:
                run_ctx = RunContext(st.label, run_dir, resolved, results)
                st.finalize(run_ctx)
                run_counts[st.label] = run_ctx.extra
            stats = ledger.summarize(ledger.stage_rows(stage_list), results, kept, phases, time.perf_counter() - t0,
                                     run_counts, duplicates)
            stats["warnings"] = config_warnings + ledger.warnings(stats)
            warn(stats["warnings"][len(config_warnings):])
            atomic.write_json(run_dir / "stats.json", stats)
            data_docs = {o["path"]: o["docs"] for r in results for o in r.outputs}
            atomic.write_json(run_dir / "manifest.json", manifest.build(
                run_dir, name=cfg.name, config=resolved, config_sha=config_sha, inputs=inputs,
                data_docs=data_docs, started=state["started"], finished=_now()))
        finally:
            executor.close()
            view.close()
        shutil.rmtree(run_dir / WORK, ignore_errors=True)
    if cfg.report:
        from corpus.report import write_reports

        write_reports(run_dir, cfg.report["formats"])
    if not quiet:
        print(ledger.format_table(stats), file=out)
        print(f"\nrun directory: {run_dir}", file=out)
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
    if run_dir.is_dir() and any(run_dir.iterdir()) and not (run_dir / STATE).is_dir():
        raise UserError(f"output {run_dir} is not empty and holds no Thresher run; choose another output")


def _identify(cfg: PipelineConfig, tasks: list[plan.Task]) -> tuple[list[plan.Task], list[dict[str, Any]]]:
    """Each input's identity by content, taken at plan time: the tasks' slices carry their input's sha256,
    so a rerun after an input was edited plans other tasks (the run state refuses to mix them), and the
    manifest records the hashes of what the tasks read, not of what the files hold at the end."""
    inputs = plan.expand_inputs(cfg)
    with ThreadPoolExecutor(max(1, min(cfg.workers, len(inputs)))) as pool:  # hashlib releases the GIL
        entries = list(pool.map(lambda args: manifest.input_entry(*args), inputs))
    sha = {path: e["sha256"] for (path, _, _), e in zip(inputs, entries, strict=True)}
    return [plan.Task(t.id, tuple(replace(s, sha256=sha.get(s.path)) for s in t.slices)) for t in tasks], entries


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


def _run_tasks(run_dir, resolved, config_sha, tasks, k, executor, view, limit, label,
               settled: dict[str, Any] | None = None) -> list[dict]:
    """Run pass ``k`` of every task without a marker (and, once ``settled``, redo the read pass of each
    task holding a repeated id that has not run with its repeats applied); results in plan order."""
    done: dict[str, dict] = {}
    todo = []
    repeats = (settled or {}).get("repeats", {})
    for t in tasks:
        m = marker_path(run_dir, k, t.id)
        if m.exists():
            done[t.id] = atomic.read_json(m)
            if not (t.id in repeats and not done[t.id].get(duplicate_ids.SETTLED_KEY)):
                continue
        todo.append(t)
    if not todo:
        view.log(f"{label}: all {len(tasks)} task(s) already done")
        return [done[t.id] for t in tasks]
    view.start_pass(label, len(todo))
    jobs = [{"run_dir": str(run_dir), "config": resolved, "config_sha": config_sha, "pass": k,
             "task": t.to_dict(), **({"repeats": repeats.get(t.id, [])} if settled else {})} for t in todo]
    if limit is not None and k == 0:
        # in order, in this process: each task's record budget is what the tasks before it left
        pending, used = {j["task"]["id"]: j for j in jobs}, 0
        for t in tasks:
            if t.id in pending:
                done[t.id] = run_pass({**pending[t.id], "limit": max(0, limit - used)})
                view.task_done(done[t.id])
            used += done[t.id]["read"]
    else:
        for r in executor.map(run_pass, jobs, on_done=view.task_done):
            done[r["task"]] = r
    view.close()
    return [done[t.id] for t in tasks]


def _settle_ids(cfg, run_dir, resolved, config_sha, tasks, executor, view, limit) -> tuple[list[dict], dict]:
    """After the read pass: rank every id across the run (`duplicate_ids.settle`, once across resumes);
    under ``suffix`` or ``quarantine`` redo the read pass of the tasks holding a repeat."""
    path = run_dir / STATE / duplicate_ids.SETTLED
    settled = (atomic.read_json(path) if path.exists()
               else duplicate_ids.settle(run_dir / STATE, [t.id for t in tasks]))
    if cfg.reader["duplicate_ids"] == "keep":
        settled = {**settled, "repeats": {}}
    label = "pass 1 (ids seen before)"
    return _run_tasks(run_dir, resolved, config_sha, tasks, 0, executor, view, limit, label, settled), settled


def _run_passes(cfg, run_dir, resolved, config_sha, tasks, stage_list, pass_plan, executor, view, limit):
    results_by_pass: list[list[dict]] = []
    phases: dict[str, Any] = {}
    counts: dict[str, int] = {}
    for k, (_, _, scan_stage) in enumerate(pass_plan):
        label = f"pass {k + 1}/{len(pass_plan)}" + (f" (to {scan_stage.label})" if scan_stage else "")
        results = _run_tasks(run_dir, resolved, config_sha, tasks, k, executor, view, limit, label)
        if k == 0:
            results, settled = _settle_ids(cfg, run_dir, resolved, config_sha, tasks, executor, view, limit)
            counts = settled["counts"]
        results_by_pass.append(results)
        _check_error_rate(results_by_pass, cfg.max_error_rate)
        if scan_stage is not None:
            ctx = ReduceContext(scan_stage.label, run_dir, [t.id for t in tasks], cfg.workers, executor.map)
            reduce_marker = in_run(run_dir, STATE, f"reduce-{scan_stage.label}.json")
            if reduce_marker.exists():
                ctx.phases = atomic.read_json(reduce_marker)
            else:
                view.log(f"{scan_stage.label}: global phase")
                scan_stage.reduce(ctx)
                atomic.write_json(reduce_marker, ctx.phases)
            phases[scan_stage.label] = ctx.phases
    return results_by_pass, phases, counts
