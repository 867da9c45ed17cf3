"""``thresher report``: the audit report of a corpus run, or the lineage report of a trained model."""

from __future__ import annotations

from pathlib import Path

from corpus.config import REPORT_FORMATS
from corpus.errors import UserError


def _formats(value: str) -> list[str]:
    formats = [f.strip() for f in value.split(",") if f.strip()]
    bad = [f for f in formats if f not in REPORT_FORMATS]
    if bad or not formats:
        raise UserError(f"--format takes a comma-separated list of {', '.join(REPORT_FORMATS)}; got {value!r}")
    return formats


def cmd_report(args) -> int:
    from corpus.report import lineage, write_model_report, write_reports

    path = Path(args.path)
    if not path.is_dir():
        raise UserError(f"{path} is not a directory")
    formats = _formats(args.format)
    out = Path(args.output) if args.output else None
    if lineage.is_model_dir(path):
        written = write_model_report(path, formats, [Path(r) for r in args.run or []], out)
    else:
        if args.run:
            raise UserError("--run applies to a checkpoint or export directory (one with lineage.json)")
        written = write_reports(path, formats, out, args.workers)
    for p in written:
        print(p)
    return 0


def register(sub) -> None:
    p = sub.add_parser("report", help="write the audit report of a run, or the lineage report of a checkpoint")
    p.add_argument("path", metavar="RUN_DIR", help="a run directory, or a checkpoint / HF export with lineage.json")
    p.add_argument("--format", default=",".join(REPORT_FORMATS), help="comma-separated: html,md,json (default: all)")
    p.add_argument("--output", help="folder for the report files (default: RUN_DIR/report)")
    p.add_argument("--run", action="append", help="the corpus run a checkpoint was trained on, when lineage.json "
                   "does not name its path (repeatable)")
    p.add_argument("--workers", type=int, help="processes reading the shards (default: CPU count)")
    p.set_defaults(func=cmd_report)
