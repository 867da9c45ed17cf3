"""Who owns a run directory, and whether a rerun continues it: the lock, the run's state, ``--restart``.

A rerun of the same config resumes. A rerun with another config (or ``--limit``, or changed inputs)
would mix two runs in one folder, so it is refused once any task has finished, with what differs and
the way on (``--restart`` moves the old run aside; nothing is ever deleted). Before any task has
finished there is nothing to protect: a build that failed on a config mistake is simply rerun, and
what the failed attempt left is deleted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from corpus.config import identity
from corpus.errors import Fault, UserError
from corpus.io import atomic
from corpus.rundir import RunDir


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@contextlib.contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    """Hold ``RUN/.state/lock`` (an ``flock``) while the build runs; the file names the holder."""
    path = RunDir(run_dir).lock
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "a process that did not say which"
            raise Fault(f"another build is running in {run_dir} ({holder}): wait for it to finish, "
                        "or stop that process and rerun") from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} on host {socket.gethostname()}, since {_now()}\n")
        f.flush()
        yield


def _finished_tasks(run_dir: Path) -> int:
    return len({p.name for p in RunDir(run_dir).markers()})


def _differences(old: Any, new: Any, where: str = "") -> list[str]:
    """Dotted keys whose values differ between two resolved configs (a stage replaced by another, or
    a list of another length, is named as a whole)."""
    if isinstance(old, dict) and isinstance(new, dict) and "stage" in old and old.get("stage") != new.get("stage"):
        return [f"{where}: {old['stage']} -> {new.get('stage')}"]
    if isinstance(old, list) and isinstance(new, list) and len(old) != len(new):
        return [f"{where}: {len(old)} -> {len(new)} entries"]
    if isinstance(old, dict) and isinstance(new, dict):
        return [d for k in sorted(set(old) | set(new), key=str)
                for d in _differences(old.get(k), new.get(k), f"{where}.{k}" if where else str(k))]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [d for i, (a, b) in enumerate(zip(old, new, strict=True)) for d in _differences(a, b, f"{where}[{i}]")]
    return [] if old == new else [where or "config"]


def _inputs_changed(old_tasks: list[dict[str, Any]], new_tasks: list[dict[str, Any]]) -> str:
    """What changed in the inputs: the inputs whose content hash (taken when the build plans) differs,
    else how the task plan moved."""
    def hashes(tasks: list[dict[str, Any]]) -> dict[str, str | None]:
        return {sl["file"]: sl.get("sha256") for t in tasks for sl in t["slices"]}

    before, now = hashes(old_tasks), hashes(new_tasks)
    edited = [f for f in now if f in before and before[f] != now[f]]
    if edited:
        more = f" and {len(edited) - 1} more" if len(edited) > 1 else ""
        return f"input {edited[0]}{more} changed since the run started (sha256 differs)"
    return f"the inputs changed ({len(old_tasks)} task(s) then, {len(new_tasks)} now)"


def _what_differs(run_dir: Path, old: dict[str, Any], state: dict[str, Any], resolved: dict[str, Any]) -> str:
    said = []
    if old["config_sha256"] != state["config_sha256"]:
        before = RunDir(run_dir).config
        keys = (_differences(identity(yaml.safe_load(before.read_text(encoding="utf-8")) or {}), identity(resolved))
                if before.is_file() else [])
        said.append("the pipeline config differs" + (f" ({', '.join(keys[:4])}{', ...' if len(keys) > 4 else ''})"
                                                     if keys else ""))
    if old.get("limit") != state.get("limit"):
        said.append(f"--limit was {old.get('limit')}, now {state.get('limit')}")
    if old["tasks"] != state["tasks"]:
        said.append(_inputs_changed(old["tasks"], state["tasks"]))
    return "; ".join(said)


def prepare(run_dir: Path, state: dict[str, Any], resolved: dict[str, Any]) -> dict[str, Any]:
    """Start the run's state, or check that ``run_dir`` holds this same run; returns the state to use."""
    state_file = RunDir(run_dir).run_state
    if state_file.exists():
        old = atomic.read_json(state_file)
        differs = _what_differs(run_dir, old, state, resolved)
        if not differs:
            return old
        finished = _finished_tasks(run_dir)
        if finished:
            raise UserError(f"output {run_dir} holds a run that differs: {differs}; {finished} task(s) of it are "
                            "finished, so rerun with --restart to move it aside and start again, or choose "
                            "another output")
        _clear_unfinished(run_dir)
    atomic.write_json(state_file, state)
    return state


def _clear_unfinished(run_dir: Path) -> None:
    """Delete what an earlier attempt of another config left (its stages' state folders, saved streams,
    partial shards): no task of it finished, so nothing is lost, and none of it may reach this run's
    manifest. The lock, held by this build, stays."""
    run = RunDir(run_dir)
    for p in run_dir.iterdir():
        for q in ([x for x in p.iterdir() if x != run.lock] if p == run.state and p.is_dir() else [p]):
            shutil.rmtree(q) if q.is_dir() and not q.is_symlink() else q.unlink()


def move_aside(run_dir: Path) -> Path | None:
    """``--restart``: rename an existing run to ``<name>.old-<UTC time>`` beside it (never delete it)."""
    if not RunDir(run_dir).state.is_dir():
        return None
    with locked(run_dir):  # refuses while another build runs in it
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        aside = run_dir.with_name(f"{run_dir.name}.old-{stamp}")
        n = 1
        while aside.exists():
            n += 1
            aside = run_dir.with_name(f"{run_dir.name}.old-{stamp}-{n}")
        run_dir.rename(aside)
    return aside
