"""``thresher build | validate | stages``: run, check or describe a pipeline."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

from corpus import config
from corpus.errors import Fault, UserError


def _load(args) -> config.PipelineConfig:
    cfg = config.load(args.pipeline)
    if getattr(args, "output", None):  # relative to the current directory, unlike the YAML's output
        cfg.output = str(Path(args.output).resolve())
    if getattr(args, "workers", None) is not None:
        if args.workers < 1:
            raise UserError("--workers must be >= 1")
        cfg.workers = args.workers
    if getattr(args, "executor", None):
        cfg.executor = args.executor
    if getattr(args, "ray_address", None):
        cfg.ray_address = args.ray_address
    return cfg


def build(cfg: config.PipelineConfig, **options: Any) -> dict[str, Any]:
    """Build the pipeline (`corpus.engine.build.run`, same options), then write its report when the
    config asks for one: the engine and the report never import each other, this command joins them."""
    from corpus.engine import build as engine

    def report(run_dir: Path) -> None:
        from corpus.report import write_reports

        write_reports(run_dir, cfg.report.formats)

    return engine.run(cfg, finished=report if cfg.report else None, **options)


def cmd_build(args) -> int:
    cfg = _load(args)
    if args.limit is not None and args.limit < 0:
        raise UserError("--limit must be >= 0")
    build(cfg, limit=args.limit, dry_run=args.dry_run, quiet=args.quiet, restart=args.restart)
    return 0


def cmd_validate(args) -> int:
    """Every check ``build`` makes before its first task (`corpus.engine.buildplan.make`), nothing run."""
    cfg = _load(args)
    from corpus.engine import buildplan
    from corpus.engine.build import stage_warnings

    bp = buildplan.make(cfg)
    stage_warnings(bp.stages)
    if args.json:
        print(json.dumps(_identity(bp)))
    else:
        print(f"{args.pipeline}: ok ({len(bp.stages)} stage(s), {len(bp.tasks)} task(s))")
    return 0


def _identity(bp) -> dict[str, Any]:
    """What decides the build's output: the resolved config's ``config_sha256`` and the inputs as they
    are now (a local file with its size and modification time; a folder or hub dataset by name), so a
    caller (``thresher ablate``) can address a build without importing the pipeline side."""
    from corpus.engine.plan import expand_inputs

    def stat(path: str) -> dict[str, Any]:
        st = os.stat(path) if os.path.isfile(path) else None
        return {"path": path, "size": st and st.st_size, "mtime_ns": st and st.st_mtime_ns}

    return {"config_sha256": bp.config_sha, "stages": bp.labels, "tasks": len(bp.tasks),
            "inputs": [stat(path) for path, _, _ in expand_inputs(bp.cfg)]}


def cmd_stages(args) -> int:
    """Every stage with its parameters. A stage that cannot be described (its rules file is missing or
    wrong, its module fails to import) is one line on stderr; the others are still listed. Exit 2
    when a stage's own files are wrong, 1 when an import failed, else 0."""
    from corpus.stages import base

    rc = 0
    for name in base.names():
        try:
            cls = base.get(name)
            defaults = base.param_defaults(cls)
        except UserError as e:
            print(f"thresher: error: stage {name!r}: {e}", file=sys.stderr)
            rc = 2
            continue
        except (ImportError, Fault) as e:  # a module or an installed stage package that does not import
            print(f"thresher: error: stage {name!r} cannot be imported: {e}", file=sys.stderr)
            rc = rc or 1
            continue
        kind = "global" if issubclass(cls, base.GlobalStage) else "filter" if issubclass(cls, base.Filter) else "map"
        print(f"{name}  [{kind}]  {cls.doc}")
        if cls.rules:  # a name under Thresher's rules/, or a path (a stage package's own file)
            print(f"    defaults from {cls.rules if Path(cls.rules).is_absolute() else 'rules/' + cls.rules}")
        for f in dataclasses.fields(cls.Params):
            print(f"    {f.name}: {defaults.get(f.name, '(required)')!r}")
    return rc


def register(sub) -> None:
    p = sub.add_parser("build", help="run a pipeline (rerun the same command to resume)")
    p.add_argument("pipeline", help="pipeline YAML")
    p.add_argument("--output", help="run directory (overrides the YAML's output)")
    p.add_argument("--workers", type=int, help="worker processes (default: the YAML's, or the CPU count)")
    p.add_argument("--limit", type=int, help="read only the first N records (in input order)")
    p.add_argument("--dry-run", action="store_true", help="check and plan, print the plan, write nothing")
    p.add_argument("--quiet", action="store_true", help="no progress and no summary")
    p.add_argument("--restart", action="store_true",
                   help="move an earlier run in the output aside (<output>.old-<time>) and start again")
    p.add_argument("--executor", choices=["local", "ray"], help="where tasks run (default: the YAML's)")
    p.add_argument("--ray-address", help="Ray cluster address (with --executor ray)")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("validate", help="check a pipeline YAML and its inputs without running it")
    p.add_argument("pipeline")
    p.add_argument("--json", action="store_true",
                   help='print {"config_sha256", "stages", "tasks", "inputs": [{"path", "size", "mtime_ns"}]}')
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("stages", help="list the stages with their parameters and defaults")
    p.set_defaults(func=cmd_stages)
