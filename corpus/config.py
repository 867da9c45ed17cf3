"""The pipeline YAML: loaded, checked key by key, and resolved with every default filled.

`PipelineConfig` and its sections are dataclasses whose fields are the allowed keys: the dataclass is
the schema (`corpus.schema`, which checks stage parameters and the trainer config the same way). An
unknown key, a wrong type or an impossible value is a `UserError` naming the key (one line, exit 2).
The resolved form is what ``RUN/config.yaml`` holds and what the manifest hashes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

from corpus import schema
from corpus.errors import UserError
from corpus.io.records import DUPLICATE_IDS
from corpus.io.writers import FORMATS
from corpus.yamlfile import read_yaml

REPORT_FORMATS = ("html", "md", "json")
EXECUTORS = ("local", "ray")
TASK_SIZE_AUTO = "auto"  # input.task_size_mb: derive the size from the total input (corpus/engine/plan.py)


@dataclass
class InputConfig:
    paths: list[str]  # a single path or glob is taken too
    text_field: str = "text"
    id_field: str = "id"
    task_size_mb: float | Literal[TASK_SIZE_AUTO] = TASK_SIZE_AUTO  # or MB per task
    max_doc_chars: int = 10_000_000
    hf_split: str = "train"


@dataclass
class WriterConfig:
    format: Literal[FORMATS] = "jsonl.zst"
    shard_size_mb: float = 256.0


@dataclass
class ReportConfig:
    formats: list[Literal[REPORT_FORMATS]] = field(default_factory=lambda: list(REPORT_FORMATS))


@dataclass
class ReaderConfig:
    duplicate_ids: Literal[DUPLICATE_IDS] = DUPLICATE_IDS[0]


@dataclass
class PipelineConfig:
    name: str
    input: InputConfig
    output: str
    stages: list[dict[str, Any]]  # each entry checked by its stage's Params (`corpus.stages.base.build`)
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    report: ReportConfig | None = None
    writer: WriterConfig = field(default_factory=WriterConfig)
    executor: Literal[EXECUTORS] = "local"
    ray_address: str | None = None
    max_error_rate: float = 0.01  # share of records a stage may fail on (quarantined) before the build stops
    reader: ReaderConfig = field(default_factory=ReaderConfig)
    base_dir: Path = field(init=False, default=Path())  # the YAML's folder, not a key of it

    @property
    def output_dir(self) -> Path:
        return (self.base_dir / self.output).resolve()

    def resolved(self, stages: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """The config as written to ``RUN/config.yaml``: every default filled, stages resolved. ``stages``:
        the entries a caller already resolved (`corpus.stages.base.build`'s), so the build plan builds
        each stage once."""
        from corpus.stages import base

        if stages is None:
            stages = [base.build(s, f"stages[{i}]")[1] for i, s in enumerate(self.stages)]
        base.check_order(stages)
        return {
            "name": self.name,
            "input": dataclasses.asdict(self.input),
            "output": self.output,
            "workers": self.workers,
            "executor": self.executor,
            "writer": dataclasses.asdict(self.writer),
            "stages": stages,
            "report": None if self.report is None else dataclasses.asdict(self.report),
            "max_error_rate": self.max_error_rate,
            "reader": dataclasses.asdict(self.reader),
        }

    def sha256(self, resolved: dict[str, Any] | None = None) -> str:
        """Hash of what decides the output: everything but workers, executor, output place and the
        error budget (raising it lets a stopped build go on). ``resolved``: `resolved`'s result, if at hand."""
        r = identity(resolved if resolved is not None else self.resolved())
        r = {**r, "stages": [in_order(files_by_content(s)) for s in r["stages"]]}
        return hashlib.sha256(orjson.dumps(r, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)).hexdigest()


def _content_id(value: Any) -> Any:
    """``sha256:<hex>`` of the local file or folder ``value`` names (a Thresher run folder by its
    manifest, which hashes every output); anything else (a hub name) stays as given."""
    from corpus.engine.manifest import sha256_file, sha256_tree
    from corpus.rundir import RunDir, is_finished

    if not isinstance(value, str) or not value:
        return value
    p = Path(value)
    if p.is_file():
        return f"sha256:{sha256_file(p)}"
    if p.is_dir():
        run = next((RunDir(d) for d in (p, p.parent) if is_finished(d)), None)  # a run or its stage folder
        return f"sha256:{sha256_file(run.manifest) if run else sha256_tree(p)}"
    return value


def in_order(stage: dict[str, Any]) -> dict[str, Any]:
    """A resolved stage entry with its ordered mappings (`Stage.ordered_params`) as lists of
    ``[key, value]`` pairs, so hashing with sorted keys still sees a reorder as a change."""
    from corpus.stages import base

    ordered = base.get(stage["stage"]).ordered_params
    return {k: [[a, b] for a, b in v.items()] if k in ordered and isinstance(v, dict) else v
            for k, v in stage.items()}


def files_by_content(stage: dict[str, Any]) -> dict[str, Any]:
    """A resolved stage entry with the files it names (eval sets, blocklists, models, ``against`` runs)
    replaced by their content hash: an edited eval set is another config, a moved one is not."""
    from corpus.stages import base

    out = dict(stage)
    for key in base.get(stage["stage"]).path_params:
        value = out.get(key)
        if isinstance(value, list):
            out[key] = [_content_id(v) for v in value]
        elif isinstance(value, dict):
            out[key] = {k: _content_id(v) for k, v in value.items()}
        else:
            out[key] = _content_id(value)
    return out


# Keys of the resolved config that do not change what a run outputs.
NOT_IDENTITY = ("workers", "executor", "output", "max_error_rate")


def identity(resolved: dict[str, Any]) -> dict[str, Any]:
    """The part of a resolved config that decides the output (what ``config_sha256`` hashes)."""
    return {k: v for k, v in resolved.items() if k not in NOT_IDENTITY}


def _require(cond: bool, msg: str) -> None:
    if not cond:
        raise UserError(msg)


def parse(data: Any, base_dir: Path, where: str = "pipeline") -> PipelineConfig:
    """Check the parsed YAML ``data`` and build the config; relative paths are relative to ``base_dir``."""
    if isinstance(data, dict) and isinstance(data.get("input"), dict) and isinstance(data["input"].get("paths"), str):
        data = {**data, "input": {**data["input"], "paths": [data["input"]["paths"]]}}
    try:
        cfg = schema.from_mapping(PipelineConfig, data)
    except UserError as e:
        raise UserError(f"{where}: {e}") from None
    cfg.base_dir = base_dir
    _require(bool(cfg.input.paths), f"{where}: input.paths must be a non-empty list of paths or globs")
    _require(cfg.input.task_size_mb == TASK_SIZE_AUTO or cfg.input.task_size_mb > 0,
             f"{where}: input.task_size_mb must be a positive number or auto")
    _require(cfg.input.max_doc_chars >= 1, f"{where}: input.max_doc_chars must be >= 1")
    _require(cfg.workers >= 1, f"{where}: workers must be a whole number >= 1")
    _require(cfg.writer.shard_size_mb > 0, f"{where}: writer.shard_size_mb must be a positive number")
    _require(0 <= cfg.max_error_rate <= 1, f"{where}: max_error_rate must be a share between 0 and 1")
    from corpus.stages.base import resolve_paths

    cfg.stages = [resolve_paths(s, base_dir) for s in cfg.stages]
    cfg.resolved()  # builds every stage once: unknown stages and keys fail here, before any work
    return cfg


def load(path: str | os.PathLike) -> PipelineConfig:
    data = read_yaml(path, "pipeline file")
    return parse(data, Path(path).resolve().parent, where=str(path))
