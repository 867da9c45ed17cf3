"""``thresher train | export | trace | impacted | eval | generate | ablate``: the trainer's commands.

`corpus` never imports `trainer` (data preparation must work without the training code): the
``thresher`` command finds these through the ``thresher.commands`` entry point (pyproject.toml).
Torch is imported inside each command, so a missing torch (``pip install thresher`` installs the data
side only) is one line naming the ``train`` extra, not a traceback, and ``thresher --help`` stays fast.
"""

from __future__ import annotations

import importlib.util
import json

from corpus import rundir
from corpus.errors import UserError


def _need_torch() -> None:
    """Fail in one line, before any slow import, when the training stack is not installed."""
    for name in ("torch", "transformers"):
        if importlib.util.find_spec(name) is None:
            raise UserError(f"the trainer needs {name}, which is not installed: pip install 'thresher[train]'")


def cmd_train(args) -> int:
    from trainer import config  # config checks need no torch: mistakes are reported at once

    cfg = config.load(args.config)
    _need_torch()
    from trainer import loop

    loop.run(cfg)
    return 0


def cmd_export(args) -> int:
    _need_torch()
    from trainer.export import export

    print(export(args.checkpoint, args.output))
    return 0


def cmd_trace(args) -> int:
    _need_torch()
    from trainer.trace import doc_ids, trace

    result = trace(args.checkpoint, args.step)
    print(json.dumps(result, indent=1) if args.json else "\n".join(doc_ids(result)))
    return 0


def cmd_impacted(args) -> int:
    from pathlib import Path

    run = Path(args.run_dir)
    if not rundir.is_finished(run):
        raise UserError(f"{run} is not a finished Thresher run (no {rundir.MANIFEST})")
    folders = [Path(c) for c in args.checkpoints or ["."]]
    for folder in folders:
        if not folder.is_dir():
            raise UserError(f"--checkpoints {folder} is not a directory")
    _need_torch()
    from trainer.impacted import impacted

    found = impacted(run, args.id, folders)
    if args.json:
        print(json.dumps(found, indent=1))
    for c in [] if args.json else found:
        steps = c["note"] if c["steps"] is None else (", ".join(map(str, c["steps"])) or "none")
        print(f"{c['path']} (trained to step {c['step']}): steps with {args.id}: {steps}")
    if not found and not args.json:
        print(f"no checkpoint under {', '.join(map(str, folders))} was trained on {run}")
    return 0


def cmd_eval(args) -> int:
    from trainer import evaluate as ev

    heldout = ev.parse_heldout(args.heldout or [])
    ev.check_window(args.stride, args.max_length)
    ev.check_tasks(args.tasks or [])
    _need_torch()
    summary = ev.evaluate(args.model, heldout, args.tasks or [], stride=args.stride, length=args.max_length).summary()
    print(json.dumps(summary, indent=1) if args.json else ev.format_table(summary))
    return 0


def cmd_generate(args) -> int:
    _need_torch()  # trainer.generate imports torch
    from trainer import generate as gen
    from trainer.evaluate import load_model

    gen.check_max_new_tokens(args.max_new_tokens)

    model, tok = load_model(args.model)
    print(gen.complete(model, tok, args.prompt, args.max_new_tokens, chat=args.chat))
    return 0


def cmd_ablate(args) -> int:
    from trainer.ablate import experiment

    exp = experiment.load(args.experiment)
    _need_torch()
    from trainer.ablate import run

    print(run.run(exp))
    return 0


def register(sub) -> None:
    p = sub.add_parser("train", help="train or fine-tune on a tokens/ folder or chat JSONL (one process; "
                                     "torchrun --nproc_per_node N -m trainer CONFIG for more)")
    p.add_argument("config", help="trainer YAML (rerun the same command to resume)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("export", help="write a checkpoint as a Hugging Face model folder")
    p.add_argument("checkpoint", help="a checkpoint folder, e.g. out/ckpt/step-000030")
    p.add_argument("--output", required=True, help="the folder to write (replaced if it exists)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("trace", help="list the document ids that formed a training step's batch")
    p.add_argument("checkpoint", help="a checkpoint folder of the run")
    p.add_argument("--step", type=int, required=True, help="the step (counting from 1)")
    p.add_argument("--json", action="store_true", help="every window with its rank and token ranges, as JSON")
    p.set_defaults(func=cmd_trace)

    p = sub.add_parser("impacted", help="the checkpoints trained on a run and the steps whose batches held a document")
    p.add_argument("run_dir", metavar="RUN")
    p.add_argument("--id", required=True, help="the document id")
    p.add_argument("--checkpoints", action="append", metavar="DIR",
                   help="folder searched for checkpoints and exports (lineage.json); repeatable (default: .)")
    p.add_argument("--json", action="store_true", help='[{"path", "step", "steps", "note"}] as JSON')
    p.set_defaults(func=cmd_impacted)

    p = sub.add_parser("eval", help="bits per byte on held-out text and multiple-choice task scores of a model")
    p.add_argument("model", help="a Thresher export or checkpoint folder, a transformers model folder or hub id")
    p.add_argument("--heldout", action="append", metavar="NAME=PATH",
                   help="held-out texts: JSONL with a text field, or a text file (repeatable)")
    p.add_argument("--tasks", nargs="+", action="extend", metavar="PATH",
                   help='multiple-choice JSONL ({"context", "choices", "gold"}), or lm_eval:TASK with lm-eval installed')
    p.add_argument("--stride", type=int, help="sliding-window step in tokens for long documents (default: half the window)")
    p.add_argument("--max-length", type=int, help="window in tokens (default 2048; at most the model's context)")
    p.add_argument("--json", action="store_true", help='print {"heldout": {...}, "tasks": {...}} as JSON')
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("generate", help="greedy continuation of a prompt by a model (a quick look at what it learned)")
    p.add_argument("model", help="a Thresher export or checkpoint folder, a training output, a transformers folder or hub id")
    p.add_argument("--prompt", required=True, help="the text to continue")
    p.add_argument("--max-new-tokens", type=int, default=64, help="most tokens to add (default 64)")
    p.add_argument("--chat", action="store_true", help="prompt as a user turn through the tokenizer's chat template")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("ablate", help="build corpus variants, train proxy models on each and report which data wins")
    p.add_argument("experiment", help="experiment YAML (rerun the same command to resume)")
    p.set_defaults(func=cmd_ablate)
