"""Models: stock `transformers` causal LMs built from the config, so the export is the model itself.

Llama-style is the default, GPT-2 the alternative; the vocabulary size and the special-token ids come
from the tokenizer, never from the config, so the embedding table always matches the data. Weights
are kept in fp32 (bf16 arrives through autocast or FSDP's mixed-precision policy), which keeps CPU
runs bit-reproducible.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import AutoModelForCausalLM, AutoTokenizer, GPT2Config, LlamaConfig, PreTrainedTokenizerBase

from corpus.errors import UserError
from corpus.tokenizer import folder_sha256, resolve
from trainer import pretrained
from trainer.config import Config, ModelConfig


def load_tokenizer(name: str, eos_id: int | None = None) -> PreTrainedTokenizerBase:
    """A folder, or a hub name fetched as its tokenizer files only (as the ``tokenize`` stage does).

    ``eos_id`` is the EOS the data was made with (``thresher tokenize --eos-token`` gives one to a
    tokenizer without, or replaces its own): it becomes the tokenizer's EOS, so packing, the model's
    config and the exported tokenizer all end documents with the id the tokens hold.
    """
    folder = resolve(name)
    try:
        tok = AutoTokenizer.from_pretrained(folder)
    except (OSError, ValueError) as e:
        raise UserError(f"cannot load tokenizer {name!r}: {str(e).splitlines()[0]}") from None
    if eos_id is not None and eos_id != tok.eos_token_id:
        if not 0 <= eos_id < len(tok):
            raise UserError(f"tokenizer {name!r} has no token {eos_id}, the EOS id its data was made with")
        tok.eos_token = tok.convert_ids_to_tokens(eos_id)
    if tok.eos_token_id is None:
        raise UserError(f"tokenizer {name!r} has no EOS token: documents could not be separated when packing")
    return tok


def tokenizer_sha256(name: str) -> str:
    """The tokenizer's hash exactly as the tokens manifest records it (`corpus.tokenizer.folder_sha256`).

    One definition for the pipeline and the trainer, so a run can check that its tokens were made by
    its tokenizer, and a resume that the ids still mean what they meant.
    """
    return folder_sha256(resolve(name))


def _hf_config(m: ModelConfig, tok: PreTrainedTokenizerBase, seq_len: int):
    common = dict(vocab_size=len(tok), bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                  pad_token_id=tok.pad_token_id, tie_word_embeddings=m.tie_embeddings)
    positions = m.max_position_embeddings or seq_len
    if m.arch == "gpt2":
        return GPT2Config(n_embd=m.hidden_size, n_layer=m.num_layers, n_head=m.num_heads, n_positions=positions,
                          n_inner=m.intermediate_size, resid_pdrop=m.dropout, embd_pdrop=m.dropout,
                          attn_pdrop=m.dropout, **common)
    # SwiGLU's customary 8/3 expansion, rounded up to a multiple of 32 for friendly matmul shapes.
    inter = m.intermediate_size or 32 * -(-(8 * m.hidden_size // 3) // 32)
    return LlamaConfig(hidden_size=m.hidden_size, intermediate_size=inter, num_hidden_layers=m.num_layers,
                       num_attention_heads=m.num_heads, num_key_value_heads=m.num_kv_heads or m.num_heads,
                       max_position_embeddings=positions, attention_dropout=m.dropout, **common)


def build_model(cfg: Config, tok: PreTrainedTokenizerBase, empty: bool = False, hf_config: Any = None) -> nn.Module:
    """The model before any parallelism: built (seeded, identical on every rank) or loaded.

    ``empty``: a ``from_pretrained`` model with its parameters on the meta device, for
    `pretrained.materialize` to fill after sharding. ``hf_config``: the trained model's own
    ``transformers`` config (export and trace build from the checkpoint alone, without the base folder).
    """
    m = cfg.model
    dtype = pretrained.TORCH_DTYPES[m.dtype]
    torch.manual_seed(cfg.train.seed)
    if hf_config is not None:
        model = AutoModelForCausalLM.from_config(hf_config, dtype=dtype, attn_implementation="sdpa")
    elif m.from_pretrained:
        folder = pretrained.resolve(m.from_pretrained)
        conf = pretrained.hf_config(folder)
        resize = pretrained.check_fits(conf, len(tok), cfg.data.seq_len, m.resize_embeddings)
        if empty:
            model = pretrained.empty_model(conf, dtype)
        else:
            model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, attn_implementation="sdpa")
        if resize:
            print(f"thresher: model.resize_embeddings: {conf.vocab_size} -> {len(tok)} embedding rows "
                  "(the new rows start at the mean embedding)", flush=True)
            model.resize_token_embeddings(len(tok), mean_resizing=True)
    else:
        model = AutoModelForCausalLM.from_config(_hf_config(m, tok, cfg.data.seq_len), dtype=dtype,
                                                 attn_implementation="sdpa")
    if m.lora is not None:
        model = _add_lora(model, m)
    return model


def meta_source(cfg: Config, tok: PreTrainedTokenizerBase, world_size: int) -> Path | None:
    """The folder to materialise a sharded ``from_pretrained`` model from, when that path applies:
    FSDP over several processes, safetensors weights, no LoRA, no resize. None: load it whole."""
    m = cfg.model
    if not m.from_pretrained or cfg.parallel.strategy != "fsdp" or world_size < 2 or m.lora is not None:
        return None
    folder = pretrained.resolve(m.from_pretrained)
    if pretrained.check_fits(pretrained.hf_config(folder), len(tok), cfg.data.seq_len, m.resize_embeddings):
        return None
    return folder if pretrained.has_safetensors(folder) else None


def base_config(model: nn.Module) -> dict[str, Any]:
    """The ``transformers`` config of the model under any LoRA wrapper, as a checkpoint stores it."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.config.to_dict()


