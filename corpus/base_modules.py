"""The base: the modules of `corpus` the trainer may import, named once.

The trainer reads what the pipeline wrote (token shards, the run directory, lineage keys) and shares a
few conventions with it (errors and exit codes, atomic writes, YAML reading, config validation, the
tokenizer's hash, the erasure history). Those live in the modules below; everything else of `corpus`
(stages, engine, report, commands) is the data side, which the trainer never imports, so either can
change without the other, and ``pip install thresher`` ships the data side without torch. A trainer
command that drives the data side too (``thresher ablate``) runs its ``thresher`` commands in
subprocesses, as a user would.

The base is closed: a base module imports, at module level or inside a function, only base modules and
third-party packages. ``tests/test_dependency_direction.py`` checks that, that the trainer imports
nothing of `corpus` outside the base, and that `corpus` never imports the trainer.
"""

from __future__ import annotations

BASE: tuple[str, ...] = (
    "corpus",  # the package itself (its version, recorded in lineage); every import of the base runs it
    "corpus.errors",  # UserError / Fault: one-line errors and their exit codes
    "corpus.io",
    "corpus.io.atomic",  # atomic file writes, JSON read/write
    "corpus.yamlfile",  # YAML reading with one-line errors
    "corpus.schema",  # config validation: the dataclass is the schema (trainer and pipeline configs alike)
    "corpus.tokens",  # the token-shard format (Megatron .bin/.idx, .ids, manifest) and its reader
    "corpus.tokenizer",  # finding, loading and hashing a tokenizer folder
    "corpus.rundir",  # the run directory's layout and its document reader
    "corpus.keys",  # lineage.json's keys (and the metadata keys the pipeline writes)
    "corpus.document",  # the document record the run-dir reader yields
    "corpus.io.writers",  # shard names and order (rundir lists shards through it)
    "corpus.io.jsonl",  # reading .jsonl(.zst) shards and files
    "corpus.io.parquet",  # reading Parquet shards
    "corpus.io.raw",  # the reader's record type, which jsonl and parquet yield
    "corpus.erasures",  # the erasure history read: which checkpoints saw a run, the token layout before erasures
)
