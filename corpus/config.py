"""The pipeline YAML: loaded, checked key by key, and resolved with every default filled.

Unknown keys are an error naming the allowed ones; every mistake is a `UserError` (one line, exit 2).
The resolved form is what ``RUN/config.yaml`` holds and what the manifest hashes.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from corpus.errors import UserError
from corpus.io.records import DUPLICATE_IDS
from corpus.io.writers import FORMATS
from corpus.yamlfile import read_yaml

TOP_KEYS = ("name", "input", "output", "workers", "stages", "report", "writer", "executor", "ray_address",
            "max_error_rate", "reader")
READER_KEYS = ("duplicate_ids",)
INPUT_KEYS = ("paths", "text_field", "id_field", "task_size_mb", "max_doc_chars", "hf_split")
WRITER_KEYS = ("format", "shard_size_mb")
REPORT_KEYS = ("formats",)
REPORT_FORMATS = ("html", "md", "json")
EXECUTORS = ("local", "ray")
TASK_SIZE_AUTO = "auto"  # input.task_size_mb: derive the size from the total input (corpus/engine/plan.py)


@dataclass
class InputConfig:
    paths: list[str]
    text_field: str = "text"
    id_field: str = "id"
    task_size_mb: float | str = TASK_SIZE_AUTO  # or MB per task
    max_doc_chars: int = 10_000_000
    hf_split: str = "train"


@dataclass
class PipelineConfig:
    name: str
    input: InputConfig
    output: str
    base_dir: Path
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    stages: list[dict[str, Any]] = field(default_factory=list)
    report: dict[str, Any] | None = None
    writer: dict[str, Any] = field(default_factory=lambda: {"format": "jsonl.zst", "shard_size_mb": 256.0})
    executor: str = "local"
    ray_address: str | None = None
    max_error_rate: float = 0.01  # share of records a stage may fail on (quarantined) before the build stops
    reader: dict[str, Any] = field(default_factory=lambda: {"duplicate_ids": DUPLICATE_IDS[0]})

    @property
    def output_dir(self) -> Path:
        return (self.base_dir / self.output).resolve()

    def resolved(self) -> dict[str, Any]:
        """The config as written to ``RUN/config.yaml``: every default filled, stages resolved."""
        from corpus.stages import base

        stages = [base.build(s)[1] for s in self.stages]
        base.check_order(stages)
        return {
            "name": self.name,
            "input": vars(self.input),
            "output": self.output,
            "workers": self.workers,
            "executor": self.executor,
            "writer": self.writer,
            "stages": stages,
            "report": self.report,
            "max_error_rate": self.max_error_rate,
            "reader": self.reader,
        }

    def sha256(self) -> str:
        """Hash of what decides the output: everything but workers, executor, output place and the
        error budget (raising it lets a stopped build go on)."""
        r = identity(self.resolved())
        r = {**r, "stages": [in_order(files_by_content(s)) for s in r["stages"]]}
        return hashlib.sha256(orjson.dumps(r, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)).hexdigest()


def _content_id(value: Any) -> Any:
    """``sha256:<hex>`` of the local file or folder ``value`` names (a Thresher run folder by its
    manifest, which hashes every output); anything else (a hub name) stays as given."""
    from corpus.engine.manifest import sha256_file, sha256_tree

    if not isinstance(value, str) or not value:
        return value
    p = Path(value)
    if p.is_file():
        return f"sha256:{sha256_file(p)}"
    if p.is_dir():
        run = next((d for d in (p, p.parent) if (d / "manifest.json").is_file()), None)  # a run or its stage folder
        return f"sha256:{sha256_file(run / 'manifest.json') if run else sha256_tree(p)}"
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


def _check_keys(section: str, data: dict, allowed: tuple[str, ...]) -> None:
    for key in data:
        if key not in allowed:
            raise UserError(f"unknown key {key!r} in {section} (allowed: {', '.join(allowed)})")


def _require(cond: bool, msg: str) -> None:
    if not cond:
        raise UserError(msg)


def parse(data: Any, base_dir: Path, where: str = "pipeline") -> PipelineConfig:
    _require(isinstance(data, dict), f"{where}: the top level must be a mapping of keys")
    _check_keys(where, data, TOP_KEYS)
    for key in ("name", "input", "output", "stages"):
        _require(key in data, f"{where}: missing required key {key!r}")
    _require(isinstance(data["name"], str) and data["name"], f"{where}: name must be a non-empty string")
    inp = data["input"]
    _require(isinstance(inp, dict), f"{where}: input must be a mapping with 'paths'")
    _check_keys("input", inp, INPUT_KEYS)
    paths = inp.get("paths")
    if isinstance(paths, str):
        paths = [paths]
    _require(isinstance(paths, list) and paths and all(isinstance(p, str) for p in paths),
             f"{where}: input.paths must be a non-empty list of paths or globs")
    icfg = InputConfig(**{**inp, "paths": paths})
    _require(isinstance(icfg.text_field, str) and isinstance(icfg.id_field, str),
             f"{where}: input.text_field and input.id_field must be strings")
    _require(icfg.task_size_mb == TASK_SIZE_AUTO or (isinstance(icfg.task_size_mb, (int, float))
                                             and not isinstance(icfg.task_size_mb, bool) and icfg.task_size_mb > 0),
             f"{where}: input.task_size_mb must be a positive number or auto")
    _require(isinstance(data["output"], str) and data["output"], f"{where}: output must be a directory path")
    workers = data.get("workers", os.cpu_count() or 1)
    _require(isinstance(workers, int) and not isinstance(workers, bool) and workers >= 1,
             f"{where}: workers must be a whole number >= 1")
    stages = data["stages"]
    _require(isinstance(stages, list), f"{where}: stages must be a list of {{stage: NAME, ...}} entries")
    for s in stages:
        _require(isinstance(s, dict), f"{where}: every entry under stages must be a mapping, got {s!r}")
    from corpus.stages.base import resolve_paths

    stages = [resolve_paths(s, base_dir) for s in stages]
    writer = {"format": "jsonl.zst", "shard_size_mb": 256.0, **(data.get("writer") or {})}
    _check_keys("writer", writer, WRITER_KEYS)
    _require(writer["format"] in FORMATS, f"{where}: writer.format must be one of {', '.join(FORMATS)}")
    _require(isinstance(writer["shard_size_mb"], (int, float)) and writer["shard_size_mb"] > 0,
             f"{where}: writer.shard_size_mb must be a positive number")
    report = data.get("report")
    if report is not None:
        _require(isinstance(report, dict), f"{where}: report must be a mapping like {{formats: [html, md, json]}}")
        _check_keys("report", report, REPORT_KEYS)
        report = {"formats": list(report.get("formats", REPORT_FORMATS))}
        bad = [f for f in report["formats"] if f not in REPORT_FORMATS]
        _require(not bad, f"{where}: unknown report format {bad[0] if bad else ''!r} (allowed: html, md, json)")
    _require(isinstance(data.get("reader") or {}, dict), f"{where}: reader must be a mapping like {{duplicate_ids: suffix}}")
    reader = {"duplicate_ids": DUPLICATE_IDS[0], **(data.get("reader") or {})}
    _check_keys("reader", reader, READER_KEYS)
    _require(reader["duplicate_ids"] in DUPLICATE_IDS,
             f"{where}: reader.duplicate_ids must be one of {', '.join(DUPLICATE_IDS)}")
    max_error_rate = data.get("max_error_rate", 0.01)
    _require(isinstance(max_error_rate, (int, float)) and not isinstance(max_error_rate, bool)
             and 0 <= max_error_rate <= 1, f"{where}: max_error_rate must be a share between 0 and 1")
    executor = data.get("executor", "local")
    _require(executor in EXECUTORS, f"{where}: executor must be one of {', '.join(EXECUTORS)}")
    cfg = PipelineConfig(name=data["name"], input=icfg, output=data["output"], base_dir=base_dir,
                         workers=workers, stages=stages, report=report, writer=writer, executor=executor,
                         ray_address=data.get("ray_address"), max_error_rate=float(max_error_rate), reader=reader)
    cfg.resolved()  # builds every stage once: unknown stages and keys fail here, before any work
    return cfg


def load(path: str | os.PathLike) -> PipelineConfig:
    data = read_yaml(path, "pipeline file")
    return parse(data, Path(path).resolve().parent, where=str(path))
