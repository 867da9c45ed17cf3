"""Split the inputs into tasks: files, large plain files by byte range, Parquet by row groups.

The plan depends on the inputs and ``task_size_mb`` only, never on the number of workers, so output
names and order are the same however many workers run them.

``task_size_mb: auto`` (the default) derives the size from the total input: about `AUTO_TASKS`
tasks, each at least `AUTO_MIN_MB` (a task costs about 4 ms of CPU for markers, shard files, fsyncs;
docs/benchmarks.md) and at most `AUTO_MAX_MB` (a task's shards are its own files, so a large corpus
keeps large shards). A 58 MB file then runs as 15 tasks instead of one, and every worker of a
many-core machine has work on inputs of tens of MB.
"""

from __future__ import annotations

import glob
import itertools
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from corpus.config import TASK_SIZE_AUTO, PipelineConfig
from corpus.errors import UserError
from corpus.io import hf
from corpus.rundir import STATE

_COUNT_BUF = 16 << 20
_MB = 1 << 20
AUTO_TASKS = 128
AUTO_MIN_MB = 4
AUTO_MAX_MB = 64


@dataclass(frozen=True)
class Slice:
    """Part of one input: byte range (plain JSONL), row groups (Parquet) or rows (datasets)."""

    path: str  # absolute path or dataset reference
    file: str  # as shown in ids, quarantine and reports (relative to the pipeline YAML)
    fmt: str  # jsonl | parquet | text | hf
    start: int = 0
    end: int | None = None
    first: int = 1  # 1-based line or row number of the first record
    sha256: str | None = None  # the input's content hash, set at plan time by the build (None: not hashed)


@dataclass(frozen=True)
class Task:
    id: str
    slices: tuple[Slice, ...]

    def to_dict(self) -> dict:
        return {"id": self.id, "slices": [asdict(s) for s in self.slices]}

    @classmethod
    def from_dict(cls, d: dict) -> Task:
        return cls(d["id"], tuple(Slice(**s) for s in d["slices"]))


