"""The chunked cross-entropy (`trainer.loss`): the same summed loss and gradients as the full logits'
``F.cross_entropy``, whether the batch fits one chunk or is split into many, with masked labels."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, LlamaConfig

from trainer import loss as chunked
from trainer.data import IGNORE


def tiny() -> torch.nn.Module:
    torch.manual_seed(0)
    conf = LlamaConfig(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                       num_attention_heads=4, max_position_embeddings=32)
    return AutoModelForCausalLM.from_config(conf, dtype=torch.float32)


def test_chunked_loss_and_gradients_equal_the_full_logits(monkeypatch):
    x = torch.randint(0, 97, (3, 16))
    y = torch.randint(0, 97, (3, 16))
    y[0, :5] = IGNORE  # a masked prompt
    model = tiny()
    logits = model(input_ids=x).logits
    full = F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), ignore_index=IGNORE, reduction="sum")
    full.backward()
    want = {n: p.grad.clone() for n, p in model.named_parameters()}
    for budget in (1 << 26, 97 * 7):  # one chunk; chunks of 7 tokens (the last one shorter), checkpointed
        monkeypatch.setattr(chunked, "LOGIT_BUDGET", budget)
        model.zero_grad()
        with chunked.targets(model, y):
            got = model(input_ids=x).logits
        assert got.shape == () and torch.allclose(got, full, rtol=1e-6), (budget, got, full)
        got.backward()
        for n, p in model.named_parameters():
            torch.testing.assert_close(p.grad, want[n], rtol=1e-4, atol=1e-6)
    assert torch.equal(model(input_ids=x).logits, logits)  # outside the block the model gives logits again


def test_per_sequence_sums_and_gradients_equal_the_full_logits(monkeypatch):
    """DPO's per-sequence log-probabilities (`trainer.dpo.sequence_logps`) through the same chunks, a chunk
    boundary falling inside a sequence."""
    x = torch.randint(0, 97, (4, 16))
    y = torch.randint(0, 97, (4, 16))
    y[1, :9] = IGNORE
    y[2, 12:] = IGNORE  # right padding
    weights = torch.tensor([1.0, -2.0, 0.5, 3.0])  # a loss that weighs the rows differently, as DPO's does
    model = tiny()
    nll = F.cross_entropy(model(input_ids=x).logits.float().flatten(0, 1), y.flatten(), ignore_index=IGNORE,
                          reduction="none").view(4, 16).sum(-1)
    (nll * weights).sum().backward()
    want = {n: p.grad.clone() for n, p in model.named_parameters()}
    for budget in (1 << 26, 97 * 7):
        monkeypatch.setattr(chunked, "LOGIT_BUDGET", budget)
        model.zero_grad()
        with chunked.targets(model, y, per_sequence=True):
            got = model(input_ids=x).logits
        torch.testing.assert_close(got, nll.detach(), rtol=1e-6, atol=1e-5)
        (got * weights).sum().backward()
        for n, p in model.named_parameters():
            torch.testing.assert_close(p.grad, want[n], rtol=1e-4, atol=1e-6)
