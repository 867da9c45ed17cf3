"""Live progress: a bar with docs/s and per-stage counts on a terminal, plain log lines otherwise.

Off a terminal (a log file, a pipe) there is a line when a pass starts, a line each time another
tenth of the pass's tasks is done, and a heartbeat line every `HEARTBEAT_S` seconds in between, so
a long task still shows documents moving. Workers report documents read through a queue (set up by
the executor); the main process draws.
"""

from __future__ import annotations

import sys
import time
from typing import Any

_queue: Any = None  # set in worker processes by the executor
_local: Progress | None = None  # set when tasks run in the main process
_pending = 0
_last = 0.0
HEARTBEAT_S = 30.0  # off a terminal: the longest silence while documents are being read


def set_queue(queue: Any) -> None:
    global _queue
    _queue = queue


def tick(n: int = 1) -> None:
    """Called by readers; batched so the queue carries a few messages a second at most."""
    global _pending, _last
    _pending += n
    now = time.monotonic()
    if now - _last < 0.25:
        return
    _last = now
    if _local is not None:
        _local.advance(_pending)
    elif _queue is not None:
        _queue.put(_pending)
    _pending = 0


def flush() -> None:
    global _pending
    if _pending:
        if _local is not None:
            _local.advance(_pending)
        elif _queue is not None:
            _queue.put(_pending)
    _pending = 0


class Progress:
    """Documents read, tasks done, and kept/removed so far, for one pass at a time."""

    def __init__(self, quiet: bool = False, stream=None):
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr  # the one current when the build starts
        self.tty = self.stream.isatty()
        self.bar = None
        self.docs = 0
        self.t0 = time.monotonic()
        self.last_log = 0.0
        self.label = ""
        self.kept = 0
        self.removed = 0
        self.total = 0
        self.done = 0
        self.tenths = 0  # tenths of the pass's tasks already logged

    def start_pass(self, label: str, total_tasks: int) -> None:
        global _local
        _local = self
        self.label = label
        self.kept = self.removed = 0  # per pass: a later pass re-reads what the earlier one passed
        self.total, self.done, self.tenths = total_tasks, 0, 0
        if self.quiet:
            return
        if self.tty:
            from tqdm import tqdm

            self.close()
            self.bar = tqdm(total=total_tasks, desc=label, unit="task", file=self.stream, dynamic_ncols=True)
        else:
            self.log(f"{label}: {total_tasks} task(s) to run")

    def advance(self, n: int) -> None:
        self.docs += n
        self._refresh()

    def task_done(self, result: dict[str, Any]) -> None:
        for st in result["stages"].values():
            self.removed += sum(st["removed"].values())
        self.kept += sum(o["docs"] for o in result["outputs"])
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
        tenths = self.done * 10 // max(1, self.total)
        self._refresh(force=tenths > self.tenths)
        self.tenths = max(self.tenths, tenths)

    def _refresh(self, force: bool = False) -> None:
        if self.quiet:
            return
        rate = self.docs / max(1e-9, time.monotonic() - self.t0)
        status = f"{self.docs} docs read, {rate:,.0f} docs/s, passed {self.kept}, removed {self.removed}"
        if self.bar is not None:
            self.bar.set_postfix_str(status, refresh=True)
        elif force or time.monotonic() - self.last_log > HEARTBEAT_S:
            self.last_log = time.monotonic()
            share = f"{self.done}/{self.total} tasks ({self.done * 100 // max(1, self.total)}%), "
            self.log(f"{self.label}: {share}{status}")

    def log(self, msg: str) -> None:
        if not self.quiet:
            print(f"[thresher] {msg}", file=self.stream, flush=True)

    def close(self) -> None:
        global _local
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        _local = None
