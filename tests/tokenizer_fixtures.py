"""A real tokenizer and real documents for tokenizer, tokenization and trainer tests.

``trained_tokenizer`` (session-scoped) is a byte-level BPE trained once per session by the real
``thresher tokenizer train`` command on the bundled public-domain speeches; import it into a
test module with ``from tokenizer_fixtures import trained_tokenizer  # noqa: F401``.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import orjson
import pytest
from testdata import speech_pieces

VOCAB_SIZE = 1024


def write_speech_pieces(out: Path, folder: str, chars: int = 3000, files: int | None = None) -> list[dict]:
    """Write ``prose/<folder>`` (its first ``files`` speeches) as JSONL documents, each speech cut at
    paragraph breaks into pieces of about ``chars`` characters; returns the records."""
    records = [{"id": doc_id, "text": text} for doc_id, text in speech_pieces(folder, chars, files)]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return records


@pytest.fixture(scope="session")
def trained_tokenizer(tmp_path_factory) -> Path:
    """A tokenizer folder (vocabulary 1024) trained by ``thresher tokenizer train`` on the inaugural addresses."""
    from conftest import thresher

    base = tmp_path_factory.mktemp("tokenizer")
    corpus = base / "inaugural.jsonl"
    write_speech_pieces(corpus, "inaugural")
    out = base / "tok"
    r = thresher("tokenizer", "train", "--input", str(corpus), "--vocab-size", str(VOCAB_SIZE), "--output", str(out))
    assert r.returncode == 0, r.stderr
    return out


def read_megatron_index(idx: Path) -> dict:
    """An independent reader of Megatron's ``.idx`` (``MMIDIDX`` v1), field by field, from its layout."""
    data = idx.read_bytes()
    magic, version, code, n, n_docs = struct.unpack_from("<9sQBQQ", data, 0)
    off = struct.calcsize("<9sQBQQ")
    lengths = np.frombuffer(data, "<i4", n, off)
    pointers = np.frombuffer(data, "<i8", n, off + 4 * n)
    doc_index = np.frombuffer(data, "<i8", n_docs, off + 12 * n)
    return {"magic": magic, "version": version, "code": code, "n": n, "n_docs": n_docs, "lengths": lengths,
            "pointers": pointers, "doc_index": doc_index, "size": len(data), "end": off + 12 * n + 8 * n_docs}


def read_sequences(prefix: Path) -> tuple[list[list[int]], list[str]]:
    """Every sequence of a shard (via ``read_megatron_index`` and the raw ``.bin``) and its ``.ids`` lines."""
    index = read_megatron_index(Path(f"{prefix}.idx"))
    dtype = {8: "<u2", 4: "<i4"}[index["code"]]
    raw = Path(f"{prefix}.bin").read_bytes()
    itemsize = np.dtype(dtype).itemsize
    seqs = [np.frombuffer(raw, dtype, int(length), int(ptr)).tolist()
            for length, ptr in zip(index["lengths"], index["pointers"], strict=True)]
    ids = Path(f"{prefix}.ids").read_bytes().decode("utf-8").split("\n")[:-1]
    assert len(raw) == int(index["lengths"].sum()) * itemsize
    return seqs, ids
