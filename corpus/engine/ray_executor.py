"""The Ray executor: the engine's tasks as Ray tasks, on a local Ray instance or an existing cluster.

It has `LocalExecutor`'s interface (``map`` over jobs, results in job order, ``close``, ``workers``),
so the engine's passes, barriers, reduce sub-phases and completion markers are the same code on one
machine and on a cluster, and ``data/`` comes out byte-identical. Tasks write their outputs and
markers straight into the run directory; only the small ledger entries travel back through Ray. That
is why the run directory must sit at the same path on every node: a local path on one machine, a
shared filesystem on a cluster.

Ray keeps a worker process for many tasks (its default for CPU tasks), so the engine's per-process
stage cache sets each stage up once per worker, as in the local pool.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import ray  # without Ray this raises ImportError, which the engine turns into how to install it
from ray.exceptions import AuthenticationError, RayTaskError

from corpus.engine import progress
from corpus.engine.executor import WORKERS_ENV, stage_env
from corpus.errors import Fault, UserError

MAX_RETRIES = 3
"""Reruns of a task whose worker died (crash, OOM kill, lost node) or that raised `OSError` (a shared
filesystem hiccup). Rerunning is safe: a task names every output after its id and clears what an
earlier attempt left before it starts."""

_POLL_S = 0.5  # how often the driver collects finished tasks and documents read
_CANCEL_WAIT_S = 30.0


@ray.remote(num_cpus=0)
class _DocCounter:
    """Documents read, summed from every worker's `progress.tick` until the driver takes them."""

    def __init__(self) -> None:
        self._n = 0

    def add(self, n: int) -> None:
        self._n += n

    def take(self) -> int:
        n, self._n = self._n, 0
        return n


class _CounterSink:
    """The ``put`` that `progress.set_queue` expects, sent to the counter without waiting for it."""

    def __init__(self, counter: Any) -> None:
        self._counter = counter
        self.last: Any = None

    def put(self, n: int) -> None:
        self.last = self._counter.add.remote(n)


def _node_cpus() -> int:
    """Ray CPUs of this worker's node: how many one-CPU tasks share its cores at once."""
    node = ray.get_runtime_context().get_node_id()
    return next((int(n["Resources"].get("CPU", 1)) for n in ray.nodes() if n["NodeID"] == node), 1)


@ray.remote(num_cpus=1, max_retries=MAX_RETRIES, retry_exceptions=[OSError])
def _run(fn: Callable[[Any], Any], job: Any, counter: Any) -> Any:
    if WORKERS_ENV not in os.environ:  # once per worker process; nodes of a cluster differ in size
        os.environ[WORKERS_ENV] = str(_node_cpus())
    sink = _CounterSink(counter) if counter is not None else None
    progress.set_queue(sink)
    result = fn(job)
    progress.flush()
    if sink is not None and sink.last is not None:
        # an actor runs one caller's calls in order: once the last is in, this task's count is, so
        # the driver's total is exact when the task's result arrives
        ray.get(sink.last)
    return result


def _check_reachable(address: str) -> None:
    """Fail fast, in one line, on a ``HOST:PORT`` nobody listens on: Ray itself retries for minutes."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or "://" in address:
        return  # "auto", a ray:// client address: Ray resolves those itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=10).close()
    except OSError as e:
        raise UserError(f"cannot reach the Ray cluster at {address} ({e.strerror or e}); "
                        "start it with `ray start --head` or check --ray-address") from None


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _check_auth(address: str) -> None:
    """Fail in one line when the cluster refuses this process's token. ``ray start --head`` turns token
    authentication on, and ``ray.init`` then only says it failed to connect (after 20 s of retries)."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or "://" in address:
        return
    try:
        from ray._raylet import GcsClient  # Ray's own GCS client: one key lookup, answered at once

        with _native_stderr_silenced():  # its C++ side logs each refusal on fd 2; the Fault says it once
            GcsClient(address=address).internal_kv_get(b"thresher-auth-probe", namespace=None, timeout=10)
    except AuthenticationError:
        raise Fault(f"the Ray cluster at {address} refused authentication: it uses token authentication, so set "
                    "RAY_AUTH_MODE=token and give its token (RAY_AUTH_TOKEN, or RAY_AUTH_TOKEN_PATH, by default "
                    "~/.ray/auth_token, copied from the head node); see docs/ray.md, Token authentication") from None
    except Exception:  # noqa: BLE001 - a probe only: anything else is left to ray.init to report
        return


