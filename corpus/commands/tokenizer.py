"""``thresher tokenizer train``: a byte-level BPE trained on documents, saved as a Hugging Face folder."""

from __future__ import annotations

from pathlib import Path

from corpus.errors import UserError


def cmd_train(args) -> int:
    from corpus.tokenizer_train import Corpus, train

    if not 0.0 < args.sample <= 1.0:
        raise UserError("--sample must be a fraction in (0, 1]")
    if args.max_docs is not None and args.max_docs < 1:
        raise UserError("--max-docs must be >= 1")
    if args.min_frequency < 1:
        raise UserError("--min-frequency must be >= 1")
    corpus = Corpus(args.input, text_field=args.text_field, sample=args.sample, max_docs=args.max_docs,
                    seed=args.seed)
    record = train(corpus, args.vocab_size, Path(args.output), min_frequency=args.min_frequency,
                   overwrite=args.overwrite)
    print(f"tokenizer: {args.output} (vocabulary {record['vocab_size']}, trained on {record['documents']} "
          f"documents, {record['characters']} characters from {record['files']} file(s))")
    if record["vocab_size"] < args.vocab_size:
        print(f"note: the corpus supports only {record['vocab_size']} tokens, fewer than the "
              f"{args.vocab_size} asked for")
    return 0


def _no_action() -> int:
    raise UserError("tokenizer: choose an action: train")


def register(sub) -> None:
    p = sub.add_parser("tokenizer", help="train a tokenizer for the tokenize stage")
    p.set_defaults(func=lambda _args: _no_action())
    tsub = p.add_subparsers(dest="tokenizer_command", metavar="ACTION", parser_class=type(p))
    t = tsub.add_parser("train", help="train a byte-level BPE on documents (JSONL, Parquet, text, run dirs)")
    t.add_argument("--input", nargs="+", required=True, metavar="PATH",
                   help="files, globs, folders or Thresher run directories (their data/)")
    t.add_argument("--vocab-size", type=int, required=True, help="vocabulary size, special tokens included")
    t.add_argument("--output", required=True, help="folder to write (a Hugging Face tokenizer folder)")
    t.add_argument("--text-field", default="text", help="JSONL/Parquet field holding the text (default: text)")
    t.add_argument("--sample", type=float, default=1.0, help="train on this fraction of documents (seeded)")
    t.add_argument("--max-docs", type=int, help="stop after this many (sampled) documents")
    t.add_argument("--seed", type=int, default=0, help="seed of the sampling hash (default 0)")
    t.add_argument("--min-frequency", type=int, default=2, help="least count of a pair to merge (default 2)")
    t.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    t.set_defaults(func=cmd_train)
