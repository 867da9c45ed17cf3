"""The trainer YAML: loaded, checked key by key, with every default filled.

Every section is a dataclass whose fields are the allowed keys, so the dataclass *is* the schema
(`corpus.schema`, which checks the pipeline config and stage parameters the same way): an unknown
key, a wrong type or an impossible value is a `UserError` (one line, exit 2) naming the key, before
any process group or model exists. Relative paths are relative to the YAML file, so a
config means the same thing from any working directory.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from corpus import schema
from corpus.errors import UserError
from corpus.yamlfile import read_yaml
from trainer.schedule import DECAY_SHAPES, SCHEDULES, decay_steps

TASKS = ("pretrain", "sft", "dpo")
ARCHS = ("llama", "gpt2")
SFT_FORMATS = ("messages", "prompt_response")
PAIR_FORMATS = ("pairs", "chat_pairs")  # dpo
PRECISIONS = ("auto", "fp32", "bf16")
STRATEGIES = ("ddp", "fsdp")
INIT_OPTIMIZER = ("fresh", "continue")
DTYPES = ("fp32", "bf16")

# The output folder's names (docs/trainer.md), spelled only here.
CHECKPOINT_DIR = "ckpt"  # checkpoint.dir's default, under output.dir
METRICS_FILE = "metrics.jsonl"
EXPORT_DIR = "hf"  # the final export, under output.dir


@dataclass
class LoraConfig:
    r: int = 8
    alpha: int = 16
    dropout: float = 0.0
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])


@dataclass
class ModelConfig:
    arch: str = "llama"
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int | None = None  # None: as many as num_heads (no grouped-query attention)
    intermediate_size: int | None = None  # None: 4 * hidden_size for gpt2, 8/3 rounded up to 32 for llama
    max_position_embeddings: int | None = None  # None: data.seq_len
    tie_embeddings: bool = False
    dropout: float = 0.0
    from_pretrained: str | None = None  # a transformers folder or hub id: continued pretraining or fine-tuning
    resize_embeddings: bool = False  # from_pretrained: grow the embeddings to the tokenizer's ids instead of refusing
    dtype: str = "fp32"  # the parameters' dtype: fp32 | bf16 (compute precision is train.precision)
    lora: LoraConfig | None = None


@dataclass
class MixSource:
    """One token folder of a train-time mixture (`trainer.mixture`)."""

    path: str
    weight: float = 1.0  # relative: the shares are the weights over their sum


@dataclass
class DataConfig:
    seq_len: int = 64
    tokens: str | list[MixSource] | None = None  # pretrain: RUN/tokens/, or a weighted list of such folders
    path: str | None = None  # sft, dpo: a JSONL file
    format: str = "messages"  # sft: messages | prompt_response; dpo: pairs | chat_pairs
    document_masking: bool = True  # a packed window attends only within each document (trainer.masking)
    val_fraction: float = 0.0  # sft, dpo: the share of examples held out for eval: (at least one when > 0)


@dataclass
class TrainConfig:
    steps: int = 30
    micro_batch_size: int = 4
    grad_accum: int = 1
    lr: float = 3e-3
    min_lr: float | None = None  # None: lr / 10
    warmup_steps: int = 0
    seed: int = 0
    schedule: str = "cosine"  # cosine | linear | constant | wsd
    decay_fraction: float = 0.2  # wsd: the share of train.steps spent decaying, at the end
    decay_shape: str = "linear"  # wsd: linear | cosine | sqrt
    init_from: str | None = None  # a step-NNNNNN checkpoint whose weights start this run (annealing, new mix)
    init_optimizer: str = "fresh"  # with init_from: fresh | continue (the checkpoint's AdamW moments)
    weight_decay: float = 0.1
    betas: list[float] = field(default_factory=lambda: [0.9, 0.95])
    grad_clip: float = 1.0  # 0 disables clipping
    precision: str = "auto"
    beta: float = 0.1  # dpo: how far the policy may move from the reference (the KL penalty's inverse temperature)


@dataclass
class ParallelConfig:
    strategy: str = "ddp"
    activation_checkpointing: bool = False
    compile: bool = False


@dataclass
class CheckpointConfig:
    dir: str | None = None  # None: output.dir/ckpt
    every: int = 100  # 0: only at the end
    keep: int = 3
    async_: bool = False  # YAML `async`: write with DCP's async_save while training goes on


@dataclass
class EvalConfig:
    every: int = 0  # 0: no evaluation during training
    batches: int = 5
    sample_prompt: str | None = None  # printed with its greedy continuation at each evaluation
    sample_max_new_tokens: int = 32


@dataclass
class OutputConfig:
    dir: str = "out"
    export: bool = True  # write output.dir/hf/ at the end
    export_dtype: str = "fp32"  # fp32 | bf16: the dtype of the exported weights
    tensorboard: bool = False
    progress: bool = True  # a tqdm bar when stderr is a terminal, a log line every log_every steps when stdout is not
    log_every: int = 10  # steps between progress lines in a log (stdout not a terminal)


@dataclass
class Config:
    tokenizer: str
    data: DataConfig
    task: str = "pretrain"
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self, dict_factory=lambda items: {schema.yaml_key(k): v for k, v in items})

    def sha256(self) -> str:
        """Hash of the resolved config (paths absolute, defaults filled), as lineage records it."""
        return hashlib.sha256(orjson.dumps(self.to_dict(), option=orjson.OPT_SORT_KEYS)).hexdigest()


# Model keys a resume may change: they regularise training, they do not decide what the weights are.
_NOT_SHAPE = ("dropout", "dtype")


def model_shape(model: dict[str, Any]) -> dict[str, Any]:
    """The model settings of ``Config.to_dict()["model"]`` that decide what a checkpoint's weights are.

    DCP loads tensors by name, so a resume with fewer layers skips the saved extra ones and a resume with
    other heads reads the same matrices as other heads: both load without a word. The resume check
    compares these settings instead.
    """
    shape = {k: v for k, v in model.items() if k not in _NOT_SHAPE}
    if isinstance(shape.get("lora"), dict):
        shape["lora"] = {k: v for k, v in shape["lora"].items() if k not in _NOT_SHAPE}
    return shape


def _require(cond: bool, msg: str) -> None:
    if not cond:
        raise UserError(msg)


def _check_values(c: Config) -> None:
    _require(c.task in TASKS, f"task must be one of {', '.join(TASKS)}, got {c.task!r}")
    m, d, t = c.model, c.data, c.train
    if m.from_pretrained is None:
        _require(m.arch in ARCHS, f"model.arch must be one of {', '.join(ARCHS)}, got {m.arch!r}")
        _require(m.hidden_size % m.num_heads == 0, "model.hidden_size must be a multiple of model.num_heads")
        _require(m.num_kv_heads is None or m.num_heads % m.num_kv_heads == 0,
                 "model.num_heads must be a multiple of model.num_kv_heads")
        # GPT-2's learned table has no row past it (an IndexError mid-step); RoPE would train on positions
        # the model says it does not have. Either way a window must fit the model's positions.
        _require(m.max_position_embeddings is None or m.max_position_embeddings >= d.seq_len,
                 f"model.max_position_embeddings ({m.max_position_embeddings}) is below data.seq_len "
                 f"({d.seq_len}): a window would run past the model's positions")
    for name, v in (("model.hidden_size", m.hidden_size), ("model.num_layers", m.num_layers),
                    ("model.num_heads", m.num_heads), ("data.seq_len", d.seq_len), ("train.steps", t.steps),
                    ("train.micro_batch_size", t.micro_batch_size), ("train.grad_accum", t.grad_accum),
                    ("checkpoint.keep", c.checkpoint.keep), ("eval.batches", c.eval.batches),
                    ("eval.sample_max_new_tokens", c.eval.sample_max_new_tokens),
                    ("output.log_every", c.output.log_every)):
        _require(v >= 1, f"{name} must be >= 1, got {v}")
    for name, v in (("train.warmup_steps", t.warmup_steps), ("train.seed", t.seed),
                    ("checkpoint.every", c.checkpoint.every), ("eval.every", c.eval.every),
                    ("train.weight_decay", t.weight_decay), ("train.grad_clip", t.grad_clip),
                    ("model.dropout", m.dropout)):
        _require(v >= 0, f"{name} must be >= 0, got {v}")
    _require(t.lr > 0, f"train.lr must be > 0, got {t.lr}")
    _require(t.beta > 0, f"train.beta must be > 0, got {t.beta}")
    _require(len(t.betas) == 2 and all(0 <= b < 1 for b in t.betas), "train.betas must be two numbers in [0, 1)")
    _require(t.schedule in SCHEDULES, f"train.schedule must be one of {', '.join(SCHEDULES)}")
    _require(t.decay_shape in DECAY_SHAPES, f"train.decay_shape must be one of {', '.join(DECAY_SHAPES)}")
    _require(0 < t.decay_fraction <= 1, f"train.decay_fraction must be in (0, 1], got {t.decay_fraction}")
    _require(t.schedule != "wsd" or t.warmup_steps <= t.steps - decay_steps(t.steps, t.decay_fraction),
             f"train.warmup_steps ({t.warmup_steps}) runs into the wsd decay (the last "
             f"{decay_steps(t.steps, t.decay_fraction)} of train.steps)")
    _require(t.init_optimizer in INIT_OPTIMIZER, f"train.init_optimizer must be one of {', '.join(INIT_OPTIMIZER)}")
    _require(m.dtype in DTYPES, f"model.dtype must be one of {', '.join(DTYPES)}, got {m.dtype!r}")
    _require(c.output.export_dtype in DTYPES, f"output.export_dtype must be one of {', '.join(DTYPES)}")
    _require(t.precision in PRECISIONS, f"train.precision must be one of {', '.join(PRECISIONS)}")
    _require(c.parallel.strategy in STRATEGIES, f"parallel.strategy must be one of {', '.join(STRATEGIES)}")
    if c.task == "pretrain":
        _require(d.tokens is not None, "data.tokens is required for task: pretrain (the pipeline's tokens/ folder)")
        if isinstance(d.tokens, list):
            _require(len(d.tokens) > 0, "data.tokens: a mixture needs at least one {path, weight}")
            _require(all(s.weight > 0 for s in d.tokens), "data.tokens: every weight must be > 0")
        _require(d.path is None, "data.path is for task: sft; pretraining reads data.tokens")
        _require(d.val_fraction == 0, "data.val_fraction is for task: sft; pretraining validates on tokens/val/")
    else:
        _require(d.path is not None, f"data.path is required for task: {c.task} (a JSONL file)")
        _require(d.tokens is None, "data.tokens is for task: pretrain; fine-tuning reads data.path")
        formats = PAIR_FORMATS if c.task == "dpo" else SFT_FORMATS
        _require(d.format in formats, f"data.format must be one of {', '.join(formats)} for task: {c.task}, "
                                      f"got {d.format!r}")
        _require(0 <= d.val_fraction < 1, f"data.val_fraction must be in [0, 1), got {d.val_fraction}")


def _absolute(base: Path, p: str | None) -> str | None:
    return None if p is None else str((base / os.path.expanduser(p)).resolve())


def _local_or_hub(base: Path, ref: str) -> str:
    """An existing path (or one spelled as a path) made absolute; anything else is a hub name, as given."""
    p = base / os.path.expanduser(ref)
    return str(p.resolve()) if p.exists() or ref.startswith((".", "/", "~")) else ref


def parse(data: Any, base_dir: Path, where: str = "config") -> Config:
    """Build a `Config` from parsed YAML; paths become absolute against `base_dir`."""
    if not isinstance(data, dict):
        raise UserError(f"{where}: the top level must be a mapping of keys")
    try:
        c = schema.from_mapping(Config, data)
    except UserError as e:
        raise UserError(f"{where}: {e}") from None
    _check_values(c)
    c.tokenizer = _local_or_hub(base_dir, c.tokenizer)
    if isinstance(c.data.tokens, list):
        for source in c.data.tokens:
            source.path = _absolute(base_dir, source.path)
        paths = [source.path for source in c.data.tokens]
        _require(len(set(paths)) == len(paths), f"{where}: data.tokens names a folder twice; give it one weight")
    else:
        c.data.tokens = _absolute(base_dir, c.data.tokens)
    c.data.path = _absolute(base_dir, c.data.path)
    if c.model.from_pretrained is not None:  # a local folder, or else a hub id resolved when the model is built
        c.model.from_pretrained = _local_or_hub(base_dir, c.model.from_pretrained)
    c.train.init_from = _absolute(base_dir, c.train.init_from)
    c.output.dir = _absolute(base_dir, c.output.dir)
    c.checkpoint.dir = _absolute(base_dir, c.checkpoint.dir) or str(Path(c.output.dir) / CHECKPOINT_DIR)
    return c


def load(path: str | os.PathLike) -> Config:
    data = read_yaml(path, "trainer config")
    return parse(data, Path(path).resolve().parent, where=str(path))
