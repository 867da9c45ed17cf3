"""Batches prepared on a background thread: while step N computes, step N+1's windows are read from the
shards and packed (and pinned, on a GPU), so the accelerator does not wait on the host between steps.

The data order is a pure function of the window index, so the prefetched batch is exactly the one
the next step asks for; a step that asks for another (never, in the loop as written) is built on the
spot instead.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

T = TypeVar("T")


class Prefetcher(Generic[T]):
    """``get(cursor)`` returns ``make(cursor)`` and starts ``make(cursor + stride)`` in the background."""

    def __init__(self, make: Callable[[int], T], stride: int):
        self.make, self.stride = make, stride
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="thresher-batches")
        self.next: tuple[int, Future[T]] | None = None

    def get(self, cursor: int) -> T:
        ahead = self.next
        out = ahead[1].result() if ahead is not None and ahead[0] == cursor else self.make(cursor)
        self.next = (cursor + self.stride, self.pool.submit(self.make, cursor + self.stride))
        return out

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
