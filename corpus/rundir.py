"""The run directory: every path of a Thresher run, named here and nowhere else.

A run directory is a contract with users (``data/`` is what they train on, ``excluded/<label>/`` what
each stage removed, ``quarantine/`` what could not be read), with ``thresher report``, ``verify``,
``tokenize``, ``dedup-eval``, the trainer's lineage, and with the engine that resumes a killed build.
Each folder and file name is spelled once, as a constant or a `RunDir` member, so a layout change is one
edit and no reader guesses. This module is part of the base the trainer may import: it needs nothing of
the pipeline but the document record and the shard formats.

Layout::

    RUN/
      config.yaml  stats.json  manifest.json
      data/                  kept documents (<task>-NNN.jsonl.zst or .parquet)
      excluded/<label>/      what stage <label> removed, flagged with its reason
      quarantine/            records that could not go on, by file and line
      review/                documents a stage holds for a person (PII review)
      report/                the audit report
      tokens/                token shards (tokens/manifest.json, tokens/val/)
      <label>/               a global stage's state between its phases
      .state/                markers, run state, lock, id logs (the engine's)
      .work/<label>/         a pass's saved stream, deleted at the end
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from corpus.document import Document
from corpus.errors import UserError

STATE = ".state"
WORK = ".work"
DATA = "data"
EXCLUDED = "excluded"
QUARANTINE = "quarantine"
REVIEW = "review"
REPORT = "report"
TOKENS = "tokens"
CONFIG = "config.yaml"
STATS = "stats.json"
MANIFEST = "manifest.json"
RUN_STATE = "run.json"
LOCK = "lock"
TOKENS_MANIFEST = "manifest.json"  # tokens/manifest.json (and tokens/val/manifest.json)
TOKENS_VAL = "val"
REPORT_HTML = "report.html"  # report/report.html: the page a person opens

# Folders of the run a stage label may not name (a label names ``excluded/<label>/``, ``<label>/`` and
# ``.work/<label>/``; ``data`` or ``tokens`` as a label would write over outputs).
RESERVED = (DATA, EXCLUDED, QUARANTINE, REPORT, REVIEW, TOKENS)
# Everything at the top of a run that is not a stage's state folder.
TOP_LEVEL = (STATE, WORK, *RESERVED, CONFIG, STATS, MANIFEST)
# What the manifest's ``files`` does not hash: the engine's bookkeeping, the manifest itself, the report
# written after it, documents held for review (they may hold personal data a person has yet to see).
NOT_HASHED = (STATE, WORK, MANIFEST, REPORT, REVIEW)
# The kinds of documents `RunDir.documents` reads.
KINDS = ("data", "excluded", "work")


def in_run(root: Path, *parts: str) -> Path:
    """``root / parts``, refused (a `UserError`) unless it resolves inside ``root``: the one check between
    a configured name (a stage label, a task id) and a write, so no name, symlink or bug writes beside
    or above the run."""
    path = root.joinpath(*parts)
    if not path.resolve().is_relative_to(root.resolve()):
        raise UserError(f"{'/'.join(parts)} would be written outside the run directory {root}; "
                        "labels and configured paths must stay inside it")
    return path


def is_run(path: Path) -> bool:
    """Whether ``path`` is a Thresher run directory (one a build started: it holds ``.state/lock`` or
    ``.state/run.json``, or a finished one copied without them: ``config.yaml`` with ``data/`` or
    ``manifest.json``). A ``.state/`` alone is not enough: ``tokens/`` keeps its own."""
    path = Path(path)
    if (path / STATE / LOCK).is_file() or (path / STATE / RUN_STATE).is_file():
        return True
    return (path / CONFIG).is_file() and ((path / DATA).is_dir() or (path / MANIFEST).is_file())


def is_finished(path: Path) -> bool:
    """Whether ``path`` is a run whose build finished (it wrote its manifest last)."""
    return (Path(path) / MANIFEST).is_file()


@dataclass(frozen=True)
class RunDir:
    """The paths of one run. Members only name paths (nothing is created but by `stage_state`)."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    # ---- files and folders of the run
    @property
    def config(self) -> Path:
        return self.root / CONFIG

    @property
    def stats(self) -> Path:
        return self.root / STATS

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST

    @property
    def data(self) -> Path:
        return self.root / DATA

    @property
    def excluded_root(self) -> Path:
        return self.root / EXCLUDED

    def excluded(self, label: str) -> Path:
        return in_run(self.root, EXCLUDED, label)

    @property
    def quarantine(self) -> Path:
        return self.root / QUARANTINE

    @property
    def review(self) -> Path:
        return self.root / REVIEW

    def held_for_review(self, stage: str) -> Path:
        """``review/<stage>/``: what stage ``stage`` holds for a person to look at (not hashed)."""
        return in_run(self.root, REVIEW, stage)

    @property
    def report(self) -> Path:
        return self.root / REPORT

    @property
    def report_html(self) -> Path:
        return self.root / REPORT / REPORT_HTML

    @property
    def tokens(self) -> Path:
        return self.root / TOKENS

    @property
    def tokens_manifest(self) -> Path:
        return self.root / TOKENS / TOKENS_MANIFEST

    @property
    def state(self) -> Path:
        return self.root / STATE

    @property
    def run_state(self) -> Path:
        return self.root / STATE / RUN_STATE

    @property
    def lock(self) -> Path:
        return self.root / STATE / LOCK

    def work(self, label: str) -> Path:
        """``.work/<label>/``: the stream a pass saved for the pass that starts with stage ``label``."""
        return in_run(self.root, WORK, label)

    @property
    def work_root(self) -> Path:
        return self.root / WORK

    def marker(self, pass_index: int, task_id: str) -> Path:
        """``.state/pass-<k>/<task>.json``: task ``task_id`` finished pass ``k`` (its ledger entry)."""
        return self.root / STATE / f"pass-{pass_index}" / f"{task_id}.json"

    def markers(self) -> list[Path]:
        return sorted(self.state.glob("pass-*/*.json"))

    def reduce_marker(self, label: str) -> Path:
        return in_run(self.root, STATE, f"reduce-{label}.json")

    def quarantine_file(self, task_id: str, pass_index: int) -> Path:
        """Each pass of a task keeps its own quarantine file, so redoing one pass never deletes what an
        earlier pass quarantined."""
        name = f"{task_id}-quarantine.jsonl" if pass_index == 0 else f"{task_id}-pass{pass_index}-quarantine.jsonl"
        return self.root / QUARANTINE / name

    def stage_state(self, label: str) -> Path:
        """``<label>/``: a global stage's files between phases, created."""
        d = in_run(self.root, label)
        d.mkdir(parents=True, exist_ok=True)
        return d

    def excluded_labels(self) -> list[str]:
        """The labels that excluded something, by name."""
        root = self.excluded_root
        return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []

    # ---- documents
    def shards(self, kind: str = "data", label: str | None = None, task_id: str | None = None) -> list[Path]:
        """The shards of ``kind`` in writing order (by task, then index): ``data`` (kept documents),
        ``excluded`` (``label``'s, or every label's in label order), ``work`` (``label``'s saved stream);
        only task ``task_id``'s when given."""
        from corpus.io.writers import list_shards

        if kind == "data":
            dirs = [self.data]
        elif kind == "excluded":
            dirs = [self.excluded(label)] if label else [self.excluded_root / lb for lb in self.excluded_labels()]
        elif kind == "work":
            if label is None:
                raise ValueError("the work stream of which stage? (label)")
            dirs = [self.work(label)]
        else:
            raise ValueError(f"unknown document kind {kind!r} (known: {', '.join(KINDS)})")
        return [p for d in dirs for p in list_shards(d, task_id)]

    def documents(self, kind: str = "data", label: str | None = None, task_id: str | None = None) -> Iterator[Document]:
        """The documents of ``kind`` (see `shards`), streamed in writing order, whatever format the
        writer used (``.jsonl.zst`` or Parquet)."""
        return read_shards(self.shards(kind, label, task_id))


def read_shards(paths: list[Path]) -> Iterator[Document]:
    """Documents of Thresher shards in order, ``.jsonl.zst`` and Parquet alike: the one reader of what
    a `corpus.io.writers.ShardWriter` wrote."""
    for path in paths:
        if path.name.endswith(".parquet"):
            import pyarrow.parquet as pq

            from corpus.io.parquet import shard_record

            for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
                for row in batch.to_pylist():
                    yield Document.from_dict(shard_record(row))
        else:
            from corpus.io.jsonl import loads, open_compressed

            with open_compressed(str(path)) as stream:
                for line in stream:
                    yield Document.from_dict(loads(line))
