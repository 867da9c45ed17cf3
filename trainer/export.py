"""Export a checkpoint as a Hugging Face folder that ``AutoModelForCausalLM.from_pretrained`` loads.

The checkpoint's own ``train_config.json`` rebuilds the very model class that was trained (a stock
`transformers` model, so no conversion of names or layouts is needed), DCP loads the weights into it
on one process whatever world size wrote them, LoRA adapters are merged, and ``save_pretrained``
writes safetensors and config beside the tokenizer and ``lineage.json``. The folder is written under
a temporary name and renamed, so a half-written export never looks finished.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import transformers
from torch.distributed.checkpoint.state_dict import get_model_state_dict, set_model_state_dict
from transformers import AutoTokenizer

from corpus.tokenizer import resolve, tokenizer_files
from trainer import checkpoint, lineage
from trainer.model import build_model, config_from_dict
from trainer.pretrained import TORCH_DTYPES


def load_checkpoint_model(ckpt: str | os.PathLike):
    """The trained model (CPU, LoRA merged), its tokenizer and lineage, from a ``step-NNNNNN`` folder."""
    return _load(ckpt)[:3]


def _load(ckpt: str | os.PathLike):
    """`load_checkpoint_model`, and the checkpoint's config. The model is built from the checkpoint's own
    ``model_config.json``, so a ``from_pretrained`` base folder need not exist any more."""
    cfg, lin, tok = checkpoint.open_checkpoint(ckpt)
    saved = checkpoint.read_model_config(Path(ckpt))
    model = build_model(cfg, tok, hf_config=None if saved is None else config_from_dict(saved))
    state = get_model_state_dict(model)
    checkpoint.load_model(state, Path(ckpt))
    set_model_state_dict(model, state)
    if cfg.model.lora is not None:
        model = model.merge_and_unload()
    return model.eval(), tok, lin, cfg


def export(ckpt: str | os.PathLike, out: str | os.PathLike, dtype: str | None = None) -> Path:
    """Write ``out``: weights in ``dtype`` (default: the run's ``output.export_dtype``), the tokenizer's files
    copied byte for byte (so the export hashes as the tokenizer the tokens were made with, and serves as
    the tokenizer of a continued-pretraining run on them), ``lineage.json``. Only a tokenizer given its EOS
    by ``thresher tokenize --eos-token`` is rewritten, since its own files name no such EOS."""
    model, tok, lin, cfg = _load(ckpt)
    model = model.to(TORCH_DTYPES[dtype or cfg.output.export_dtype])
    transformers.utils.logging.disable_progress_bar()  # one small folder: no "Writing model shards" bar
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    folder = resolve(cfg.tokenizer)
    if AutoTokenizer.from_pretrained(folder).eos_token_id == tok.eos_token_id:
        for f in tokenizer_files(folder):
            shutil.copyfile(f, tmp / f.name)
    else:  # the EOS came from the tokens (tokenize --eos-token): the files must say so, whatever the hash
        tok.save_pretrained(tmp)
    lineage.write(tmp, lin)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return out
