"""The variants' corpora, with the work they share done once.

The variants' stage lists form a tree: variants that begin with the same stages share that prefix. Each
edge of the tree is one build (a run directory under ``OUTPUT/builds/<hash>/``); a build whose stages
follow another's reads that run's ``data/`` (a chained run keeps each document's source and flags). A
build is addressed by its pipeline's ``config_sha256`` (stages, their files by content, reader and
writer settings) and what it reads: its parent build, or the input files as they are now. Identical
variants, or variants that only differ later, name the same build and it runs once; a finished build
(its ``manifest.json`` written) is never run again, and an interrupted one is resumed by the engine.

Each build's pipeline is a YAML file that ``thresher validate --json`` addresses and ``thresher build``
runs (`trainer.ablate.proc`). It is written beside the base pipeline, for the time those two commands
take, so every relative path in it (inputs, blocklists, models) means what it means in the base.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml

from corpus import rundir
from corpus.io.atomic import write_bytes
from trainer.ablate.experiment import Experiment, label
from trainer.ablate.proc import thresher

BUILDS = "builds"


@dataclass
class Build:
    parent: int | None  # the index (in the plan) of the build whose data/ this one reads; None: the pipeline's input
    stages: list[dict[str, Any]]
    variants: list[str]  # the variants this build serves
    id: str = ""  # its address, known once its parent is built (`build_all`)


def _key(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def plan(exp: Experiment) -> tuple[list[Build], dict[str, int]]:
    """The builds, parents first, and the index of each variant's final build."""
    builds: list[Build] = []
    final: dict[str, int] = {}

    def split(group: dict[str, list[dict[str, Any]]], parent: int | None) -> None:
        buckets: dict[bytes, dict[str, list[dict[str, Any]]]] = {}
        for name, stages in group.items():
            if not stages:
                final[name] = parent  # type: ignore[assignment]  # a variant keeps at least one stage
            else:
                buckets.setdefault(_key(stages[0]), {})[name] = stages
        for bucket in buckets.values():
            lists = list(bucket.values())
            n = 1
            while all(len(s) > n for s in lists) and len({_key(s[n]) for s in lists}) == 1:
                n += 1
            builds.append(Build(parent, lists[0][:n], sorted(bucket)))
            split({name: s[n:] for name, s in bucket.items()}, len(builds) - 1)

    split({v.name: v.stages for v in exp.variants}, None)
    return builds, final


def run_dir(exp: Experiment, build_id: str) -> Path:
    return exp.output / BUILDS / build_id


def finished(run: Path) -> bool:
    return rundir.is_finished(run) and rundir.RunDir(run).stats.is_file()


@contextlib.contextmanager
def pipeline_file(exp: Experiment, stages: list[dict[str, Any]], parent: str | None, report: bool) -> Iterator[Path]:
    """The build's pipeline, as a file beside the base one while it is used: the base pipeline's settings
    with these stages, reading the parent build's ``data/`` (or the base's own input). A variant's final
    build writes its audit report (the decision report links it); a build that only feeds others does not."""
    data = {**exp.pipeline, "name": exp.name, "stages": stages,
            "report": {"formats": ["html", "md", "json"]} if report else None,
            "output": str(run_dir(exp, "pending"))}  # validate's; build gets the run directory once addressed
    if parent is not None:
        data["input"] = {"paths": [str(rundir.RunDir(run_dir(exp, parent)).data)], "text_field": "text",
                         "id_field": "id"}
    path = exp.pipeline_dir / f".{exp.path.stem}.ablate-{os.getpid()}.yaml"
    write_bytes(path, yaml.safe_dump(data, sort_keys=False).encode())
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def build_id(identity: dict[str, Any], parent: str | None) -> str:
    """The address of a build from ``thresher validate --json``: its config hash and what it reads (the
    parent build, or each input's path, size and modification time, so an edited input is a new build)."""
    inputs = None if parent is not None else [
        [i["path"], i["size"], i["mtime_ns"]] if i["size"] is not None else i["path"] for i in identity["inputs"]]
    return hashlib.sha256(_key({"config": identity["config_sha256"], "parent": parent,
                                "inputs": inputs})).hexdigest()[:16]


def build_all(exp: Experiment, log: Callable[[str], None]) -> dict[str, str]:
    """Address each build (parents first: a child's address needs its parent's data), run those not yet
    finished; returns each variant's final build id."""
    builds, final = plan(exp)
    finals = set(final.values())
    for i, b in enumerate(builds):
        parent = None if b.parent is None else builds[b.parent].id
        stages = ", ".join(label(s) for s in b.stages)
        with pipeline_file(exp, b.stages, parent, report=i in finals) as path:
            b.id = build_id(json.loads(thresher("validate", str(path), "--json")), parent)
            run = run_dir(exp, b.id)
            if finished(run):
                log(f"build {b.id} ({stages}) for {', '.join(b.variants)}: done earlier, reused")
                continue
            log(f"build {b.id} ({stages}) for {', '.join(b.variants)}")
            thresher("build", str(path), "--output", str(run), "--quiet")
    return {name: builds[i].id for name, i in final.items()}
