"""The local executor: tasks on a pool of worker processes (or in-process for one worker).

It knows nothing of stages: it maps a function over jobs. Workers die with the build (Linux
``PR_SET_PDEATHSIG``), so a killed build never leaves orphans writing into the run directory.
The pool's modules (multiprocessing, ctypes) are imported when a pool starts: a one-worker build
runs its tasks in-process and never needs them.
"""

from __future__ import annotations

import os
import queue as queue_mod
import signal
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from corpus.engine import progress

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor


def _die_with_parent() -> None:
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


# How many worker processes share the machine: stages with their own thread pools (the tokenizers
# Rust pool) give each worker cores / workers threads instead of every core.
WORKERS_ENV = "THRESHER_WORKERS"


def stage_env() -> dict[str, str]:
    """The environment stages read (caches, model hubs, tldextract), passed on to every worker."""
    return {k: v for k, v in os.environ.items() if k.startswith(("THRESHER_", "TLDEXTRACT_", "HF_"))}


def _init_worker(q: Any, env: dict[str, str]) -> None:
    _die_with_parent()
    os.environ.update(env)
    progress.set_queue(q)


class LocalExecutor:
    def __init__(self, workers: int, progress_view: progress.Progress | None = None):
        self.workers = max(1, workers)
        self.view = progress_view
        self._pool: ProcessPoolExecutor | None = None
        self._queue: Any = None
        self._drain: threading.Thread | None = None
        self._stop = threading.Event()

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            ctx = mp.get_context("spawn")
            self._queue = ctx.Queue()
            self._pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker,
                                             initargs=(self._queue, {**stage_env(), WORKERS_ENV: str(self.workers)}))
            self._drain = threading.Thread(target=self._drain_queue, daemon=True)
            self._drain.start()
        return self._pool

    def _drain_queue(self) -> None:
        while not self._stop.is_set():
            try:
                n = self._queue.get(timeout=0.2)
            except queue_mod.Empty:
                continue
            except (EOFError, OSError):
                return
            if self.view is not None:
                self.view.advance(n)

    def map(self, fn: Callable[[Any], Any], jobs: Sequence[Any],
            on_done: Callable[[Any], None] | None = None) -> list[Any]:
        """Results in job order; ``on_done`` sees each as it completes."""
        if self.workers == 1 or len(jobs) <= 1:
            results = []
            for job in jobs:
                r = fn(job)
                progress.flush()
                if on_done:
                    on_done(r)
                results.append(r)
            return results
        from concurrent.futures import as_completed

        pool = self._ensure_pool()
        futures = {pool.submit(fn, job): i for i, job in enumerate(jobs)}
        out: list[Any] = [None] * len(jobs)
        for fut in as_completed(futures):
            r = fut.result()
            out[futures[fut]] = r
            if on_done:
                on_done(r)
        return out

    def close(self) -> None:
        self._stop.set()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
