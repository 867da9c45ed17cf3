"""``thresher quality train``: train a fastText quality classifier (DCLM style) for ``quality_classifier``.

Positive examples (what the corpus should look like: curated text, instruction data, reference
prose) get the label ``hq``, negatives (a random sample of the raw crawl) ``lq``. A held-out share
(``--valid-fraction``) measures the model; the figures go to stdout and ``<output>.json``.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

from corpus.commands import quality_diff
from corpus.errors import UserError
from corpus.io import atomic
from corpus.stages.textfiles import read_texts


def _examples(paths: list[str], label: str, fields: list[str] | None) -> list[str]:
    from corpus.stages.classifier import fasttext_line

    out = [f"__label__{label} {fasttext_line(t)}" for p in paths for t in read_texts(p, fields)]
    if not out:
        raise UserError(f"no {label} examples in {', '.join(paths)}")
    return out


def evaluate(model, examples: list[str]) -> dict[str, float]:
    """Accuracy, and precision/recall/F1 of the positive label at probability 0.5."""
    from corpus.stages.classifier import POSITIVE

    tp = fp = fn = correct = 0
    for line in examples:
        label, text = line.split(" ", 1)
        predicted = model.predict(text, k=1)[0][0]
        correct += predicted == label
        is_pos, said_pos = label == f"__label__{POSITIVE}", predicted == f"__label__{POSITIVE}"
        tp += is_pos and said_pos
        fp += said_pos and not is_pos
        fn += is_pos and not said_pos
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"examples": len(examples), "accuracy": correct / len(examples), "precision": precision,
            "recall": recall, "f1": f1}


def cmd_train(args) -> int:
    import fasttext

    from corpus.stages.classifier import NEGATIVE, POSITIVE  # numpy: only when a model is trained

    fasttext.FastText.eprint = lambda *a, **k: None
    if not 0.0 <= args.valid_fraction < 1.0:
        raise UserError("--valid-fraction must be in [0, 1)")
    fields = args.field or None
    examples = _examples(args.positive, POSITIVE, fields) + _examples(args.negative, NEGATIVE, fields)
    random.Random(args.seed).shuffle(examples)
    n_valid = int(len(examples) * args.valid_fraction)
    valid, train = examples[:n_valid], examples[n_valid:]
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8", dir=output.parent) as f:
        f.write("\n".join(train) + "\n")
        f.flush()
        model = fasttext.train_supervised(input=f.name, lr=args.lr, epoch=args.epoch, wordNgrams=args.word_ngrams,
                                          dim=args.dim, minCount=args.min_count, bucket=args.bucket, thread=args.threads,
                                          seed=args.seed, verbose=0)
    tmp = atomic.tmp_path(output)
    model.save_model(str(tmp))
    atomic.commit(tmp, output)
    report = {
        "model": str(output), "labels": {"positive": POSITIVE, "negative": NEGATIVE},
        "train_examples": len(train),
        "params": {"lr": args.lr, "epoch": args.epoch, "word_ngrams": args.word_ngrams, "dim": args.dim,
                   "min_count": args.min_count, "bucket": args.bucket, "seed": args.seed},
        "validation": evaluate(model, valid) if valid else None,
    }
    atomic.write_json(output.with_name(output.name + ".json"), report)
    v = report["validation"]
    print(f"{output}: {len(train)} training examples"
          + (f"; held out {v['examples']}: accuracy {v['accuracy']:.3f}, precision {v['precision']:.3f}, "
             f"recall {v['recall']:.3f}, F1 {v['f1']:.3f}" if v else ""))
    return 0


def register(sub) -> None:
    p = sub.add_parser("quality", help="quality classifier and rule tools")
    qsub = p.add_subparsers(dest="quality_command", metavar="SUBCOMMAND")
    t = qsub.add_parser("train", help="train a fastText quality classifier (labels hq / lq)")
    t.add_argument("--positive", nargs="+", required=True, help="files of good examples (JSONL or text, one a line)")
    t.add_argument("--negative", nargs="+", required=True, help="files of other examples (e.g. raw crawl)")
    t.add_argument("--output", required=True, help="model file to write (a .json report goes beside it)")
    t.add_argument("--field", action="append", help="JSONL field(s) holding the text (default: text, else all strings)")
    t.add_argument("--valid-fraction", type=float, default=0.1, help="held out to measure the model (default 0.1)")
    t.add_argument("--epoch", type=int, default=5)
    t.add_argument("--lr", type=float, default=0.1)
    t.add_argument("--word-ngrams", type=int, default=2)
    t.add_argument("--dim", type=int, default=100)
    t.add_argument("--min-count", type=int, default=1)
    t.add_argument("--bucket", type=int, default=2_000_000,
                   help="hash buckets for word n-grams; the model holds bucket x dim floats (default 2000000)")
    t.add_argument("--threads", type=int, default=1, help="1 makes training reproducible (default)")
    t.add_argument("--seed", type=int, default=0)
    t.set_defaults(func=cmd_train)
    quality_diff.register(qsub)
