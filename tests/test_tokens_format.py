"""The shard format, field by field against Megatron-LM's indexed dataset, and the reader API."""

from __future__ import annotations

import hashlib
import struct

import numpy as np
import orjson
import pytest
from tokenizer_fixtures import read_megatron_index, read_sequences

from corpus.tokens import FORMAT, Shard, ShardWriter, TokenCorpus, dtype_for_vocab, open_tokens

SEQS = [[5, 6, 7, 1], [1], [65000, 3, 1], [9] * 1000 + [1]]
IDS = ["a", "doc with spaces", "b\nwith break", "ünïcödé/\u2028x"]


def write(prefix, seqs=SEQS, ids=IDS, dtype=np.uint16):
    w = ShardWriter(prefix, dtype)
    for s, i in zip(seqs, ids, strict=True):
        w.add(s, i)
    return w.close()


def write_corpus(d, shards, vocab_size=65000):
    """A tokens folder with a manifest listing ``shards`` (``name -> sequences``)."""
    entries = [write(d / name, seqs, [f"{name}:{k}" for k in range(len(seqs))]) for name, seqs in shards.items()]
    manifest = {"format": FORMAT, "tokenizer": {"name": "t", "sha256": "0" * 64}, "vocab_size": vocab_size,
                "dtype": "uint16", "eos_id": 1, "bos_id": None, "pad_id": None, "shards": entries}
    (d / "manifest.json").write_bytes(orjson.dumps(manifest))
    return manifest


def test_index_matches_megatron_layout_field_by_field(tmp_path):
    write(tmp_path / "s")
    idx = read_megatron_index(tmp_path / "s.idx")
    assert idx["magic"] == b"MMIDIDX\x00\x00"
    assert idx["version"] == 1
    assert idx["code"] == 8  # Megatron's DType.uint16
    assert idx["n"] == len(SEQS)
    assert idx["n_docs"] == len(SEQS) + 1  # document_indices: [0, 1, ..., n], one sequence per document
    assert idx["lengths"].tolist() == [len(s) for s in SEQS]
    assert idx["pointers"].tolist() == [0, 8, 10, 16]  # byte offsets: cumulative length * 2 bytes
    assert idx["doc_index"].tolist() == list(range(len(SEQS) + 1))
    assert idx["end"] == idx["size"]  # nothing after the document index
    seqs, ids = read_sequences(tmp_path / "s")
    assert seqs == SEQS
    assert ids == ["a", "doc with spaces", "b with break", "ünïcödé/\u2028x"]  # line breaks become spaces


def test_megatron_reads_the_shards(tmp_path):
    """Megatron-LM's own reader (megatron-core) opens the shard and sees the same sequences and documents."""
    from megatron.core.datasets import indexed_dataset as indexed  # in the dev extra

    write(tmp_path / "s")
    ds = indexed.IndexedDataset(str(tmp_path / "s"), mmap=True)
    assert len(ds) == len(SEQS)
    assert ds.sequence_lengths.tolist() == [len(s) for s in SEQS]
    assert ds.document_indices.tolist() == list(range(len(SEQS) + 1))
    assert [ds[i].tolist() for i in range(len(ds))] == SEQS
    assert ds.index.dtype == np.uint16


def test_wide_vocabulary_uses_int32_code_4(tmp_path):
    assert dtype_for_vocab(50_257) == np.uint16
    assert dtype_for_vocab(65_499) == np.uint16
    assert dtype_for_vocab(65_500) == np.int32  # Megatron's optimal_dtype threshold
    assert dtype_for_vocab(128_256) == np.int32
    seqs = [[128_000, 70_000, 1], [2, 1]]
    write(tmp_path / "w", seqs, ["x", "y"], np.int32)
    idx = read_megatron_index(tmp_path / "w.idx")
    assert idx["code"] == 4
    assert idx["pointers"].tolist() == [0, 12]
    assert read_sequences(tmp_path / "w")[0] == seqs


def test_writer_rejects_ids_that_do_not_fit(tmp_path):
    w = ShardWriter(tmp_path / "x", np.uint16)
    with pytest.raises(ValueError, match="out of range"):
        w.add([1, 70_000], "d")
    w.abort()
    assert list(tmp_path.iterdir()) == []  # no partial files left


def test_writer_hashes_are_the_file_hashes(tmp_path):
    entry = write(tmp_path / "h")
    for ext in ("bin", "idx", "ids"):
        assert entry["sha256"][ext] == hashlib.sha256((tmp_path / f"h.{ext}").read_bytes()).hexdigest()
    assert (entry["sequences"], entry["tokens"]) == (len(SEQS), sum(map(len, SEQS)))


def test_empty_shard_is_valid(tmp_path):
    w = ShardWriter(tmp_path / "e", np.uint16)
    w.close()
    idx = read_megatron_index(tmp_path / "e.idx")
    assert (idx["n"], idx["n_docs"], idx["doc_index"].tolist()) == (0, 1, [0])
    assert len(Shard(tmp_path / "e")) == 0


def test_corpus_addresses_sequences_across_shards(tmp_path):
    write_corpus(tmp_path, {"a": [[3, 1], [4, 4, 1]], "b": [], "c": [[5, 1]]})
    corpus = open_tokens(tmp_path)
    assert len(corpus) == 3
    assert [corpus[i].tolist() for i in range(3)] == [[3, 1], [4, 4, 1], [5, 1]]
    assert corpus[-1].tolist() == [5, 1]
    assert [corpus.doc_id(i) for i in range(3)] == ["a:0", "a:1", "c:0"]
    assert corpus.lengths().tolist() == [2, 3, 2]
    assert [(d, t.tolist()) for d, t in corpus] == [("a:0", [3, 1]), ("a:1", [4, 4, 1]), ("c:0", [5, 1])]
    assert (corpus.eos_id, corpus.vocab_size, corpus.dtype, corpus.num_tokens) == (1, 65000, np.uint16, 7)
    assert corpus.manifest_sha256 == hashlib.sha256((tmp_path / "manifest.json").read_bytes()).hexdigest()
    assert corpus.val is None
    with pytest.raises(IndexError):
        corpus[3]
    with pytest.raises(IndexError):
        corpus[-4]
    assert corpus.verify() == []


def test_verify_and_open_catch_damage(tmp_path):
    write_corpus(tmp_path, {"a": [[3, 1], [4, 4, 1]]})
    data = bytearray((tmp_path / "a.bin").read_bytes())
    data[0] ^= 1
    (tmp_path / "a.bin").write_bytes(bytes(data))
    assert any("a.bin" in p and "sha256" in p for p in TokenCorpus(tmp_path).verify())
    (tmp_path / "a.bin").write_bytes(bytes(data[:-2]))  # truncated
    with pytest.raises(ValueError, match="truncated"):
        TokenCorpus(tmp_path)
    (tmp_path / "a.idx").write_bytes(b"NOTMEGA" + bytes(40))
    with pytest.raises(ValueError, match="MMIDIDX"):
        Shard(tmp_path / "a")


def test_idx_with_unknown_dtype_code_is_refused(tmp_path):
    write(tmp_path / "s")
    data = bytearray((tmp_path / "s.idx").read_bytes())
    data[9 + 8] = 42  # the dtype code byte
    (tmp_path / "s.idx").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="dtype code 42"):
        Shard(tmp_path / "s")
    assert struct.unpack_from("<B", data, 17)[0] == 42
