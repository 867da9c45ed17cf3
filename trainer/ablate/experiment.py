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
`ExperimentFile` and its sections are the schema (`corpus.schema`): an unknown key, nested ones too, or
a wrong type is a one-line `UserError` naming the file and the key; what a type cannot say (a share,
a stage the pipeline has, a file that exists) is checked after it.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from corpus import schema
from corpus.errors import UserError
from corpus.yamlfile import read_yaml
from trainer.ablate.launch import AUTO, Launch
from trainer.config import ModelConfig

PRIMARY = "bpb"  # the default primary metric: the mean bits per byte over the held-out sets


# ---------------------------------------------------------------- the file's schema (`corpus.schema`)

@dataclass
class VariantSpec:
    remove: list[str] = field(default_factory=list)  # stage labels
    set_: dict[str, dict[str, Any]] = field(default_factory=dict)  # stage label -> {parameter: value}
    mix: dict[str, float] = field(default_factory=dict)  # source glob -> weight (thresher tokenize --mix)


@dataclass
class TokenizerTrainSpec:
    vocab_size: int
    min_frequency: int | None = None
    max_docs: int | None = None


@dataclass
class TokenizerSpec:
    train: TokenizerTrainSpec


@dataclass
class LaunchSpec:
    nproc_per_node: int = 1
    concurrent: Literal[AUTO] | int = AUTO


@dataclass
class ProxySpec:
    model: dict[str, Any]  # the trainer's model section (checked against `trainer.config.ModelConfig`)
    tokens: int
    seq_len: int
    seeds: list[int]
    micro_batch_size: int = 8
    lr: float = 3e-3
    launch: LaunchSpec = field(default_factory=LaunchSpec)


@dataclass
class EvalSpec:
    heldout: dict[str, str] = field(default_factory=dict)  # name -> JSONL file
    tasks: list[str] = field(default_factory=list)  # files, or lm_eval:<task>
    every: float = 0.25
    stride: int | None = None


@dataclass
class ExperimentFile:
    name: str
    pipeline: str
    variants: dict[str, VariantSpec]
    tokenizer: str | TokenizerSpec  # a folder, or how to train one
    proxy: ProxySpec
    eval: EvalSpec
    output: str
    primary: str = PRIMARY


# ---------------------------------------------------------------- the loaded experiment

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
    tokenizer_train: dict[str, Any]  # the keys given only: they address the trained tokenizer
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


def label(stage: dict[str, Any]) -> str:
    return str(stage.get("label") or stage.get("stage"))


def _variant(name: str, spec: VariantSpec, stages: list[dict[str, Any]]) -> Variant:
    where = f"variants.{name}"
    labels = [label(s) for s in stages]
    out = copy.deepcopy(stages)
    for lb in spec.remove:
        _require(lb in labels, f"{where}.remove: the pipeline has no stage {lb!r} (stages: {', '.join(labels)})")
    for lb, params in spec.set_.items():
        _require(lb in labels, f"{where}.set: the pipeline has no stage {lb!r} (stages: {', '.join(labels)})")
        out[labels.index(lb)].update(params)
    out = [s for s in out if label(s) not in spec.remove]
    _require(bool(out), f"{where} removes every stage")
    _require(all(w >= 0 for w in spec.mix.values()), f"{where}.mix must map source globs to weights >= 0")
    return Variant(name, out, spec.mix)


def _launch(spec: LaunchSpec, micro_batch_size: int) -> Launch:
    """``proxy.launch``: processes per run, and runs at once (``auto``: one per GPU group, one on CPU)."""
    nproc, concurrent = spec.nproc_per_node, spec.concurrent
    _require(nproc >= 1, "proxy.launch.nproc_per_node must be a whole number >= 1")
    _require(concurrent == AUTO or concurrent >= 1, f"proxy.launch.concurrent must be {AUTO} or a whole number >= 1")
    _require(micro_batch_size >= 1, "proxy.micro_batch_size must be a whole number >= 1")
    _require(micro_batch_size % nproc == 0,
             f"proxy.micro_batch_size ({micro_batch_size}) must be a multiple of proxy.launch.nproc_per_node "
             f"({nproc}): each process takes an equal share of the batch")
    return Launch(nproc, None if concurrent == AUTO else concurrent)


def _proxy(spec: ProxySpec) -> dict[str, Any]:
    """The proxy recipe as `trainer.ablate.run` reads it (the model section as written: it addresses the runs)."""
    schema.from_mapping(ModelConfig, spec.model, "proxy.model")  # its keys and types now, not at the first run
    for key in ("tokens", "seq_len"):
        _require(getattr(spec, key) >= 1, f"proxy.{key} must be a whole number >= 1")
    _require(bool(spec.seeds) and len(set(spec.seeds)) == len(spec.seeds),
             "proxy.seeds must be a list of distinct whole numbers")
    return {"model": spec.model, "tokens": spec.tokens, "seq_len": spec.seq_len, "seeds": spec.seeds,
            "micro_batch_size": spec.micro_batch_size, "lr": spec.lr}


def _path(base: Path, p: str) -> str:
    return str((base / os.path.expanduser(p)).resolve())


def load(path: str | os.PathLike) -> Experiment:
    try:
        data = schema.from_mapping(ExperimentFile, read_yaml(path, "experiment file"))
    except UserError as e:
        raise UserError(f"{path}: {e}") from None
    base = Path(path).resolve().parent
    pipe_path = Path(_path(base, data.pipeline))
    pipeline = read_yaml(pipe_path, "pipeline file")
    _require(isinstance(pipeline, dict) and isinstance(pipeline.get("stages"), list),
             f"{pipe_path}: a pipeline with a list of stages")
    stages = pipeline["stages"]
    _require(all(isinstance(s, dict) for s in stages), f"{pipe_path}: every stage must be a mapping")
    _require(not any(s.get("stage") == "tokenize" for s in stages),
             f"{pipe_path}: ablate tokenizes each variant itself; drop the tokenize stage from the base pipeline")
    _require(bool(data.variants), "variants must map names to {remove, set, mix}")
    vs = [_variant(n, spec, stages) for n, spec in data.variants.items()]

    tok_dir, tok_train = None, {}
    if isinstance(data.tokenizer, str):
        tok_dir = _path(base, data.tokenizer)
    else:
        tok_train = {k: v for k, v in dataclasses.asdict(data.tokenizer.train).items() if v is not None}

    proxy = _proxy(data.proxy)
    launch = _launch(data.proxy.launch, data.proxy.micro_batch_size)

    ev = data.eval
    heldout = {k: _path(base, v) for k, v in ev.heldout.items()}
    tasks = [t if t.startswith("lm_eval:") else _path(base, t) for t in ev.tasks]
    _require(bool(heldout) or bool(tasks), "eval needs heldout sets or tasks")
    for p in [*heldout.values(), *(t for t in tasks if not t.startswith("lm_eval:"))]:
        _require(Path(p).is_file(), f"eval file not found: {p}")
    _require(0 < ev.every <= 1, "eval.every must be a share of training in (0, 1]")
    _require(data.primary != PRIMARY or bool(heldout),
             "the default primary metric (bpb) needs eval.heldout; name another with primary:")
    return Experiment(name=data.name, path=Path(path).resolve(), pipeline=pipeline,
                      pipeline_dir=pipe_path.parent, variants=vs, tokenizer=tok_dir, tokenizer_train=tok_train,
                      proxy=proxy, heldout=heldout, tasks=tasks, every=ev.every, stride=ev.stride,
                      output=Path(_path(base, data.output)), primary=data.primary, launch=launch)
