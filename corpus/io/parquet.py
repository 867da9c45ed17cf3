"""Parquet read by row groups (so a large file splits into tasks) and written by the shard writer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from corpus.io.jsonl import loads
from corpus.io.raw import Raw


def row_groups(path: str) -> list[int]:
    """Rows per row group, used by the planner to split a file into tasks."""
    md = pq.ParquetFile(path).metadata
    return [md.row_group(i).num_rows for i in range(md.num_row_groups)]


def read_parquet(path: str, file: str, first_group: int = 0, last_group: int | None = None,
                 first_row: int = 1) -> Iterator[Raw]:
    """Rows of row groups ``[first_group, last_group)``; ``first_row`` is the 1-based number of the first."""
    row = first_row - 1
    try:
        pf = pq.ParquetFile(path)
        ours = is_shard(pf.schema_arrow)
        groups = range(first_group, pf.metadata.num_row_groups if last_group is None else last_group)
        for g in groups:
            for rec in pf.read_row_group(g).to_pylist():
                row += 1
                try:
                    yield Raw(file, row, record=shard_record(rec) if ours else rec)
                except ValueError as e:  # a shard's metadata that is not JSON
                    yield Raw(file, row, error=f"malformed JSON in the metadata column: {e}")
    except (OSError, pa.ArrowException) as e:
        yield Raw(file, row + 1, error=f"unreadable Parquet after row {row}: {e}")


SCHEMA = pa.schema([("id", pa.string()), ("text", pa.string()), ("source", pa.string()),
                    ("metadata", pa.string())])


def is_shard(schema: pa.Schema) -> bool:
    """Whether a Parquet file has the columns of Thresher's own shards (another run's output)."""
    return schema.remove_metadata().equals(SCHEMA)


def shard_record(row: dict[str, Any]) -> dict[str, Any]:
    """A row of a Thresher shard as the document record it stores: ``metadata`` back to a mapping, so a
    run chained on Parquet output keeps its ``source`` and flags like one chained on JSONL."""
    meta = row.get("metadata")
    return {**row, "source": row.get("source") or "", "metadata": loads(meta) if meta else {}}


def write_rows(file, writer: pq.ParquetWriter | None, rows: list[dict]) -> pq.ParquetWriter:
    """Append ``rows`` as one row group; ``metadata`` is stored as a JSON string column."""
    if writer is None:
        writer = pq.ParquetWriter(file, SCHEMA, compression="zstd")
    writer.write_table(pa.Table.from_pylist(rows, schema=SCHEMA))
    return writer
