"""Training data: sequences packed into windows, in one global order that no rank count can change.

Packing. Each epoch puts every sequence (a document + EOS, or a rendered chat example) once into a
stream, in an order drawn from ``(seed, epoch)``, and cuts the stream into windows of ``seq_len + 1``
tokens with stride ``seq_len`` (inputs are ``window[:-1]``, labels ``window[1:]``), so windows cross
document boundaries and no token is padding. The tail shorter than a window is dropped for that epoch.

Order. Window ``g`` of the whole run is window ``g % W`` of epoch ``g // W`` (``W`` windows per
epoch): sampling is without replacement inside an epoch and the order is a pure function of
``(seed, g)``. A step consumes the next ``global_batch`` windows from a cursor, and rank ``r`` takes the
``r``-th contiguous slice of them. The cursor, not the step, is what a checkpoint stores, so a run
resumed on another number of processes continues the same stream from the same window.

SFT. Chat examples are rendered with the tokenizer's chat template. Assistant tokens are the ones the
template marks with ``{% generation %}`` when it does; otherwise each assistant turn is found by
rendering the conversation up to and after that turn and diffing the text, then mapping characters
to tokens through the tokenizer's offsets. Labels outside assistant turns are -100. An
example that would contribute no label at all is an error naming it: silently training on nothing is
how SFT runs go wrong unnoticed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import orjson
import torch

from corpus.errors import UserError
from corpus.tokens import TokenCorpus, open_tokens
from trainer.config import Config
from trainer.masking import PAD_ID, ExampleOrder, piece_positions

IGNORE = -100
ROLES = ("system", "user", "assistant")


class Sequences(Protocol):
    """What packing needs from a data source: lengths up front, tokens and label masks on demand."""

    def lengths(self) -> np.ndarray: ...
    def tokens(self, i: int) -> np.ndarray: ...
    def mask(self, i: int) -> np.ndarray | None: ...  # None: every token is a label
    def doc_id(self, i: int) -> str: ...


class TokenSequences:
    """The pipeline's memory-mapped token shards (pretraining)."""

    def __init__(self, corpus: TokenCorpus):
        self.corpus = corpus
        self._lengths = corpus.lengths().astype(np.int64)

    def lengths(self) -> np.ndarray:
        return self._lengths

    def tokens(self, i: int) -> np.ndarray:
        return self.corpus[i]

    def mask(self, i: int) -> None:
        return None

    def doc_id(self, i: int) -> str:
        return self.corpus.doc_id(i)


@dataclass
class SftSequences:
    """Rendered chat examples held in memory (SFT sets are small next to pretraining corpora)."""

    ids: list[str]
    token_lists: list[np.ndarray]
    masks: list[np.ndarray]
    sha256: str  # of the JSONL file, for lineage

    def lengths(self) -> np.ndarray:
        return np.array([len(t) for t in self.token_lists], dtype=np.int64)

    def tokens(self, i: int) -> np.ndarray:
        return self.token_lists[i]

    def mask(self, i: int) -> np.ndarray:
        return self.masks[i]

    def doc_id(self, i: int) -> str:
        return self.ids[i]


def held_out(ids: list[str], fraction: float) -> set[int]:
    """Indices of the examples held out for validation: ``fraction`` of them (at least one when > 0), the
    lowest sha256 of id and position, so the split does not depend on the seed and an example keeps its side
    as the file grows."""
    if fraction == 0:
        return set()
    n = len(ids)
    k = max(1, round(n * fraction))
    if k >= n:
        raise UserError(f"data.val_fraction {fraction} leaves no training example of the {n} in {ids[0]}'s file")
    return set(sorted(range(n), key=lambda i: hashlib.sha256(f"{ids[i]}\0{i}".encode()).digest())[:k])


def split_sft(seqs: SftSequences, fraction: float) -> tuple[SftSequences, SftSequences | None]:
    """Training and validation examples, split by `held_out`."""
    held = held_out(seqs.ids, fraction)
    if not held:
        return seqs, None

    def part(keep: list[int]) -> SftSequences:
        return SftSequences([seqs.ids[i] for i in keep], [seqs.token_lists[i] for i in keep],
                            [seqs.masks[i] for i in keep], seqs.sha256)

    return part([i for i in range(len(seqs.ids)) if i not in held]), part(sorted(held))


