"""Preference tuning (``task: dpo``): preference pairs, per-sequence log-probabilities, the DPO loss.

Data. ``data.format: pairs`` lines are ``{"prompt", "chosen", "rejected"}`` (one user turn, two candidate
assistant turns); ``chat_pairs`` lines are ``{"chosen": [messages], "rejected": [messages]}`` (hh-rlhf
style: the same conversation with two endings). Both are rendered with the tokenizer's chat template,
as SFT renders them (`trainer.data.render`); the scored tokens of each side are its assistant tokens
after the longest token prefix the two sides share, so a shared conversation history counts for neither.
Each side is one right-padded row of ``seq_len + 1`` tokens (longer ones are cut and counted); no
packing, so no masking is needed: padding comes after every scored token.

Order. Pair ``g`` of the run is pair ``perm[g % n]`` of epoch ``g // n``, the permutation drawn from
``(seed, epoch)``: like the packed windows, a pure function of the cursor a checkpoint stores.

Reference. DPO compares the policy's log-ratio against a frozen reference: the model as the run starts
(``from_pretrained`` or ``train.init_from``: an SFT export or checkpoint), or with LoRA the model with
its adapters disabled. Its log-probabilities of every pair are computed once before step 1 and cached in
``output.dir/dpo_reference.json``, so no second model is held in memory and a resume reads them back.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from corpus.errors import UserError
from corpus.io.atomic import read_json, write_json
from trainer.data import IGNORE, ROLES, Windows, chat_records, held_out, render
from trainer.loss import targets as loss_targets
from trainer.masking import PAD_ID
from trainer.parallel import Dist, all_reduce_sum, rank_chunks

REFERENCE_FILE = "dpo_reference.json"
SIDES = ("chosen", "rejected")


@dataclass
class Pairs:
    """Rendered preference pairs: per pair and side (0 chosen, 1 rejected), token ids and scored-token masks."""

    ids: list[str]
    tokens: list[tuple[np.ndarray, np.ndarray]]
    masks: list[tuple[np.ndarray, np.ndarray]]
    sha256: str

    def subset(self, keep: list[int]) -> Pairs:
        return Pairs([self.ids[i] for i in keep], [self.tokens[i] for i in keep], [self.masks[i] for i in keep],
                     self.sha256)


def _conversations(record: dict, fmt: str, where: str) -> tuple[list[dict], list[dict]]:
    if fmt == "pairs":
        if not all(isinstance(record.get(k), str) for k in ("prompt", *SIDES)):
            raise UserError(f"{where}: format pairs needs string fields 'prompt', 'chosen' and 'rejected'")
        user = [{"role": "user", "content": record["prompt"]}]
        return tuple(user + [{"role": "assistant", "content": record[s]}] for s in SIDES)  # type: ignore[return-value]
    for side in SIDES:
        msgs = record.get(side)
        if not isinstance(msgs, list) or not msgs or not all(
                isinstance(m, dict) and m.get("role") in ROLES and isinstance(m.get("content"), str) for m in msgs):
            raise UserError(f"{where}: format chat_pairs needs '{side}': a non-empty list of messages, each with "
                            f"a role ({', '.join(ROLES)}) and a string content")
        if msgs[-1]["role"] != "assistant":
            raise UserError(f"{where}: the '{side}' conversation must end with an assistant turn")
    return record["chosen"], record["rejected"]


def _scored(tok, conversations: tuple[list[dict], list[dict]], where: str):
    """Token ids of both sides and masks of their scored tokens: assistant tokens past the shared prefix."""
    (a, ma), (b, mb) = (render(tok, c, where) for c in conversations)
    n = min(len(a), len(b))
    common = int(np.argmax(a[:n] != b[:n])) if (a[:n] != b[:n]).any() else n
    ma, mb = ma.copy(), mb.copy()
    ma[:common] = mb[:common] = False
    if not (ma.any() and mb.any()):
        raise UserError(f"{where}: 'chosen' and 'rejected' do not differ in an assistant turn; nothing to prefer")
    return (a, b), (ma, mb)


def open_pairs(path: str, fmt: str, tok) -> Pairs:
    """Read and render every pair; an unreadable line or a pair without a differing answer is a `UserError`."""
    raw, records = chat_records(path, "pair", "dpo", tok)
    ids, tokens, masks = [], [], []
    for name, where, record in records:
        t, m = _scored(tok, _conversations(record, fmt, where), where)
        ids.append(name)
        tokens.append(t)
        masks.append(m)
    return Pairs(ids, tokens, masks, hashlib.sha256(raw).hexdigest())


class PairOrder:
    """Pair ``g`` of the run -> pair index (see the module docstring); ``windows_per_epoch`` is the pair count."""

    def __init__(self, n: int, seed: int, shuffle: bool = True):
        self.windows_per_epoch, self.seed, self.shuffle = n, seed, shuffle
        self._epoch: int | None = None
        self._perm = np.arange(n)

    def index(self, g: int) -> int:
        epoch, k = divmod(g, self.windows_per_epoch)
        if self.shuffle and epoch != self._epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(self.windows_per_epoch)
            self._epoch = epoch
        return int(self._perm[k])


class PairData(Windows):
    """What the loop reads for DPO: batches ``(inputs [k, 2, seq_len], labels [k, 2, seq_len], reference [k, 2])``.

    The reference log-probabilities are zeros until `reference_logps` fills ``reference``.
    """

    def __init__(self, pairs: Pairs, seq_len: int, seed: int, shuffle: bool = True):
        self.pairs, self.seq_len = pairs, seq_len
        self.order = PairOrder(len(pairs.ids), seed, shuffle)
        self.truncated = sum(len(t) > seq_len + 1 for side in pairs.tokens for t in side)
        self.reference = np.zeros((len(pairs.ids), 2), dtype=np.float64)
        for i, side in enumerate(pairs.masks):
            if not all(m[1:seq_len + 1].any() for m in side):
                raise UserError(f"pair {pairs.ids[i]}: no answer token falls within seq_len + 1 = {seq_len + 1} "
                                "tokens; raise data.seq_len or shorten the prompt")

    def row(self, tokens: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w = np.full(self.seq_len + 1, PAD_ID, dtype=np.int64)
        lab = np.full(self.seq_len + 1, IGNORE, dtype=np.int64)
        n = min(len(tokens), self.seq_len + 1)
        w[:n] = tokens[:n]
        lab[:n] = np.where(mask[:n], tokens[:n], IGNORE)
        return w[:-1], lab[1:]

    def doc_ids(self, windows) -> list[list[dict]]:
        """For each window, its pair's id (``thresher trace``), with the chosen side's token range."""
        return [[{"doc_id": self.pairs.ids[i], "start": 0, "end": min(len(self.pairs.tokens[i][0]), self.seq_len + 1)}]
                for i in (self.order.index(g) for g in windows)]

    def batch(self, windows, positions: bool = False) -> tuple[torch.Tensor, ...]:
        """Pairs ``windows`` of the run (``positions`` is ignored: rows are not packed)."""
        return self.pair_batch([self.order.index(g) for g in windows])

    def pair_batch(self, idx: list[int]) -> tuple[torch.Tensor, ...]:
        rows = [[self.row(t, m) for t, m in zip(self.pairs.tokens[i], self.pairs.masks[i], strict=True)] for i in idx]
        inputs = np.stack([[r[0] for r in pair] for pair in rows])
        labels = np.stack([[r[1] for r in pair] for pair in rows])
        return torch.from_numpy(inputs), torch.from_numpy(labels), torch.from_numpy(self.reference[idx])


def open_dpo(cfg, tok) -> tuple[PairData, PairData | None, str]:
    """Training pairs, validation pairs (``data.val_fraction``) and the data file's sha256."""
    pairs = open_pairs(cfg.data.path, cfg.data.format, tok)
    held = held_out(pairs.ids, cfg.data.val_fraction)
    train = PairData(pairs.subset([i for i in range(len(pairs.ids)) if i not in held]), cfg.data.seq_len,
                     cfg.train.seed)
    val = PairData(pairs.subset(sorted(held)), cfg.data.seq_len, cfg.train.seed, shuffle=False) if held else None
    return train, val, pairs.sha256


