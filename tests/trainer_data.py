"""Real data for the trainer's tests and benchmark: a byte-level BPE trained on public-domain speeches,
token shards written through `corpus.tokens`, and chat JSONL made from the self-instruct seed tasks.

Until ``thresher tokenizer train`` / ``thresher tokenize`` are used here, this builds the same
artefacts directly: a Hugging Face tokenizer folder and a ``tokens/`` folder with a manifest.
"""

from __future__ import annotations

from pathlib import Path

import orjson
from testdata import SEED_TASKS, speech_pieces

from corpus.rundir import TOKENS_MANIFEST
from corpus.tokenizer import folder_sha256
from corpus.tokens import FORMAT, ShardWriter, dtype_for_vocab

CHAT_TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
                 "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
# The same ChatML, with the assistant's tokens marked the way transformers' assistant masks read them
# (the newline is an expression: transformers' Jinja drops a newline right after a block tag).
CHAT_TEMPLATE_GENERATION = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% if m['role'] == 'assistant' %}"
                            "{% generation %}{{ m['content'] }}<|im_end|>{% endgeneration %}{% else %}"
                            "{{ m['content'] }}<|im_end|>{% endif %}{{ '\\n' }}{% endfor %}"
                            "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
SPECIALS = ["<s>", "</s>", "<pad>", "<|im_start|>", "<|im_end|>"]


def documents(folder: str = "inaugural", chars: int = 1500) -> list[tuple[str, str]]:
    """``(doc_id, text)``: each speech cut into pieces of about ``chars`` characters (the trainer's documents)."""
    return speech_pieces(folder, chars)


def build_tokenizer(out: Path, vocab_size: int = 512, folder: str = "inaugural") -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tk.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tk.train_from_iterator((t for _, t in documents(folder)), trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                   additional_special_tokens=["<|im_start|>", "<|im_end|>"])
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)
    return out


def write_tokens(out: Path, tok_dir: Path, docs: list[tuple[str, str]], shards: int = 2) -> Path:
    """A ``tokens/`` folder: each document + EOS, spread over ``shards`` shards, with its manifest."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tok_dir)
    dtype = dtype_for_vocab(len(tok))
    out.mkdir(parents=True, exist_ok=True)
    per = -(-len(docs) // shards)
    entries = []
    for s in range(shards):
        with ShardWriter(out / f"part-{s:05d}", dtype) as w:
            for doc_id, text in docs[s * per:(s + 1) * per]:
                w.add(tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id], doc_id)
            entries.append(w.close())
    manifest = {"format": FORMAT, "shards": entries, "vocab_size": len(tok), "dtype": dtype.name,
                "eos_id": tok.eos_token_id, "bos_id": tok.bos_token_id, "pad_id": tok.pad_token_id,
                "tokenizer": {"name": str(tok_dir), "sha256": folder_sha256(tok_dir)}}
    (out / TOKENS_MANIFEST).write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    return out


def build_tokens(root: Path, docs: list[tuple[str, str]], tok_dir: Path, val_docs: int = 12) -> Path:
    """``root/tokens`` with the last ``val_docs`` documents as ``tokens/val``."""
    tokens = write_tokens(root / "tokens", tok_dir, docs[:-val_docs])
    write_tokens(tokens / "val", tok_dir, docs[-val_docs:], shards=1)
    return tokens


def chat_jsonl(out: Path, limit: int = 120, fmt: str = "messages") -> Path:
    """Chat examples from self-instruct's seed tasks (Apache-2.0): instruction + input -> output."""
    lines = []
    for line in SEED_TASKS.read_bytes().splitlines()[:limit]:
        task = orjson.loads(line)
        inst = task["instances"][0]
        prompt = task["instruction"] + (f"\n\n{inst['input']}" if inst["input"] else "")
        if fmt == "messages":
            rec = {"id": task["id"], "messages": [{"role": "user", "content": prompt},
                                                  {"role": "assistant", "content": inst["output"]}]}
        else:
            rec = {"id": task["id"], "prompt": prompt, "response": inst["output"]}
        lines.append(orjson.dumps(rec))
    out.write_bytes(b"\n".join(lines) + b"\n")
    return out
