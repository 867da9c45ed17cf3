"""``thresher verify``: recompute every hash a run recorded; exit 1 on any mismatch."""

from __future__ import annotations

import sys
from pathlib import Path

from corpus.errors import InvariantError, UserError


def cmd_verify(args) -> int:
    from corpus.engine.verify import verify_run

    path = Path(args.run_dir)
    if not path.is_dir():
        raise UserError(f"{path} is not a directory")
    v = verify_run(path)
    for note in v.not_checked:
        print(f"not checked: {note}", file=sys.stderr)
    for problem in v.problems:
        print(f"MISMATCH {problem}", file=sys.stderr)
    if not v.ok:
        raise InvariantError(f"{len(v.problems)} mismatch(es) in {path}")
    print(f"{path}: {v.checked} file(s), {v.bytes:,} bytes: every hash matches; merkle root {v.merkle_root}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("verify", help="recompute every hash in a run's manifests; exit 1 on any mismatch")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.set_defaults(func=cmd_verify)
