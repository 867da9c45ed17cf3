"""``thresher train | export | trace``: the trainer's commands.

`corpus` never imports `trainer` at module level (data preparation must work without torch), so
each command imports it inside its function, and a missing torch is one clear line, not a traceback.
"""

from __future__ import annotations

import json

from corpus.errors import UserError


def _trainer():
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as e:
        raise UserError(f"the trainer needs torch and transformers ({e.name} is missing): "
                        "pip install 'thresher' with its default dependencies") from None
    import trainer

    return trainer


def cmd_train(args) -> int:
    _trainer()
    from trainer import config, loop

    loop.run(config.load(args.config))
    return 0


def cmd_export(args) -> int:
    _trainer()
    from trainer.export import export

    print(export(args.checkpoint, args.output))
    return 0


def cmd_trace(args) -> int:
    _trainer()
    from trainer.trace import doc_ids, trace

    result = trace(args.checkpoint, args.step)
    print(json.dumps(result, indent=1) if args.json else "\n".join(doc_ids(result)))
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
