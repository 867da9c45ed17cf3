"""``thresher generate MODEL --prompt TEXT``, and the sample a training run prints at each evaluation.

Greedy decoding, so a sample is a function of the weights alone and two runs can be compared by eye.
A model whose tokenizer has a chat template (an SFT run, or ``--chat``) is prompted through it with the
generation prompt, as it will be used: a template or tokenizer bug then shows in the first sample.
"""

from __future__ import annotations

from typing import Any

import torch

from corpus.errors import UserError


def prompt_ids(tok: Any, prompt: str, chat: bool) -> torch.Tensor:
    """``[1, n]`` ids of ``prompt``: as a user turn with the generation prompt when ``chat``, else as text."""
    if chat:
        if not tok.chat_template:
            raise UserError("--chat needs a tokenizer with a chat template")
        ids = tok.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                      tokenize=True, return_dict=False)
    else:
        ids = tok(prompt, add_special_tokens=True)["input_ids"]
    return torch.tensor([list(ids)], dtype=torch.long)


@torch.no_grad()
def complete(model: Any, tok: Any, prompt: str, max_new_tokens: int, chat: bool = False) -> str:
    """The greedy continuation of ``prompt`` (without it), stopping at EOS or after ``max_new_tokens``."""
    device = next(model.parameters()).device
    ids = prompt_ids(tok, prompt, chat).to(device)
    was_training = model.training
    model.eval()
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                         do_sample=False, eos_token_id=tok.eos_token_id,
                         pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)
    model.train(was_training)
    return tok.decode(out[0, ids.shape[1]:], skip_special_tokens=False)


def check_max_new_tokens(n: int) -> None:
    if n < 1:
        raise UserError(f"--max-new-tokens must be >= 1, got {n}")