def config_from_dict(d: dict[str, Any]) -> Any:
    from transformers import CONFIG_MAPPING

    return CONFIG_MAPPING[d["model_type"]].from_dict(d)


def _add_lora(model: nn.Module, m: ModelConfig) -> nn.Module:
    try:
        import peft
    except ImportError:
        raise UserError("model.lora needs the 'peft' package: pip install 'thresher[lora]'") from None
    lc = peft.LoraConfig(r=m.lora.r, lora_alpha=m.lora.alpha, lora_dropout=m.lora.dropout,
                         target_modules=m.lora.target_modules, task_type="CAUSAL_LM")
    try:
        return peft.get_peft_model(model, lc)
    except ValueError as e:
        raise UserError(f"model.lora: {str(e).splitlines()[0]}") from None


def decoder_layers(model: nn.Module) -> list[nn.Module]:
    """The transformer blocks, found by the class names transformers itself declares unsplittable."""
    names = set(getattr(model, "_no_split_modules", None) or
                getattr(getattr(model, "base_model", model), "_no_split_modules", None) or [])
    if hasattr(model, "get_base_model"):  # peft wraps the transformers model
        names |= set(model.get_base_model()._no_split_modules or [])
    return [mod for mod in model.modules() if type(mod).__name__ in names]


def flops_per_token(model: nn.Module, seq_len: int) -> float:
    """Training FLOPs per token: 6N for the weight matmuls plus 12 * layers * hidden * seq_len for attention.

    N counts the parameters that take part in a matmul: everything except embedding lookups (token and,
    for GPT-2, position tables), with the output projection counted even when it shares the input
    table. The attention term is PaLM's (appendix B), counting the full score matrix as nanoGPT does.
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    cfg = base.config
    total = sum(p.numel() for p in base.parameters())
    lookups = sum(mod.weight.numel() for mod in base.modules() if isinstance(mod, nn.Embedding))
    out = base.get_output_embeddings()
    tied = out is not None and out.weight is base.get_input_embeddings().weight
    n = total - lookups + (out.weight.numel() if tied else 0)
    layers = getattr(cfg, "num_hidden_layers", None) or cfg.n_layer
    hidden = getattr(cfg, "hidden_size", None) or cfg.n_embd
    return 6.0 * n + 12.0 * layers * hidden * seq_len
