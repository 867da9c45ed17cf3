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

from trainer import checkpoint, lineage
from trainer.model import build_model


def load_checkpoint_model(ckpt: str | os.PathLike):
    """The trained model (fp32, CPU, LoRA merged), its tokenizer and lineage, from a ``step-NNNNNN`` folder."""
    cfg, lin, tok = checkpoint.open_checkpoint(ckpt)
    model = build_model(cfg, tok)
    state = get_model_state_dict(model)
    checkpoint.load_model(state, Path(ckpt))
    set_model_state_dict(model, state)
    if cfg.model.lora is not None:
        model = model.merge_and_unload()
    return model.eval(), tok, lin


def export(ckpt: str | os.PathLike, out: str | os.PathLike) -> Path:
    model, tok, lin = load_checkpoint_model(ckpt)
    transformers.utils.logging.disable_progress_bar()  # one small folder: no "Writing model shards" bar
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    lineage.write(tmp, lin)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return out
