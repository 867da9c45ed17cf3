"""The experiment YAML of ``thresher ablate``: checked key by key before any work, paths made absolute.

```yaml
name: quality-thresholds
pipeline: web.yaml                       # the base pipeline, relative to this file
variants: {base: {}, no_quality: {remove: [c4]}, strict: {set: {gopher_quality: {min_stop_words: 3}}},
           books_x2: {mix: {"books/*": 2.0}}}
tokenizer: {train: {vocab_size: 8192}}   # trained once on the base variant; or a folder
proxy: {model: {...}, tokens: 2000000, seq_len: 256, seeds: [0, 1, 2],
        launch: {nproc_per_node: 1, concurrent: auto}}   # optional: how the runs go (trainer.ablate.launch)
eval: {heldout: {news: val/news.jsonl}, tasks: [tasks/cloze.jsonl], every: 0.25}
output: out/quality-thresholds
```

A variant names stages by their label (the stage name unless the pipeline gives ``label:``).
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corpus.errors import UserError
from corpus.yamlfile import read_yaml
from trainer.ablate.launch import AUTO, Launch

TOP_KEYS = ("name", "pipeline", "variants", "tokenizer", "proxy", "eval", "output", "primary")
VARIANT_KEYS = ("remove", "set", "mix")
PROXY_KEYS = ("model", "tokens", "seq_len", "seeds", "micro_batch_size", "lr", "launch")
LAUNCH_KEYS = ("nproc_per_node", "concurrent")
EVAL_KEYS = ("heldout", "tasks", "every", "stride")
PRIMARY = "bpb"  # the default primary metric: the mean bits per byte over the held-out sets


@dataclass
class Variant:
    name: str
    stages: list[dict[str, Any]]  # the base pipeline's stages with this variant's removals and settings
    mix: dict[str, float] = field(default_factory=dict)


@dataclass
class Experiment:
    name: str
    path: Path
    pipeline: dict[str, Any]  # the base pipeline YAML as read (its stages are the variants' business)
    pipeline_dir: Path
    variants: list[Variant]
    tokenizer: str | None  # a folder, or None: train one with tokenizer_train's settings
    tokenizer_train: dict[str, Any]
    proxy: dict[str, Any]
    heldout: dict[str, str]
    tasks: list[str]
    every: float
    stride: int | None
    output: Path
    primary: str = PRIMARY
    launch: Launch = field(default_factory=Launch)


def _require(cond: bool, msg: str) -> None:
    if not cond:
        raise UserError(msg)


def _keys(where: str, data: Any, allowed: tuple[str, ...]) -> dict[str, Any]:
    _require(isinstance(data, dict), f"{where} must be a mapping of keys")
    bad = [k for k in data if k not in allowed]
    if bad:
        raise UserError(f"unknown key {bad[0]!r} in {where} (allowed: {', '.join(allowed)})")
    return data


def label(stage: dict[str, Any]) -> str:
    return str(stage.get("label") or stage.get("stage"))


def _variant(name: str, spec: Any, stages: list[dict[str, Any]]) -> Variant:
    where = f"variants.{name}"
    spec = _keys(where, spec or {}, VARIANT_KEYS)
    labels = [label(s) for s in stages]
    out = copy.deepcopy(stages)
    remove = spec.get("remove") or []
    _require(isinstance(remove, list), f"{where}.remove must be a list of stage labels")
    for lb in remove:
        _require(lb in labels, f"{where}.remove: the pipeline has no stage {lb!r} (stages: {', '.join(labels)})")
    settings = spec.get("set") or {}
    _require(isinstance(settings, dict), f"{where}.set must map stage labels to {{parameter: value}}")
    for lb, params in settings.items():
        _require(lb in labels, f"{where}.set: the pipeline has no stage {lb!r} (stages: {', '.join(labels)})")
        _require(isinstance(params, dict), f"{where}.set.{lb} must be a mapping of parameters")
        out[labels.index(lb)].update(params)
    out = [s for s in out if label(s) not in remove]
    _require(bool(out), f"{where} removes every stage")
    mix = spec.get("mix") or {}
    _require(isinstance(mix, dict) and all(isinstance(w, (int, float)) and not isinstance(w, bool) and w >= 0
                                           for w in mix.values()),
             f"{where}.mix must map source globs to weights >= 0")
    return Variant(name, out, {str(k): float(v) for k, v in mix.items()})


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _launch(spec: Any, micro_batch_size: Any) -> Launch:
    """``proxy.launch``: processes per run, and runs at once (``auto``: one per GPU group, one on CPU)."""
    spec = _keys("proxy.launch", spec, LAUNCH_KEYS)
    nproc = spec.get("nproc_per_node", 1)
    _require(_whole(nproc), "proxy.launch.nproc_per_node must be a whole number >= 1")
    concurrent = spec.get("concurrent", AUTO)
    _require(concurrent == AUTO or _whole(concurrent), f"proxy.launch.concurrent must be {AUTO} or a whole number >= 1")
    _require(_whole(micro_batch_size), "proxy.micro_batch_size must be a whole number >= 1")
    _require(micro_batch_size % nproc == 0,
             f"proxy.micro_batch_size ({micro_batch_size}) must be a multiple of proxy.launch.nproc_per_node "
             f"({nproc}): each process takes an equal share of the batch")
    return Launch(nproc, None if concurrent == AUTO else concurrent)


def _path(base: Path, p: Any, where: str) -> str:
    _require(isinstance(p, str) and p, f"{where} must be a path")
    return str((base / os.path.expanduser(p)).resolve())


def load(path: str | os.PathLike) -> Experiment:
    data = _keys(str(path), read_yaml(path, "experiment file"), TOP_KEYS)
    base = Path(path).resolve().parent
    for key in ("name", "pipeline", "variants", "tokenizer", "proxy", "eval", "output"):
        _require(key in data, f"{path}: missing required key {key!r}")
    pipe_path = Path(_path(base, data["pipeline"], "pipeline"))
    pipeline = read_yaml(pipe_path, "pipeline file")
    _require(isinstance(pipeline, dict) and isinstance(pipeline.get("stages"), list),
             f"{pipe_path}: a pipeline with a list of stages")
    stages = pipeline["stages"]
    _require(all(isinstance(s, dict) for s in stages), f"{pipe_path}: every stage must be a mapping")
    _require(not any(s.get("stage") == "tokenize" for s in stages),
             f"{pipe_path}: ablate tokenizes each variant itself; drop the tokenize stage from the base pipeline")
    variants = data["variants"]
    _require(isinstance(variants, dict) and variants, "variants must map names to {remove, set, mix}")
    vs = [_variant(str(n), spec, stages) for n, spec in variants.items()]

    tok = data["tokenizer"]
    tok_dir, tok_train = None, {}
    if isinstance(tok, str):
        tok_dir = _path(base, tok, "tokenizer")
    else:
        tok = _keys("tokenizer", tok, ("train",))
        tok_train = _keys("tokenizer.train", tok.get("train"), ("vocab_size", "min_frequency", "max_docs"))
        _require(isinstance(tok_train.get("vocab_size"), int), "tokenizer.train.vocab_size must be a whole number")

    proxy = _keys("proxy", data["proxy"], PROXY_KEYS)
    for key in ("model", "tokens", "seq_len", "seeds"):
        _require(key in proxy, f"proxy: missing required key {key!r}")
    _require(isinstance(proxy["model"], dict), "proxy.model must be a mapping (the trainer's model section)")
    for key in ("tokens", "seq_len"):
        _require(_whole(proxy[key]), f"proxy.{key} must be a whole number >= 1")
    seeds = proxy["seeds"]
    _require(isinstance(seeds, list) and seeds and all(isinstance(s, int) for s in seeds)
             and len(set(seeds)) == len(seeds), "proxy.seeds must be a list of distinct whole numbers")
    proxy = {"micro_batch_size": 8, "lr": 3e-3, **proxy}
    launch = _launch(proxy.pop("launch", None) or {}, proxy["micro_batch_size"])

    ev = _keys("eval", data["eval"], EVAL_KEYS)
    heldout = ev.get("heldout") or {}
    _require(isinstance(heldout, dict), "eval.heldout must map names to files")
    heldout = {str(k): _path(base, v, f"eval.heldout.{k}") for k, v in heldout.items()}
    tasks = ev.get("tasks") or []
    _require(isinstance(tasks, list), "eval.tasks must be a list of files")
    tasks = [t if isinstance(t, str) and t.startswith("lm_eval:") else _path(base, t, "eval.tasks[]") for t in tasks]
    _require(bool(heldout) or bool(tasks), "eval needs heldout sets or tasks")
    for p in [*heldout.values(), *(t for t in tasks if not t.startswith("lm_eval:"))]:
        _require(Path(p).is_file(), f"eval file not found: {p}")
    every = ev.get("every", 0.25)
    _require(isinstance(every, (int, float)) and 0 < every <= 1, "eval.every must be a share of training in (0, 1]")
    primary = data.get("primary", PRIMARY)
    _require(primary == PRIMARY and bool(heldout) or primary != PRIMARY,
             "the default primary metric (bpb) needs eval.heldout; name another with primary:")
    return Experiment(name=str(data["name"]), path=Path(path).resolve(), pipeline=pipeline,
                      pipeline_dir=pipe_path.parent, variants=vs, tokenizer=tok_dir, tokenizer_train=tok_train,
                      proxy=proxy, heldout=heldout, tasks=tasks, every=float(every), stride=ev.get("stride"),
                      output=Path(_path(base, data["output"], "output")), primary=str(primary), launch=launch)
