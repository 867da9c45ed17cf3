"""``thresher forget RUN (--ids FILE | --urls FILE | --domains FILE | --match REGEX) --reason TEXT``.

Removes the documents from ``data/`` and ``tokens/``, logs the erasure (hashes only) and chains a new
manifest to the old one (`corpus.rights.forget`). Rerun the same command after a kill to resume.
"""

from __future__ import annotations

from pathlib import Path

from corpus.errors import UserError


def _values(args) -> tuple[str, list[str]]:
    for name in ("ids", "urls", "domains"):
        path = getattr(args, name)
        if path is not None:
            try:
                lines = Path(path).read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as e:
                raise UserError(f"cannot read --{name} {path}: {getattr(e, 'strerror', None) or e}") from None
            values = [v.strip() for v in lines if v.strip()]
            if not values:
                raise UserError(f"--{name} {path} lists nothing to forget")
            return name, values
    return "match", [args.match]


def _refresh_report(run: Path) -> list[Path]:
    """Rewrite the run's saved report (``RUN/report/``) in the formats it holds, so its counts and its
    Erasures section say what the run holds now; a run never reported gets none."""
    from corpus.config import REPORT_FORMATS
    from corpus.rundir import RunDir

    folder = RunDir(run).report
    formats = [f for f in REPORT_FORMATS if (folder / f"report.{f}").is_file()]
    if not formats:
        return []
    from corpus.report import write_reports

    return write_reports(run, formats)


def cmd_forget(args) -> int:
    from corpus.rights.forget import Request, forget
    from corpus.rundir import MANIFEST, RunDir, is_finished

    run = Path(args.run_dir)
    if not is_finished(run):
        raise UserError(f"{run} is not a finished Thresher run (no {MANIFEST})")
    if not args.reason.strip():
        raise UserError("--reason must say why the documents are forgotten")
    selector, values = _values(args)
    for folder in args.checkpoints or []:
        if not Path(folder).is_dir():
            raise UserError(f"--checkpoints {folder} is not a directory")
    done = forget(run, Request(selector, values, args.reason), [Path(c) for c in args.checkpoints or []])
    if not done["documents"]:
        print(f"{run}: no kept document matches; nothing forgotten")
        return 0
    print(f"{run}: forgot {done['documents']} document(s), rewrote {done['data_shards']} data shard(s) and "
          f"{done['token_shards']} token shard(s); merkle root {done['merkle_root']}")
    for c in done["affected_checkpoints"]:
        print(f"affected (trained before the erasure; weights unchanged): {c['path']} (step {c['step']})")
    if _refresh_report(run):
        print(f"{run}: report rewritten ({RunDir(run).report})")
    return 0


def register(sub) -> None:
    p = sub.add_parser("forget", help="remove documents from a run's data and tokens, log it, chain a new manifest")
    p.add_argument("run_dir", metavar="RUN")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--ids", metavar="FILE", help="document ids, one a line")
    what.add_argument("--urls", metavar="FILE", help="URLs (metadata.url), one a line")
    what.add_argument("--domains", metavar="FILE", help="domains, one a line (their subdomains too)")
    what.add_argument("--match", metavar="REGEX", help="documents whose text the regular expression matches")
    p.add_argument("--checkpoints", action="append", metavar="DIR",
                   help="folder searched for checkpoints (lineage.json) trained on this run: listed as affected "
                        "(repeatable)")
    p.add_argument("--reason", required=True, metavar="TEXT", help="why (recorded in RUN/erasures.jsonl)")
    p.set_defaults(func=cmd_forget)
