"""``thresher contains RUN (--text FILE | --url URL | --id ID) [--json]``: is this document in the run?

Exit 0 when it is (an exact copy, its URL, its id, or a near copy at Jaccard >= 0.8), 1 when it is not.
The answer comes from a hashed index of the kept documents (`corpus.rights.contains`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson

from corpus.errors import UserError


def cmd_contains(args) -> int:
    from corpus.rights.contains import contains
    from corpus.rundir import DATA, RunDir

    run = Path(args.run_dir)
    if not RunDir(run).data.is_dir():
        raise UserError(f"{run} is not a Thresher run directory (no {DATA}/)")
    text = None
    if args.text is not None:
        try:
            text = Path(args.text).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise UserError(f"cannot read --text {args.text}: {getattr(e, 'strerror', None) or e}") from None
    answer = contains(run, text=text, url=args.url, doc_id=args.id)
    if args.json:
        sys.stdout.write(orjson.dumps(answer.to_dict()).decode() + "\n")
    elif answer.present:
        similarity = f" (Jaccard {answer.jaccard})" if answer.match == "near" else ""
        print(f"present: {answer.match} match{similarity}, document {answer.doc_id}")
    else:
        print("absent")
    return 0 if answer.present else 1


def register(sub) -> None:
    p = sub.add_parser("contains", help="is a text, URL or document id among a run's kept documents? (exit 0 yes, 1 no)")
    p.add_argument("run_dir", metavar="RUN")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--text", metavar="FILE", help="a file holding the text (exact or near copy, Jaccard >= 0.8)")
    what.add_argument("--url", metavar="URL")
    what.add_argument("--id", metavar="ID")
    p.add_argument("--json", action="store_true", help='print {"present", "match", "jaccard", "doc_id"}')
    p.set_defaults(func=cmd_contains)