# Formats read whole, one task per file: a JSON array must be parsed at once, CSV quotes may span lines,
# a WARC's gzip members are found by reading from the start.
WHOLE_FILE = ("json", "csv", "tsv", "warc")
_EXTENSIONS = ((".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "json"), (".parquet", "parquet"),
               (".txt", "text"), (".text", "text"), (".md", "text"), (".csv", "csv"), (".tsv", "tsv"),
               (".warc", "warc"), (".wet", "warc"))


def _format_of(path: str) -> str | None:
    """The format a file name says, or None (Parquet compresses inside, so ``.parquet.gz`` is not one;
    a WARC is plain or gzip, never zstd)."""
    name = path.lower()
    compressed = name.endswith((".gz", ".zst", ".zstd"))
    name = name.rsplit(".", 1)[0] if compressed else name
    fmt = next((fmt for ext, fmt in _EXTENSIONS if name.endswith(ext)), None)
    if compressed and (fmt == "parquet" or (fmt == "warc" and not path.lower().endswith(".gz"))):
        return None
    return fmt


def detect_format(path: str) -> str:
    fmt = _format_of(path)
    if fmt is None:
        raise UserError(f"input {path}: unknown format (use .jsonl, .json, .csv, .tsv or .txt, each optionally "
                        ".gz or .zst; .parquet; .warc or .warc.gz; a folder of those; or an hf: dataset)")
    return fmt


def _folder_files(folder: Path, pattern: str, output_dir: Path) -> list[Path]:
    """Every file of a supported format below ``folder``, sorted by path; hidden files and folders
    (``.git``, ``.cache``) and any run directory inside it (this run's output included) are skipped."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            p = Path(dirpath) / name
            if not name.startswith(".") and _format_of(name) and not _inside_a_run(p.resolve(), pattern, output_dir):
                found.append(p)
    return sorted(found, key=lambda p: p.relative_to(folder).parts)


def _display(path: Path, base: Path) -> str:
    """The path relative to the pipeline YAML's folder, so ids and manifests do not depend on the machine."""
    return os.path.relpath(path, base)


def _inside_a_run(match: Path, pattern: str, output_dir: Path) -> bool:
    """Whether a glob's match lies in a run directory (this run's output, or any folder holding a run's
    state) that the glob's fixed part does not already point into: ``**/*.jsonl`` must not read a run's
    quarantine, excluded documents or data, while ``s1/data/*`` chains on run ``s1`` on purpose."""
    fixed = Path(*itertools.takewhile(lambda part: not glob.has_magic(part), Path(pattern).parts)).resolve()
    for parent in match.parents:
        if parent == output_dir or (parent / STATE).is_dir():
            return not fixed.is_relative_to(parent)
    return False


def expand_inputs(cfg: PipelineConfig) -> list[tuple[str, str, str]]:
    """``(path, display name, format)`` for every input, in the order given, each once."""
    out: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for pattern in cfg.input.paths:
        if pattern.startswith(hf.PREFIX):
            ref = pattern[len(hf.PREFIX):]
            local = (cfg.base_dir / ref)
            ref = str(local.resolve()) if local.exists() else ref
            out.append((ref, pattern, "hf"))
            continue
        full = pattern if os.path.isabs(pattern) else str(cfg.base_dir / pattern)
        matches = sorted(glob.glob(full, recursive=True)) if glob.has_magic(full) else [full]
        matches = [m for m in matches if glob.has_magic(full) or os.path.exists(m)]
        if glob.has_magic(full):
            matches = [m for m in matches if not _inside_a_run(Path(m).resolve(), full, cfg.output_dir)]
        elif Path(full).resolve().is_relative_to(cfg.output_dir):
            raise UserError(f"input {pattern!r} is inside this run's output {cfg.output_dir}; a run never reads "
                            "its own output: copy the file elsewhere or choose another output")
        if not matches:
            raise UserError(f"input {pattern!r} matches no files (relative to {cfg.base_dir})")
        for m in matches:
            p = Path(m).resolve()
            if str(p) in seen:
                continue
            seen.add(str(p))
            if p.is_dir():
                if hf.is_saved_dataset(p):
                    out.append((str(p), _display(p, cfg.base_dir), "hf"))
                    continue
                files = _folder_files(p, full, cfg.output_dir)
                if not files:
                    raise UserError(f"input folder {pattern!r} holds no file of a supported format")
                for f in files:
                    if str(f.resolve()) not in seen:
                        seen.add(str(f.resolve()))
                        out.append((str(f.resolve()), _display(f.resolve(), cfg.base_dir), detect_format(f.name)))
                continue
            out.append((str(p), _display(p, cfg.base_dir), detect_format(p.name)))
    return out


def _line_splits(path: str, size: int, task_bytes: int) -> list[tuple[int, int, int]]:
    """Byte ranges ``(start, end, first_line)`` aligned to line starts, about ``task_bytes`` each."""
    splits: list[tuple[int, int, int]] = []
    start, line = 0, 1
    with open(path, "rb") as f:
        while start < size:
            target = start + task_bytes
            if target >= size:
                splits.append((start, size, line))
                break
            f.seek(target)
            f.readline()
            end = f.tell()
            f.seek(start)
            remaining, newlines = end - start, 0
            while remaining:
                chunk = f.read(min(_COUNT_BUF, remaining))
                newlines += chunk.count(b"\n")
                remaining -= len(chunk)
            splits.append((start, end, line))
            start, line = end, line + newlines
    return splits or [(0, 0, 1)]


def _input_bytes(path: str, fmt: str, split: str) -> int:
    return hf.load(path, split).data.nbytes if fmt == "hf" else os.path.getsize(path)


def task_id(index: int) -> str:
    """The id of the plan's task ``index`` (``00042``): it names the task's shards, markers and stage
    state, so whoever turns an index back into a name (dedup's uids) asks here."""
    return f"{index:05d}"


def task_size_bytes(setting: float | str, inputs: list[tuple[str, str, str]], split: str) -> int:
    """Bytes per task: the configured size, or for ``auto`` a share of the total input (never of the
    worker count, so the plan, and with it the output, is the same for any number of workers)."""
    if setting != TASK_SIZE_AUTO:
        return int(setting * _MB)
    total = sum(_input_bytes(path, fmt, split) for path, _, fmt in inputs)
    return int(min(AUTO_MAX_MB * _MB, max(AUTO_MIN_MB * _MB, total / AUTO_TASKS)))


def plan(cfg: PipelineConfig) -> list[Task]:
    inputs = expand_inputs(cfg)
    task_bytes = task_size_bytes(cfg.input.task_size_mb, inputs, cfg.input.hf_split)
    groups: list[list[Slice]] = []
    text_group: list[Slice] = []
    text_bytes = 0
    for path, display, fmt in inputs:
        if fmt == "text":
            text_group.append(Slice(path, display, fmt))
            text_bytes += os.path.getsize(path)
            if text_bytes >= task_bytes:
                groups.append(text_group)
                text_group, text_bytes = [], 0
            continue
        if text_group:
            groups.append(text_group)
            text_group, text_bytes = [], 0
        if fmt == "jsonl":
            size = os.path.getsize(path)
            if path.endswith((".gz", ".zst", ".zstd")) or size <= task_bytes:
                groups.append([Slice(path, display, fmt)])
            else:
                groups.extend([Slice(path, display, fmt, s, e, first)] for s, e, first in
                              _line_splits(path, size, task_bytes))
        elif fmt in WHOLE_FILE:
            groups.append([Slice(path, display, fmt)])
        elif fmt == "parquet":
            groups.extend([s] for s in _parquet_slices(path, display, task_bytes))
        elif fmt == "hf":
            groups.extend([s] for s in _hf_slices(path, display, cfg.input.hf_split, task_bytes))
    if text_group:
        groups.append(text_group)
    return [Task(task_id(i), tuple(g)) for i, g in enumerate(groups)]


def _parquet_slices(path: str, display: str, task_bytes: int) -> list[Slice]:
    import pyarrow.parquet as pq

    try:
        md = pq.ParquetFile(path).metadata
    except Exception:  # noqa: BLE001 - an unreadable file is read (and quarantined) as one task
        return [Slice(path, display, "parquet", 0, None, 1)]
    out, start, row, first_row, acc = [], 0, 0, 1, 0
    for g in range(md.num_row_groups):
        acc += md.row_group(g).total_byte_size
        row += md.row_group(g).num_rows
        if acc >= task_bytes or g == md.num_row_groups - 1:
            out.append(Slice(path, display, "parquet", start, g + 1, first_row))
            start, first_row, acc = g + 1, row + 1, 0
    return out or [Slice(path, display, "parquet", 0, 0, 1)]


def _hf_slices(ref: str, display: str, split: str, task_bytes: int) -> list[Slice]:
    ds = hf.load(ref, split)
    rows = ds.num_rows
    nbytes = max(1, ds.data.nbytes)
    per_task = max(1, int(rows * task_bytes / nbytes)) if nbytes > task_bytes else max(rows, 1)
    return [Slice(ref, display, "hf", s, min(rows, s + per_task), s + 1) for s in range(0, max(rows, 1), per_task)]