def sequence_logps(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Summed log-probability of each row's label tokens: ``[..., seq_len]`` -> ``[...]``.

    Computed like the LM loss (`trainer.loss`), in chunks from the hidden states, so the fp32 logits of
    the ``2 x micro_batch_size`` rows never exist whole.
    """
    x, y = inputs.flatten(0, -2), labels.flatten(0, -2)
    with loss_targets(model, y, per_sequence=True):
        nll = model(input_ids=x, use_cache=False).logits
    return -nll.view(labels.shape[:-1])


def dpo_loss(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, reference: torch.Tensor,
             beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed DPO loss of the pairs, and their summed ``[reward margin, preferred count]`` (no gradient).

    The reward of a side is ``beta * (log p_policy - log p_reference)``; the margin is chosen's minus
    rejected's, the loss ``-log sigmoid(margin)``, and a pair is preferred when the margin is positive.
    """
    ratios = sequence_logps(model, inputs, labels) - reference.to(torch.float32)
    margin = beta * (ratios[:, 0] - ratios[:, 1])
    m = margin.detach()
    return -F.logsigmoid(margin).sum(), torch.stack([m.sum(), (m > 0).float().sum()])


def val_sums(model: nn.Module, batch: tuple[torch.Tensor, ...], beta: float) -> torch.Tensor:
    """``[loss, reward margin, preferred, pairs]`` summed over a validation batch (evaluation's unit)."""
    loss, stats = dpo_loss(model, *batch, beta)
    return torch.cat([loss.detach()[None], stats, torch.tensor([batch[0].shape[0]], device=loss.device)])


def val_metrics(total: torch.Tensor) -> dict[str, float]:
    loss, margin, preferred, n = total.tolist()
    return {"val_loss": loss / n, "val_reward_margin": margin / n, "val_pref_acc": preferred / n}


def _disabled_adapters(model: nn.Module):
    import contextlib

    return model.disable_adapter() if hasattr(model, "disable_adapter") else contextlib.nullcontext()


def _all_logps(model: nn.Module, part: PairData, d: Dist, micro_batch_size: int) -> np.ndarray:
    """Every pair's log-probabilities ``[pairs, 2]``: each rank scores its share of the pairs, the ranks sum."""
    out = torch.zeros(part.order.windows_per_epoch, 2, dtype=torch.float64, device=d.device)
    for chunk in rank_chunks(part.order.windows_per_epoch, d, micro_batch_size):
        x, y, _ = part.pair_batch(chunk or [0])  # an empty chunk: a pass FSDP's collectives need, dropped
        logps = sequence_logps(model, x.to(d.device), y.to(d.device)).double()
        if chunk:
            out[chunk] = logps
    return all_reduce_sum(out).cpu().numpy()


@torch.no_grad()
def reference_logps(model: nn.Module, parts: list[PairData | None], data_sha256: str, out_dir: str, step: int,
                    d: Dist, micro_batch_size: int, autocast: torch.dtype | None) -> None:
    """Fill each part's ``reference``: read from ``out_dir``'s cache on a resume, else computed now (each rank
    a share of the pairs) and cached by the first rank.

    At step 0 the model is the reference (with LoRA, also later: the adapters are switched off). A resume
    of a full fine-tune without the cache cannot rebuild it: its starting weights are gone.
    """
    cache = Path(out_dir) / REFERENCE_FILE
    if step > 0 and cache.is_file() and (saved := read_json(cache)).get("data_sha256") == data_sha256:
        for part, key in zip(parts, ("train", "val"), strict=True):
            if part is not None:
                part.reference = np.asarray(saved[key], dtype=np.float64).reshape(-1, 2)
        return
    if step > 0 and not hasattr(model, "disable_adapter"):
        raise UserError(f"cannot resume this DPO run: {cache} (the reference log-probabilities of its starting "
                        "model) is missing or for other data; start again with a new checkpoint.dir")
    was_training = model.training
    model.eval()
    with _disabled_adapters(model), torch.autocast(d.device.type, dtype=autocast, enabled=autocast is not None):
        for part in parts:
            if part is not None:
                part.reference = _all_logps(model, part, d, micro_batch_size)
    model.train(was_training)
    if d.is_main:
        write_json(cache, {"data_sha256": data_sha256, **{key: None if p is None else p.reference.tolist()
                                                          for p, key in zip(parts, ("train", "val"), strict=True)}})
