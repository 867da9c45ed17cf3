"""Deduplication stages: ``dedup_exact`` (hash of normalised text or a metadata field) and
``dedup_minhash`` (MinHash LSH near-duplicates with clusters).

Both are `GlobalStage`s whose global state never has to fit in memory: per-task files are written
during ``scan``, sorted runs are range-partitioned by hash in ``reduce`` (see `runs`), and only the
documents that actually have duplicates reach the in-memory union-find (see `clusters`).
"""
