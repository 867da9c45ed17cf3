"""Train a byte-level BPE tokenizer on documents and save it as a Hugging Face tokenizer folder.

The design follows current open models (GPT-4/Llama-3 style): a regex pre-split that keeps letters,
up to three digits, punctuation runs and whitespace apart, then byte-level BPE over the 256 byte
symbols, so every string encodes without unknown tokens. Special tokens come first in the
vocabulary (BOS, EOS, PAD, then the two chat markers); the chat template is ChatML with the
assistant's turns marked ``{% generation %}`` so fine-tuning can mask everything else.

Documents are streamed from the inputs through the build's readers (JSONL, plain or .gz/.zst; JSON
arrays; CSV/TSV; Parquet; text files; Thresher run directories) and may be sampled by a seeded hash,
so the same command gives the same tokenizer.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corpus import draws
from corpus.errors import UserError

BOS, EOS, PAD = "<|begin_of_text|>", "<|end_of_text|>", "<|pad|>"
IM_START, IM_END = "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = (BOS, EOS, PAD, IM_START, IM_END)
# Letters with an optional leading mark, digit groups of at most three, punctuation runs, newlines,
# whitespace (the split used by GPT-4's cl100k and Llama 3, case-insensitive contractions included).
SPLIT_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                 r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if loop.first %}{{ bos_token }}{% endif -%}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{%- if message['role'] == 'assistant' -%}"
    "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{%- else -%}{{ message['content'] + '<|im_end|>' }}{%- endif -%}"
    "{{ '\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif -%}"
)
TRAINING_RECORD = "thresher_tokenizer.json"
_MIN_VOCAB = 256 + len(SPECIAL_TOKENS) + 1


@dataclass
class Corpus:
    """The training documents: input paths, field, sampling; counts what it streamed."""

    paths: list[str]
    text_field: str = "text"
    sample: float = 1.0
    max_docs: int | None = None
    seed: int = 0
    files: list[tuple[str, str]] = field(default_factory=list)  # (path, format)
    documents: int = 0
    characters: int = 0
    skipped: int = 0  # unreadable records or records without text

    def expand(self) -> None:
        """Resolve paths, globs, run directories (their ``data/``, in build order) and folders into
        input files; a WARC is refused (its records are pages, not documents: build with ``extract``)."""
        from corpus.engine.plan import detect_format
        from corpus.rundir import DATA, RunDir, is_run

        out: list[tuple[str, str]] = []
        for ref in self.paths:
            matches = sorted(glob.glob(ref, recursive=True)) if glob.has_magic(ref) else [ref]
            if not matches or not all(os.path.exists(m) for m in matches):
                raise UserError(f"input {ref}: no such file or directory")
            for m in matches:
                p = Path(m)
                if p.is_dir() and is_run(p):
                    found = RunDir(p).shards(DATA)  # by task, then index: --max-docs takes the first built
                elif p.is_dir():
                    found = [q for q in sorted(p.rglob("*")) if q.is_file() and _known(q.name)]
                else:
                    found = [p]
                if not found:
                    raise UserError(f"input {m}: a folder with no .jsonl/.json/.csv/.tsv/.parquet/.txt files")
                for q in found:
                    fmt = detect_format(q.name)
                    if fmt == "warc":
                        raise UserError(f"input {q}: a WARC holds web pages, not documents; build a run with "
                                        "the extract stage and train on its output")
                    out.append((str(q), fmt))
        self.files = out

    def _keep(self, key: str) -> bool:
        if self.sample >= 1.0:
            return True
        return draws.below(draws.TOKENIZER_SAMPLE, key, self.seed, self.sample)

    def texts(self) -> Iterator[str]:
        """Every sampled document's text, streamed in input order, read as ``thresher build`` reads it."""
        from corpus.engine.plan import Slice
        from corpus.engine.task import iter_slice
        from corpus.io.records import RecordRules

        rules = RecordRules(self.text_field)
        for path, fmt in self.files:
            for raw in iter_slice(Slice(path, path, fmt), rules, "train"):
                text = raw.record.get(self.text_field) if raw.record and not raw.skip else None
                if not isinstance(text, str) or not text.strip():
                    self.skipped += 1
                    continue
                key = raw.record.get("id")
                if not self._keep(str(key) if key is not None else f"{Path(path).name}:{raw.line}"):
                    continue
                if self.max_docs is not None and self.documents >= self.max_docs:
                    return
                self.documents += 1
                self.characters += len(text)
                yield text


def _known(name: str) -> bool:
    from corpus.engine.plan import detect_format

    try:
        detect_format(name)
    except UserError:
        return False
    return True


def new_tokenizer() -> Any:
    """An untrained byte-level BPE with the pre-split, decoder and post-processor set."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok


def save_folder(tok: Any, out: Path) -> None:
    """Save as a folder that ``AutoTokenizer.from_pretrained`` loads, in transformers 4 and 5 alike."""
    from transformers import PreTrainedTokenizerFast

    hf = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD,
                                 additional_special_tokens=[IM_START, IM_END], chat_template=CHAT_TEMPLATE,
                                 model_max_length=1 << 20)
    hf.save_pretrained(str(out))
    # Name the class both major versions know, and keep the template in the config for transformers 4.
    config_path = out / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config.pop("backend", None)
    config.pop("extra_special_tokens", None)  # a list in 5, a mapping in 4: the chat markers are in tokenizer.json
    config["chat_template"] = CHAT_TEMPLATE
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def train(corpus: Corpus, vocab_size: int, output: Path, *, min_frequency: int = 2,
          overwrite: bool = False) -> dict[str, Any]:
    """Train on ``corpus`` and write the folder ``output`` atomically; returns the training record."""
    import tokenizers
    from tokenizers import pre_tokenizers, trainers

    if vocab_size < _MIN_VOCAB:
        raise UserError(f"--vocab-size must be at least {_MIN_VOCAB} (256 bytes, {len(SPECIAL_TOKENS)} special "
                        "tokens and one merge)")
    if output.exists() and (not output.is_dir() or any(output.iterdir())) and not overwrite:
        raise UserError(f"output {output} exists and is not empty (use --overwrite to replace it)")
    corpus.expand()
    tok = new_tokenizer()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                  special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus.texts(), trainer)
    if corpus.documents == 0:
        raise UserError("no documents to train on (inputs empty, or everything sampled away)")
    record = {"vocab_size": tok.get_vocab_size(), "vocab_size_requested": vocab_size,
              "min_frequency": min_frequency, "special_tokens": list(SPECIAL_TOKENS),
              "inputs": corpus.paths, "files": len(corpus.files), "documents": corpus.documents,
              "characters": corpus.characters, "skipped": corpus.skipped, "sample": corpus.sample,
              "max_docs": corpus.max_docs, "seed": corpus.seed, "tokenizers_version": tokenizers.__version__}
    tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_folder(tok, tmp)
    (tmp / TRAINING_RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    if output.exists():
        shutil.rmtree(output) if output.is_dir() else output.unlink()
    os.replace(tmp, output)
    return record
