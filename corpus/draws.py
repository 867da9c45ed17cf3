"""Seeded draws on document ids: every decision that samples documents hashes under a salt of its own.

A draw is xxh64 of ``salt + id`` under a seed, compared as a fraction of 2**64. When two decisions
shared the hash (the val split's fixed seed 0x7A1D, the mixture's seed chosen by the user) a mix
seed of 31261 = 0x7A1D drew the same number for every document in both: a source weighted at most
``val_fraction`` kept none of its training documents. With a salt per decision the inputs differ,
so the draws are independent whatever seeds are chosen.
"""

from __future__ import annotations

import xxhash

# The val split hashes the bare id under a fixed seed, as it always has, so splits made before the
# salts existed stay where they are; the other decisions add a salt, which the bare id can never be.
VAL_SPLIT = b""
VAL_SPLIT_SEED = 0x7A1D
MIX = b"mix\0"  # the mixture's fractional copy (corpus.token_shards)
TOKENIZER_SAMPLE = b"tokenizer-sample\0"  # ``thresher tokenizer train --sample``


def below(salt: bytes, key: str, seed: int, fraction: float) -> bool:
    """True for about ``fraction`` of keys: the same keys for the same salt and seed, in every run."""
    return xxhash.xxh64_intdigest(salt + key.encode(), seed=seed) < fraction * 2.0 ** 64