def _connect(workers: int, address: str | None) -> None:
    """Join the cluster at ``address`` (or ``RAY_ADDRESS``), else start a local instance of ``workers`` CPUs.

    Without an address the instance is always a new one (Ray's ``"local"``), never a cluster that
    happens to run on this machine: joining one takes ``--ray-address auto``, said explicitly. Its
    workers run at the user's priority, like the local executor's, not at Ray's default nice 15,
    which on a machine shared with other work leaves them only the CPU that work does not want
    (``RAY_worker_niceness`` in the environment overrides this).
    """
    address = address or os.environ.get("RAY_ADDRESS")
    env = stage_env()
    # Ray's notice that it turned token authentication on for a new instance is noise for a build.
    logging.getLogger("ray._private.authentication").setLevel(logging.ERROR)
    options: dict[str, Any] = {"logging_level": logging.WARNING,
                               "runtime_env": {"env_vars": env} if env else None}
    if address:
        _check_reachable(address)
        _check_auth(address)
        try:
            ray.init(address=address, **options)
        except ConnectionError as e:  # something listens there, but not a Ray GCS
            raise UserError(f"{e}; is --ray-address the head node's `ray start --head` address (port 6379)?") from None
    else:
        niceness = {} if "RAY_worker_niceness" in os.environ else {"worker_niceness": 0}
        ray.init(address="local", num_cpus=workers, include_dashboard=False, _system_config=niceness, **options)


def _result(ref: Any) -> Any:
    """The task's return value; a task's own exception is raised as itself, as the local pool does."""
    try:
        return ray.get(ref)
    except RayTaskError as e:
        raise e.cause from e


def _cancel(refs: list[Any]) -> None:
    """Stop queued and running tasks and wait for them, so none writes after the build lets go of the run."""
    if not refs:
        return
    for ref in refs:
        ray.cancel(ref)
    ray.wait(refs, num_returns=len(refs), timeout=_CANCEL_WAIT_S)


class RayExecutor:
    """Runs each job as one Ray task of one CPU.

    If Ray is already initialized in this process (a notebook, a test, an application that embeds
    Thresher), the executor uses that connection and leaves it open on ``close``; otherwise it
    connects (``address``) or starts a local instance, and shuts down exactly that.
    """

    def __init__(self, workers: int, address: str | None = None,
                 progress_view: progress.Progress | None = None):
        self.view = progress_view
        self._owner = not ray.is_initialized()
        task = _run
        if self._owner:
            _connect(max(1, workers), address)
        elif stage_env():  # the connection is someone else's: give the stages' environment per task
            task = _run.options(runtime_env={"env_vars": stage_env()})
        self._task = task
        self._counter: Any = None
        self.workers = max(1, int(ray.cluster_resources().get("CPU", workers)))

    def _doc_counter(self) -> Any:
        if self._counter is None and self.view is not None and not self.view.quiet:
            self._counter = _DocCounter.remote()
        return self._counter

    def _report_docs(self) -> None:
        if self._counter is not None:
            n = ray.get(self._counter.take.remote())
            if n:
                self.view.advance(n)

    def map(self, fn: Callable[[Any], Any], jobs: Sequence[Any],
            on_done: Callable[[Any], None] | None = None) -> list[Any]:
        """Results in job order; ``on_done`` sees each as it completes. A failure cancels the rest."""
        if not jobs:
            return []
        fn_ref = ray.put(fn)
        counter = self._doc_counter()
        refs = [self._task.remote(fn_ref, job, counter) for job in jobs]
        index = {ref: i for i, ref in enumerate(refs)}
        out: list[Any] = [None] * len(jobs)
        pending = refs
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=len(pending), timeout=_POLL_S)
                for ref in ready:
                    r = _result(ref)
                    out[index[ref]] = r
                    if on_done:
                        on_done(r)
                self._report_docs()
        except BaseException:
            _cancel(pending)
            raise
        return out

    def close(self) -> None:
        if self._counter is not None:
            ray.kill(self._counter)
            self._counter = None
        if self._owner and ray.is_initialized():
            ray.shutdown()
