"""Hugging Face ``datasets`` input: a ``save_to_disk`` folder or a dataset name on the hub.

Both go through the ``datasets`` library, which memory-maps Arrow files, so reading a row range is
cheap and a dataset splits into tasks by rows. Hub names need network access at run time; tests use
local folders.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from corpus.errors import UserError
from corpus.io.raw import Raw

PREFIX = "hf:"


def is_saved_dataset(path: Path) -> bool:
    return path.is_dir() and ((path / "dataset_info.json").exists() or (path / "state.json").exists()
                              or (path / "dataset_dict.json").exists())


@lru_cache(maxsize=8)
def load(ref: str, split: str):
    """Open a dataset by local folder or hub name; a DatasetDict is narrowed to ``split``."""
    import datasets

    try:
        if Path(ref).is_dir():
            ds = datasets.load_from_disk(ref)
        else:
            ds = datasets.load_dataset(ref, split=split)
    except (FileNotFoundError, ValueError, ConnectionError) as e:
        raise UserError(f"cannot open dataset {ref!r}: {e}") from None
    if isinstance(ds, datasets.DatasetDict):
        if split not in ds:
            raise UserError(f"dataset {ref!r} has no split {split!r} (it has {', '.join(ds)})")
        ds = ds[split]
    return ds


def num_rows(ref: str, split: str) -> int:
    return load(ref, split).num_rows


def read_hf(ref: str, file: str, split: str, start: int, end: int) -> Iterator[Raw]:
    ds = load(ref, split)
    for offset, rec in enumerate(ds.select(range(start, end)), start=start):
        yield Raw(file, offset + 1, record=dict(rec))
