"""Peak memory per phase: the resident-set high-water mark, reset at the start of each phase.

Linux lets a process reset its own ``VmHWM`` by writing ``5`` to ``/proc/self/clear_refs``; without
that (other systems), the figure is the process's lifetime peak from ``getrusage``, an upper bound.
"""

from __future__ import annotations

import functools
import resource
import sys
from collections.abc import Callable
from typing import Any


def reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(rss / (1 << 20 if sys.platform == "darwin" else 1024), 1)


def measured(fn: Callable[[Any], dict[str, Any]]) -> Callable[[Any], dict[str, Any]]:
    """Decorate a phase job: its result gains ``peak_rss_mb``, its process's peak RSS during the call.

    The wrapper keeps the job's name (``functools.wraps``), so it stays picklable for the executor.
    """

    @functools.wraps(fn)
    def run(job: Any) -> dict[str, Any]:
        reset_peak()
        out = fn(job)
        out["peak_rss_mb"] = peak_mb()
        return out

    return run
