"""Tokenizers for the ``tokenize`` stage: find one (a folder or a hub name), hash it, load it, encode.

The stage needs only the fast (Rust) tokenizer and three special-token ids, so a folder with a
``tokenizer.json`` is read with ``tokenizers`` alone (no ``transformers`` import, which costs seconds
in every worker). A folder without one (a slow, SentencePiece-only tokenizer) goes through
``transformers`` once to be converted. Hub names are fetched as a snapshot of the tokenizer files
only, never model weights.

The hash names the tokenizer in the tokens manifest: sha256 over the sorted ``(file name, file
sha256)`` pairs of the folder's tokenizer files, so a copy of the folder has the same hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corpus.errors import UserError
from corpus.tokens import sha256

# What a Hugging Face tokenizer folder may hold (model weights and configs are not the tokenizer).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                   "vocab.json", "merges.txt", "vocab.txt", "tokenizer.model", "spiece.model",
                   "sentencepiece.bpe.model", "chat_template.jinja", "chat_template.json")
TOKENIZER_GLOBS = ("*.tiktoken",)
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def tokenizer_files(folder: Path) -> list[Path]:
    """The folder's tokenizer files, sorted by name."""
    found = {p for name in TOKENIZER_FILES if (p := folder / name).is_file()}
    for pattern in TOKENIZER_GLOBS:
        found.update(p for p in folder.glob(pattern) if p.is_file())
    return sorted(found, key=lambda p: p.name)


def folder_sha256(folder: Path) -> str:
    """sha256 over ``name\\0sha256\\n`` of every tokenizer file: the same for any copy of the folder."""
    h = hashlib.sha256()
    for p in tokenizer_files(folder):
        h.update(f"{p.name}\0{sha256(p)}\n".encode())
    return h.hexdigest()


def looks_like_hub_id(ref: str) -> bool:
    return bool(_HUB_ID.match(ref)) and not ref.startswith((".", "/", "~"))


def check_ref(ref: str) -> None:
    """Fail early (at config time) on a tokenizer reference that can be neither a folder nor a hub name."""
    p = Path(ref).expanduser()
    if p.exists():
        if not p.is_dir() or not tokenizer_files(p):
            raise UserError(f"tokenizer {ref}: not a tokenizer folder (no tokenizer.json or tokenizer_config.json)")
    elif not looks_like_hub_id(ref):
        raise UserError(f"tokenizer {ref}: no such folder (paths are relative to the current directory)")


def resolve(ref: str) -> Path:
    """A local tokenizer folder for ``ref``: the folder itself, or a hub snapshot of its tokenizer files."""
    check_ref(ref)
    p = Path(ref).expanduser()
    if p.is_dir():
        return p.resolve()
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(ref, allow_patterns=[*TOKENIZER_FILES, *TOKENIZER_GLOBS]))
    except Exception as e:  # noqa: BLE001 - offline, unknown repo, gated: all the user's to fix
        raise UserError(f"tokenizer {ref}: not a local folder, and the hub snapshot failed "
                        f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None


def _token_content(value: Any) -> str | None:
    """A special token as ``tokenizer_config.json`` stores it: a string or an AddedToken mapping."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) and value else None


def _special_tokens(folder: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in ("special_tokens_map.json", "tokenizer_config.json"):  # the config wins
        path = folder / name
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
            for key in ("bos_token", "eos_token", "pad_token"):
                if (tok := _token_content(data.get(key))) is not None:
                    out[key] = tok
    return out


@dataclass
class LoadedTokenizer:
    """What tokenization needs: the fast tokenizer, the special-token ids and the tokenizer's identity."""

    name: str
    folder: Path
    fast: Any  # tokenizers.Tokenizer
    eos_id: int
    bos_id: int | None
    pad_id: int | None
    vocab_size: int  # largest id + 1, added tokens included
    sha256: str

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text, batch-encoded on the Rust thread pool.

        Text is only ever text: a document that spells ``<|end_of_text|>`` gets the ids of those
        characters, never the special token (`load` sets ``encode_special_tokens``), or it would hold a
        false document end, or chat control tokens in pretraining data. Special tokens enter a
        sequence by id only (the EOS the shard writer appends).
        """
        return [e.ids for e in self.fast.encode_batch_fast(texts, add_special_tokens=False)]

    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "sha256": self.sha256}

    def copy_to(self, dest: Path) -> None:
        """Copy the tokenizer files into ``dest`` (kept beside the shards for lineage and training)."""
        dest.mkdir(parents=True, exist_ok=True)
        for p in tokenizer_files(self.folder):
            shutil.copyfile(p, dest / p.name)


def _fast_tokenizer(folder: Path) -> Any:
    from tokenizers import Tokenizer

    if (folder / "tokenizer.json").is_file():
        return Tokenizer.from_file(str(folder / "tokenizer.json"))
    try:
        from transformers import AutoTokenizer

        hf = AutoTokenizer.from_pretrained(str(folder))
    except Exception as e:  # noqa: BLE001 - a broken folder is the user's to fix
        raise UserError(f"tokenizer {folder}: cannot be loaded ({type(e).__name__}: {e})") from None
    fast = getattr(hf, "backend_tokenizer", None)
    if fast is None:
        raise UserError(f"tokenizer {folder}: has no fast (Rust) form; save it with a tokenizer.json")
    return fast


def text_only(fast: Any) -> Any:
    """Make a `tokenizers.Tokenizer` read a special token's spelling in text (``[SEP]``, ``<s>``,
    ``<|end_of_text|>``) as the characters it is: a document must never smuggle control tokens into
    a model's input or training data (``add_special_tokens=False`` only stops the tokenizer adding
    them; matching them in text is this switch)."""
    fast.encode_special_tokens = True
    return fast


def load(ref: str, eos_token: str | None = None) -> LoadedTokenizer:
    """Load ``ref`` (folder or hub name); ``eos_token`` overrides the folder's EOS token."""
    folder = resolve(ref)
    fast = text_only(_fast_tokenizer(folder))  # see LoadedTokenizer.encode
    specials = _special_tokens(folder)
    if eos_token:
        specials["eos_token"] = eos_token
    ids: dict[str, int | None] = {}
    for key in ("eos_token", "bos_token", "pad_token"):
        tok = specials.get(key)
        ids[key] = None if tok is None else fast.token_to_id(tok)
        if tok is not None and ids[key] is None:
            raise UserError(f"tokenizer {ref}: {key} {tok!r} is not in its vocabulary")
    if ids["eos_token"] is None:
        raise UserError(f"tokenizer {ref}: has no EOS token; every sequence ends with one "
                        "(set eos_token: in the stage, or --eos-token)")
    vocab = fast.get_vocab(with_added_tokens=True)
    return LoadedTokenizer(name=ref, folder=folder, fast=fast, eos_id=ids["eos_token"], bos_id=ids["bos_token"],
                           pad_id=ids["pad_token"], vocab_size=max(vocab.values()) + 1 if vocab else 0,
                           sha256=folder_sha256(folder))


def rayon_threads(workers: int) -> int:
    """Threads for each worker's Rust pool: the cores this process may use, shared by ``workers`` processes."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, workers))


def set_threads(threads: int) -> None:
    """Size the tokenizers Rust pool before its first use in this process (it is fixed after that)."""
    os.environ["RAYON_NUM_THREADS"] = str(threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true" if threads > 1 else "false")