class PackedOrder:
    """Window ``g`` -> the pieces of sequences that form it, for a fixed seed (see the module docstring)."""

    def __init__(self, lengths: np.ndarray, seq_len: int, seed: int, shuffle: bool = True):
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.seq_len = seq_len
        self.seed = seed
        self.shuffle = shuffle
        self.windows_per_epoch = max(0, (int(self.lengths.sum()) - 1) // seq_len)
        self._epoch: int | None = None
        self._perm = self._ends = np.zeros(0, np.int64)

    def _load_epoch(self, epoch: int) -> None:
        if epoch != self._epoch:
            n = len(self.lengths)
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(n) if self.shuffle else np.arange(n)
            self._ends = np.cumsum(self.lengths[self._perm])
            self._epoch = epoch

    def pieces(self, g: int) -> list[tuple[int, int, int]]:
        """``(sequence index, start, end)`` slices, in order, that concatenate to window ``g``."""
        epoch, k = divmod(g, self.windows_per_epoch)
        self._load_epoch(epoch)
        start, stop = k * self.seq_len, k * self.seq_len + self.seq_len + 1
        p = int(np.searchsorted(self._ends, start, side="right"))
        out = []
        while start < stop:
            seq = int(self._perm[p])
            begin = int(self._ends[p] - self.lengths[seq])
            end = min(int(self._ends[p]), stop)
            out.append((seq, start - begin, end - begin))
            start = end
            p += 1
        return out


class Windows:
    """What the loop reads: window ``g`` of the run as ``(inputs, labels, positions)``, and batches of them."""

    truncated = 0  # SFT examples cut to one window (`trainer.masking.ExampleOrder`)

    def window(self, g: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        raise NotImplementedError

    def batch(self, windows: Sequence[int], positions: bool = False) -> tuple[torch.Tensor, ...]:
        """Input ids and labels of the given windows, both ``[len(windows), seq_len]``, and with ``positions``
        their position ids (per document under ``data.document_masking``: `trainer.masking`)."""
        parts = [self.window(g) for g in windows]
        return tuple(torch.from_numpy(np.stack([p[i] for p in parts])) for i in range(3 if positions else 2))

    def mix_share(self, n: int) -> dict[str, float] | None:
        """Source -> share of the first ``n`` windows; None for a single source (`trainer.mixture`)."""
        return None


class PackedData(Windows):
    """Packed windows of a sequence source, as numpy arrays or batched tensors.

    ``masking``: document masking (`trainer.masking`): positions restart at each piece, and no label
    crosses from one piece to the next. ``whole``: windows of whole sequences (SFT examples), padded.
    """

    def __init__(self, source: Sequences, seq_len: int, seed: int, shuffle: bool = True, masking: bool = False,
                 whole: bool = False):
        self.source, self.seq_len, self.masking = source, seq_len, masking
        self.order = (ExampleOrder if whole else PackedOrder)(source.lengths(), seq_len, seed, shuffle)
        self.truncated = getattr(self.order, "truncated", 0)
        if self.order.windows_per_epoch == 0:
            raise UserError(f"the data holds {int(source.lengths().sum())} tokens: fewer than one window of "
                            f"seq_len + 1 = {seq_len + 1}")

    def window(self, g: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        toks, labels = [], []
        for seq, a, b in self.order.pieces(g):
            t = np.asarray(self.source.tokens(seq)[a:b], dtype=np.int64)
            m = self.source.mask(seq)
            toks.append(t)
            labels.append(t if m is None else np.where(m[a:b], t, IGNORE))
        pad = self.seq_len + 1 - sum(len(t) for t in toks)  # whole examples: the tail no example fills
        if pad:
            toks.append(np.full(pad, PAD_ID, dtype=np.int64))
            labels.append(np.full(pad, IGNORE, dtype=np.int64))
        w, lab = np.concatenate(toks), np.concatenate(labels)
        if not self.masking:
            return w[:-1], lab[1:], np.arange(self.seq_len, dtype=np.int64)
        lab[np.cumsum([len(t) for t in toks])[:-1]] = IGNORE  # a piece's last token does not predict the next's first
        return w[:-1], lab[1:], piece_positions([len(t) for t in toks])[:-1]

    def doc_ids(self, windows: Sequence[int]) -> list[list[dict]]:
        """For each window, the documents in it with token ranges: what ``thresher trace`` prints."""
        return [[{"doc_id": self.source.doc_id(s), "start": a, "end": b} for s, a, b in self.order.pieces(g)]
                for g in windows]


def open_data(cfg: Config, tok, tok_sha256: str) -> tuple[Windows, PackedData | None, str]:
    """Training windows, validation windows (pretraining with ``tokens/val/``, SFT with ``data.val_fraction``)
    and the data's sha256.

    ``data.tokens`` as a list of weighted folders is a `trainer.mixture.MixedData`; its validation
    windows are those of every source's ``val/`` in turn, and its hash covers each manifest and weight.
    """
    seq_len, seed, masking = cfg.data.seq_len, cfg.train.seed, cfg.data.document_masking
    if cfg.task == "dpo":
        from trainer.dpo import open_dpo  # builds on this module

        return open_dpo(cfg, tok)
    if cfg.task == "sft":
        seqs = open_sft(cfg.data.path, cfg.data.format, tok)
        train, val = split_sft(seqs, cfg.data.val_fraction)
        val_data = None if val is None else PackedData(val, seq_len, seed, shuffle=False, masking=masking, whole=True)
        return PackedData(train, seq_len, seed, masking=masking, whole=True), val_data, seqs.sha256
    if isinstance(cfg.data.tokens, str):
        corpus = _checked_tokens(cfg.data.tokens, cfg.tokenizer, tok, tok_sha256)
        val = corpus.val
        val_data = PackedData(TokenSequences(val), seq_len, seed, shuffle=False, masking=masking) if val is not None and int(val.lengths().sum()) > seq_len else None
        return PackedData(TokenSequences(corpus), seq_len, seed, masking=masking), val_data, corpus.manifest_sha256
    from trainer.mixture import MixedData  # builds on this module

    sources = cfg.data.tokens
    corpora = [_checked_tokens(s.path, cfg.tokenizer, tok, tok_sha256) for s in sources]
    parts = [PackedData(TokenSequences(c), seq_len, seed, masking=masking) for c in corpora]
    vals = [TokenSequences(c.val) for c in corpora if c.val is not None and len(c.val)]
    val_data = None
    if vals and sum(int(v.lengths().sum()) for v in vals) > seq_len:
        val_data = PackedData(ConcatSequences(vals), seq_len, seed, shuffle=False, masking=masking)
    sha = hashlib.sha256(orjson.dumps([{"tokens_manifest_sha256": c.manifest_sha256, "weight": s.weight}
                                       for s, c in zip(sources, corpora, strict=True)])).hexdigest()
    return MixedData(parts, [s.path for s in sources], [s.weight for s in sources]), val_data, sha


class ConcatSequences:
    """Several sequence sources read as one, in order (a mixture's validation sets)."""

    def __init__(self, parts: Sequence[TokenSequences]):
        self.parts = list(parts)
        self._lengths = np.concatenate([p.lengths() for p in self.parts])
        self._starts = np.cumsum([0] + [len(p.lengths()) for p in self.parts])

    def _at(self, i: int) -> tuple[TokenSequences, int]:
        p = int(np.searchsorted(self._starts, i, side="right")) - 1
        return self.parts[p], i - int(self._starts[p])

    def lengths(self) -> np.ndarray:
        return self._lengths

    def tokens(self, i: int) -> np.ndarray:
        part, j = self._at(i)
        return part.tokens(j)

    def mask(self, i: int) -> None:
        return None

    def doc_id(self, i: int) -> str:
        part, j = self._at(i)
        return part.doc_id(j)


def _checked_tokens(path: str, tokenizer: str, tok, tok_sha256: str) -> TokenCorpus:
    """A token folder, refused when another tokenizer made it (by the manifest's tokenizer hash, and by
    vocabulary size and EOS id for manifests without one): the ids would mean other text."""
    corpus = _open_tokens(path)
    if len(corpus) == 0:
        raise UserError(f"{path}: the tokens manifest lists no sequences")
    made_by = _made_by(corpus)
    if made_by not in (None, tok_sha256):
        raise UserError(f"{path} was tokenized by another tokenizer than {tokenizer} (sha256 "
                        f"{made_by[:12]} in its manifest, {tok_sha256[:12]} here)")
    if corpus.vocab_size > len(tok) or corpus.eos_id != tok.eos_token_id:
        raise UserError(f"{path} was tokenized with another tokenizer than {tokenizer} "
                        f"(vocab {corpus.vocab_size} vs {len(tok)}, eos {corpus.eos_id} vs {tok.eos_token_id})")
    return corpus


def _open_tokens(path: str) -> TokenCorpus:
    try:
        return open_tokens(path)
    except (FileNotFoundError, ValueError) as e:
        raise UserError(str(e)) from None


def tokens_eos_id(cfg: Config, tok_sha256: str) -> int | None:
    """The EOS id that ends the pretraining sequences, when their manifest names this tokenizer by hash.

    ``thresher tokenize --eos-token`` chooses it for a tokenizer without one (or instead of its own),
    and the tokenizer files do not record it: the tokens' manifest does. None for SFT, and for tokens
    of unknown make, whose EOS must then match the tokenizer's (`open_data`). A mixture's folders must
    all end sequences with the tokenizer's one EOS (`open_data` checks each), so the first one's says.
    """
    if cfg.task != "pretrain":
        return None
    t = cfg.data.tokens
    corpus = _open_tokens(t if isinstance(t, str) else t[0].path)
    return corpus.eos_id if _made_by(corpus) == tok_sha256 else None


def _made_by(corpus: TokenCorpus) -> str | None:
    """The hash of the tokenizer that made these tokens (None in manifests written without one)."""
    return corpus.manifest.get("tokenizer", {}).get("sha256")


def _messages(record: dict, fmt: str, where: str) -> list[dict]:
    if fmt == "prompt_response":
        if not (isinstance(record.get("prompt"), str) and isinstance(record.get("response"), str)):
            raise UserError(f"{where}: format prompt_response needs string fields 'prompt' and 'response'")
        system = [{"role": "system", "content": record["system"]}] if record.get("system") else []
        return system + [{"role": "user", "content": record["prompt"]},
                         {"role": "assistant", "content": record["response"]}]
    msgs = record.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise UserError(f"{where}: format messages needs a non-empty list 'messages'")
    for m in msgs:
        if not (isinstance(m, dict) and m.get("role") in ROLES and isinstance(m.get("content"), str)):
            raise UserError(f"{where}: every message needs a role ({', '.join(ROLES)}) and a string content")
    return msgs


GENERATION_TAG = re.compile(r"{%-?\s*generation\s*-?%}")
# Stand-ins for message contents while the template is rendered to find where contents go (private use
# characters, which no template writes itself).
_MARK = re.compile("\U000f0100(\\d+)\U000f0101")


def render(tok, messages: list[dict], where: str) -> tuple[np.ndarray, np.ndarray]:
    """Token ids of the rendered conversation and a mask that is True on assistant-turn tokens.

    A template that marks assistant turns with ``{% generation %}`` says exactly which characters are
    the model's (transformers' assistant mask). Otherwise the turns are found by diffing renderings
    (see the module docstring); the span then also holds what the template writes after the turn
    (``<|im_end|>`` and a newline for ChatML). Either way the labels are characters, mapped onto the
    tokens of `_encode_chat`.
    """
    full = tok.apply_chat_template(messages, tokenize=False)
    if GENERATION_TAG.search(tok.chat_template):
        enc = tok.apply_chat_template(messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True,
                                      tokenizer_kwargs={"return_offsets_mapping": True})
        spans = [tuple(o) for o, m in zip(enc["offset_mapping"], enc["assistant_masks"], strict=True) if m]
    else:
        spans = _turn_spans(tok, messages, full, where)
    ids, starts = _encode_chat(tok, messages, full, where)
    mask = np.zeros(len(ids), dtype=bool)
    for a, b in spans:
        mask |= (starts >= a) & (starts < b)
    if ids.size == 0 or ids[-1] != tok.eos_token_id:  # EOS separates examples once packed
        mask = np.append(mask, mask[-1] if mask.size else False)
        ids = np.append(ids, tok.eos_token_id)
    return ids, mask


def _turn_spans(tok, messages: list[dict], full: str, where: str) -> list[tuple[int, int]]:
    """Character spans of the assistant turns, each from the end of its header to the next turn."""
    def text(msgs: list[dict], prompt: bool = False) -> str:
        return tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=prompt)

    spans = []
    for i, m in enumerate(messages):
        if m["role"] == "assistant":
            after = text(messages[: i + 1])
            before = text(messages[:i], prompt=True) if i else after[:_opening_header_end(text, after, where)]
            if not (after.startswith(before) and full.startswith(after)):
                raise UserError(f"{where}: the tokenizer's chat template does not render a conversation as "
                                "the prefix of its continuation, so assistant turns cannot be located")
            spans.append((len(before), len(after)))
    return spans


def _opening_header_end(text, after: str, where: str) -> int:
    """Where the content of a conversation's opening assistant turn starts, in its rendering ``after``.

    There is no shorter conversation to diff against (templates refuse an empty one), so the header is
    found as the template's generation prompt: what ``add_generation_prompt`` adds to a one-turn chat.
    """
    probe = [{"role": "user", "content": "x"}]
    plain, prompted = text(probe), text(probe, prompt=True)
    header = prompted[len(plain):] if prompted.startswith(plain) else ""
    at = after.find(header) if header else -1
    if at < 0:
        raise UserError(f"{where}: the conversation opens with an assistant turn whose header is not the chat "
                        "template's generation prompt, so the turn cannot be located")
    return at + len(header)


def _encode_chat(tok, messages: list[dict], full: str, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Token ids of the rendered conversation ``full`` and the first character of each token.

    The template's own control tokens are special tokens; a message that spells one (a question about
    ChatML quoting ``<|im_start|>``) keeps it as text, or the model would learn a false turn boundary.
    So the text is cut at the template's special tokens, which enter by id, and the pieces between
    them are encoded with special tokens unmatched (the tokenizer cuts its input at special tokens
    itself, so a conversation without spelled ones encodes exactly as the whole string).
    """
    enc = tok(full, add_special_tokens=False, return_offsets_mapping=True)
    specials = {i: t.content for i, t in tok.added_tokens_decoder.items() if t.special}
    if not any(s in m["content"] for m in messages for s in specials.values()):
        return (np.asarray(enc["input_ids"], dtype=np.int64),
                np.asarray([o[0] for o in enc["offset_mapping"]], dtype=np.int64))
    contents = _content_spans(tok, messages, full, where)
    ids: list[int] = []
    starts: list[int] = []

    def add_text(a: int, b: int) -> None:
        piece = tok(full[a:b], add_special_tokens=False, return_offsets_mapping=True, split_special_tokens=True)
        ids.extend(piece["input_ids"])
        starts.extend(a + o[0] for o in piece["offset_mapping"])

    pos = 0
    for i, (a, b) in zip(enc["input_ids"], enc["offset_mapping"], strict=True):
        if i in specials and not any(c0 <= a < c1 for c0, c1 in contents):
            if pos < a:
                add_text(pos, a)
            ids.append(i)
            starts.append(a)
            pos = b
    if pos < len(full):
        add_text(pos, len(full))
    return np.asarray(ids, dtype=np.int64), np.asarray(starts, dtype=np.int64)


def _content_spans(tok, messages: list[dict], full: str, where: str) -> list[tuple[int, int]]:
    """Character spans of each message's content in ``full``, found by rendering marks in its place."""
    marked = [{**m, "content": f"\U000f0100{i}\U000f0101"} for i, m in enumerate(messages)]
    parts = _MARK.split(tok.apply_chat_template(marked, tokenize=False))  # text, index, text, index, ...
    spans, pos = [], 0
    for j, part in enumerate(parts):
        if j % 2:
            part = messages[int(part)]["content"]
            spans.append((pos, pos + len(part)))
        parts[j] = part
        pos += len(part)
    if "".join(parts) != full:
        raise UserError(f"{where}: a message spells a special token of the tokenizer, and the chat template does "
                        "not write message contents verbatim, so it cannot be kept as text; remove it")
    return spans


def jsonl_objects(lines: Iterable[bytes | str], p: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each non-blank line of a JSONL file ``p``; a line that is not JSON or
    not an object is a `UserError` naming file and line (the one parser for the trainer's JSONL inputs)."""
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            raise UserError(f"{p}:{n}: not valid JSON ({e})") from None
        if not isinstance(record, dict):
            raise UserError(f"{p}:{n}: each line must be a JSON object")
        yield n, record


def chat_records(path: str, what: str, task: str, tok) -> tuple[bytes, list[tuple[str, str, dict]]]:
    """The bytes of a fine-tuning JSONL file (for its hash) and its records as ``(name, where, record)``, where
    ``where`` names file, line and record for error messages; a missing file, a tokenizer without a chat
    template or an unreadable line is a `UserError`."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{task.upper()} data not found: {p}")
    if tok.chat_template is None:
        raise UserError(f"task: {task} needs a tokenizer with a chat template (tokenizer_config.json 'chat_template')")
    raw = p.read_bytes()
    records = []
    for n, record in jsonl_objects(raw.splitlines(), p):
        name = str(record.get("id", f"line {n}"))
        records.append((name, f"{p}:{n} ({what} {name})", record))
    if not records:
        raise UserError(f"{p}: no {what}s")
    return raw, records


def open_sft(path: str, fmt: str, tok) -> SftSequences:
    """Read and render every example; an unreadable line or an example with no labels is a `UserError`."""
    raw, records = chat_records(path, "example", "sft", tok)
    ids, token_lists, masks = [], [], []
    for name, where, record in records:
        toks, mask = render(tok, _messages(record, fmt, where), where)
        if not mask.any():
            raise UserError(f"{where}: no assistant tokens, so every label would be -100; fix or drop the example")
        ids.append(name)
        token_lists.append(toks)
        masks.append(mask)
    return SftSequences(ids, token_lists, masks, hashlib.sha256(raw).hexdigest())
