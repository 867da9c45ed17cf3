"""Train-time mixtures: several token folders, each with a weight, sampled into one window order.

A mix decided at tokenize time means re-tokenizing for every ablation or annealing phase; here the
sources stay separate folders and the trainer interleaves their windows. Each source keeps its own
packed order (`trainer.data.PackedOrder`, shuffled by the run's seed, epochs wrapping on their own, so
a small source with a large weight is repeated). Which source window ``g`` of the run comes from is a
pure function of ``g``: the weights are apportioned to ``BLOCK`` slots (largest remainder), the slots
are laid out by smooth weighted round robin (every prefix of a block is within one window of its
target share), and blocks repeat. So window ``g`` is window ``k`` of source ``s`` where ``k`` counts the
earlier windows of ``s``, computed without replay: the order is as resumable across world sizes as a
single source's, and the realised share after ``n`` windows is exact arithmetic, not a tally.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from corpus.errors import UserError
from trainer.data import Windows

BLOCK = 1000  # slots the weights are apportioned to: a share is exact to 1/BLOCK every BLOCK windows


def apportion(weights: Sequence[float], slots: int) -> np.ndarray:
    """Whole slot counts summing to ``slots``, proportional to ``weights`` (largest remainder, ties to the first)."""
    w = np.asarray(weights, dtype=np.float64)
    exact = w / w.sum() * slots
    counts = np.floor(exact).astype(np.int64)
    for i in np.argsort(-(exact - counts), kind="stable")[: slots - int(counts.sum())]:
        counts[i] += 1
    return counts


def interleave(counts: np.ndarray) -> np.ndarray:
    """Smooth weighted round robin: source of each slot, ``counts[s]`` slots for source ``s``, spread evenly."""
    total, current = int(counts.sum()), np.zeros(len(counts), dtype=np.int64)
    out = np.empty(total, dtype=np.int64)
    for slot in range(total):
        current += counts
        s = int(np.argmax(current))  # the first of equals: deterministic
        current[s] -= total
        out[slot] = s
    return out


class MixedData(Windows):
    """Windows drawn from several packed sources by weight; same interface as `trainer.data.PackedData`."""

    def __init__(self, parts: Sequence[Windows], names: Sequence[str], weights: Sequence[float]):
        self.parts, self.names = list(parts), list(names)
        self.quota = apportion(weights, BLOCK)
        for name, q, w in zip(self.names, self.quota, weights, strict=True):
            if q == 0:
                raise UserError(f"data.tokens: the weight of {name} ({w}) is below 1/{BLOCK} of the total; raise or "
                                "drop it")
        self.slots = interleave(self.quota)
        # before[i, s]: windows of source s among the first i slots of a block
        self.before = np.zeros((BLOCK + 1, len(self.parts)), dtype=np.int64)
        self.before[np.arange(1, BLOCK + 1), self.slots] = 1
        self.before = np.cumsum(self.before, axis=0)

    def locate(self, g: int) -> tuple[int, int]:
        """``(source, window of that source)`` of the run's window ``g``."""
        block, slot = divmod(g, BLOCK)
        s = int(self.slots[slot])
        return s, block * int(self.quota[s]) + int(self.before[slot, s])

    def counts(self, n: int) -> np.ndarray:
        """Windows of each source among the run's first ``n``."""
        block, slot = divmod(n, BLOCK)
        return block * self.quota + self.before[slot]

    def mix_share(self, n: int) -> dict[str, float] | None:
        """Source path -> realised share of the first ``n`` windows (what ``metrics.jsonl`` records)."""
        c = self.counts(n)
        return {name: float(k) / max(n, 1) for name, k in zip(self.names, c, strict=True)}

    def window(self, g: int) -> tuple[np.ndarray, np.ndarray]:
        s, k = self.locate(g)
        return self.parts[s].window(k)

    def doc_ids(self, windows: Sequence[int]) -> list[list[dict]]:
        """Each window's documents, as `PackedData.doc_ids`, each piece naming its ``source`` folder."""
        out = []
        for g in windows:
            s, k = self.locate(g)
            out.append([{"source": self.names[s], **p} for p in self.parts[s].doc_ids([k])[0]])
        return out
