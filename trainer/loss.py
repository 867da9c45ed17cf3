"""Token cross-entropy computed from the last hidden states, chunk by chunk, so that the full fp32 logits
(batch x sequence x vocabulary: 4 GB for one 8k-token sequence with a 128k vocabulary) never exist.

The model's output projection is asked, for the duration of a `targets` block, to return the summed
loss instead of logits: the projection, the fp32 upcast and the cross-entropy run on at most
``LOGIT_BUDGET`` logits at a time, each chunk under activation checkpointing so the backward pass
recomputes its logits rather than keeping them. It happens inside the model's own forward, where FSDP
has gathered the projection's weight. When the whole batch fits the budget (small vocabularies, CPU
runs) it is one plain chunk without checkpointing: the same arithmetic as before.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from trainer.data import IGNORE

LOGIT_BUDGET = 1 << 26  # fp32 logits per chunk: 256 MB


def _chunk_loss(hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, y: torch.Tensor,
                seq: torch.Tensor | None, n_seqs: int) -> torch.Tensor:
    logits = F.linear(hidden, weight, bias).float()
    if seq is None:
        return F.cross_entropy(logits, y, ignore_index=IGNORE, reduction="sum")
    nll = F.cross_entropy(logits, y, ignore_index=IGNORE, reduction="none")  # 0 where IGNORE
    return nll.new_zeros(n_seqs).index_add(0, seq, nll)


def chunked_loss_sum(hidden: torch.Tensor, head: nn.Linear, targets: torch.Tensor,
                     per_sequence: bool = False) -> torch.Tensor:
    """Sum of token losses of ``targets`` (``IGNORE`` skipped) given ``hidden`` ``[..., T, H]`` and the projection:
    one number, or with ``per_sequence`` one per sequence (``targets.shape[:-1]`` flattened: DPO's log-probs)."""
    h, y = hidden.flatten(0, -2), targets.flatten()
    n_seqs = targets.shape[:-1].numel()
    seq = torch.arange(n_seqs, device=h.device).repeat_interleave(targets.shape[-1]) if per_sequence else None
    rows = max(1, LOGIT_BUDGET // head.weight.shape[0])
    if h.shape[0] <= rows:
        return _chunk_loss(h, head.weight, head.bias, y, seq, n_seqs)
    total = torch.zeros(n_seqs if per_sequence else (), device=h.device, dtype=torch.float32)
    for s in range(0, h.shape[0], rows):
        total = total + checkpoint(_chunk_loss, h[s:s + rows], head.weight, head.bias, y[s:s + rows],
                                   None if seq is None else seq[s:s + rows], n_seqs, use_reentrant=False)
    return total


def output_head(model: nn.Module) -> nn.Linear:
    """The output projection under any DDP or LoRA wrapper."""
    model = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.get_output_embeddings()


@contextlib.contextmanager
def targets(model: nn.Module, labels: torch.Tensor, per_sequence: bool = False) -> Iterator[None]:
    """Within the block, ``model(input_ids=x).logits`` is the summed loss of ``labels`` (a 0-dim tensor), or with
    ``per_sequence`` each row's summed loss (``[rows]``, the leading dimensions of ``labels`` flattened).

    transformers' causal LMs apply the projection as ``self.lm_head(hidden_states)``; the projection's
    instance ``forward`` is swapped for the chunked loss and restored after, so module names, parameters
    and the FSDP and DDP wrappers are untouched.
    """
    head = output_head(model)
    head.forward = lambda hidden: chunked_loss_sum(hidden, head, labels, per_sequence)
    try:
        yield
    finally:
        del head.forward
