"""The variants' corpora, with the work they share done once.

The variants' stage lists form a tree: variants that begin with the same stages share that prefix. Each
edge of the tree is one build (a run directory under ``OUTPUT/builds/<hash>/``); a build whose stages
follow another's reads that run's ``data/`` (a chained run keeps each document's source and flags). A
build is addressed by the hash of its stages and what it reads, so identical variants, or variants
that only differ later, name the same build and it runs once; a finished build (its ``manifest.json``
written) is never run again, and an interrupted one is resumed by the engine itself.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from corpus import config as pipeline_config
from corpus import rundir
from trainer.ablate.experiment import Experiment

BUILDS = "builds"


@dataclass
class Build:
    id: str
    parent: str | None  # the build whose data/ this one reads; None: the pipeline's own input
    stages: list[dict[str, Any]]
    variants: list[str]  # the variants this build serves


def _key(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def plan(exp: Experiment) -> tuple[list[Build], dict[str, str]]:
    """The builds, parents first, and each variant's final build."""
    builds: list[Build] = []
    final: dict[str, str] = {}

    def split(group: dict[str, list[dict[str, Any]]], parent: str | None) -> None:
        buckets: dict[bytes, dict[str, list[dict[str, Any]]]] = {}
        for name, stages in group.items():
            if not stages:
                final[name] = parent  # type: ignore[assignment]
            else:
                buckets.setdefault(_key(stages[0]), {})[name] = stages
        for bucket in buckets.values():
            lists = list(bucket.values())
            n = 1
            while all(len(s) > n for s in lists) and len({_key(s[n]) for s in lists}) == 1:
                n += 1
            prefix = lists[0][:n]
            bid = build_id(exp, parent, prefix)
            if not any(b.id == bid for b in builds):
                builds.append(Build(bid, parent, prefix, sorted(bucket)))
            split({name: s[n:] for name, s in bucket.items()}, bid)

    split({v.name: v.stages for v in exp.variants}, None)
    return builds, final


def build_id(exp: Experiment, parent: str | None, stages: list[dict[str, Any]]) -> str:
    """The build's address: its pipeline's ``config_sha256`` (stages, their files by content, reader and
    writer settings) and what it reads: its parent build, or the input files as they are now (path,
    size, modification time), so an edited input is a new build rather than a stale reuse."""
    from corpus.engine.plan import expand_inputs

    cfg = pipeline(exp, Build("", parent, stages, []))
    inputs = None
    if parent is None:
        inputs = [(p, os.stat(p).st_size, os.stat(p).st_mtime_ns) if os.path.isfile(p) else p
                  for p, _, _ in expand_inputs(cfg)]
    return hashlib.sha256(_key({"config": cfg.sha256(), "parent": parent, "inputs": inputs})).hexdigest()[:16]


def run_dir(exp: Experiment, build_id: str) -> Path:
    return exp.output / BUILDS / build_id


def finished(run: Path) -> bool:
    return rundir.is_finished(run) and rundir.RunDir(run).stats.is_file()


def pipeline(exp: Experiment, b: Build) -> pipeline_config.PipelineConfig:
    """The build's pipeline: the base one's settings with this build's stages, reading its parent's data."""
    data = {**exp.pipeline, "name": f"{exp.name}-{b.id}", "stages": b.stages,
            "output": str(run_dir(exp, b.id)), "report": {"formats": ["html", "md", "json"]}}
    if b.parent is not None:
        data["input"] = {"paths": [str(rundir.RunDir(run_dir(exp, b.parent)).data)], "text_field": "text",
                         "id_field": "id"}
    return pipeline_config.parse(data, exp.pipeline_dir, where=f"{exp.path} (build {b.id})")


def build_all(exp: Experiment, log) -> dict[str, str]:
    """Run every build not yet finished; returns each variant's final build id."""
    from corpus.commands.build import build  # the engine's build, then the report

    builds, final = plan(exp)
    for b in builds:
        run = run_dir(exp, b.id)
        stages = ", ".join(str(s.get("label") or s["stage"]) for s in b.stages)
        if finished(run):
            log(f"build {b.id} ({stages}) for {', '.join(b.variants)}: done earlier, reused")
            continue
        log(f"build {b.id} ({stages}) for {', '.join(b.variants)}")
        build(pipeline(exp, b), quiet=True)
    return final
