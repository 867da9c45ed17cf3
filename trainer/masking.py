"""Document masking: a packed window attends only within each document, and SFT packs whole examples.

Packing puts several documents in one window; plain causal attention would let each token see the
tail of the previous, unrelated document. With ``data.document_masking`` every window carries
per-document position ids (0, 1, ... restarting where each piece of a sequence starts), and the model
is called with them and no attention mask: transformers' ``create_causal_mask`` (llama, gpt2, ...)
reads restarts of the position ids as packed sequences and builds the block-diagonal causal mask
(sdpa and eager; flash attention uses the same ids as varlen boundaries), so a document's logits in
the window are its logits alone. The label that would ask a document's last token to predict the next
document's first token is dropped (-100): nothing in its context can say what comes next.

SFT examples are never cut: `ExampleOrder` bins whole examples into windows once (first fit
decreasing, so the bins are the same every epoch and the window count is fixed), shuffles the bins per
``(seed, epoch)``, and pads each window's tail (labels -100). An example longer than a window is cut
to one window; `ExampleOrder.truncated` counts them, and the trainer reports it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

PAD_ID = 0  # fills an SFT window's tail: any id works, its labels are -100 and nothing before attends to it


def piece_positions(lengths: list[int]) -> np.ndarray:
    """Position ids of a window made of pieces of these lengths: ``0..len-1`` for each piece in turn."""
    return np.concatenate([np.arange(n, dtype=np.int64) for n in lengths])


def model_inputs(input_ids: torch.Tensor, positions: torch.Tensor | None) -> dict[str, Any]:
    """Keyword arguments of a training or validation forward pass.

    ``use_cache=False``: a training forward needs no KV cache, and transformers looks for packed
    sequences in the position ids only when there is none.
    """
    return {"input_ids": input_ids, "use_cache": False, **({} if positions is None else {"position_ids": positions})}


class ExampleOrder:
    """Window ``g`` -> the whole examples in it, for a fixed seed (the `trainer.data.PackedOrder` of SFT)."""

    def __init__(self, lengths: np.ndarray, seq_len: int, seed: int, shuffle: bool = True):
        self.lengths = np.minimum(np.asarray(lengths, dtype=np.int64), seq_len + 1)
        self.truncated = int((np.asarray(lengths) > seq_len + 1).sum())
        self.seed, self.shuffle = seed, shuffle
        self.bins = _first_fit_decreasing(self.lengths, seq_len + 1)
        self.windows_per_epoch = len(self.bins)
        self._epoch: int | None = None
        self._perm = np.arange(len(self.bins))

    def pieces(self, g: int) -> list[tuple[int, int, int]]:
        """``(example index, 0, length)`` of the examples of window ``g``, in order."""
        epoch, k = divmod(g, self.windows_per_epoch)
        if self.shuffle and epoch != self._epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(len(self.bins))
            self._epoch = epoch
        return [(i, 0, int(self.lengths[i])) for i in self.bins[int(self._perm[k])]]


def _first_fit_decreasing(lengths: np.ndarray, capacity: int) -> list[list[int]]:
    """Example indices grouped into bins of at most ``capacity`` tokens, longest first, each into the first bin
    with room (ties by index: deterministic). Each bin lists its examples in index order."""
    bins: list[list[int]] = []
    room = np.zeros(len(lengths), dtype=np.int64)  # free tokens of each bin opened so far
    for i in np.argsort(-lengths, kind="stable"):
        n = int(lengths[i])
        fits = np.flatnonzero(room[:len(bins)] >= n)
        b = int(fits[0]) if fits.size else len(bins)
        if b == len(bins):
            bins.append([])
            room[b] = capacity
        bins[b].append(int(i))
        room[b] -= n
    return [sorted(b) for b in bins]
