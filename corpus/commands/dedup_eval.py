"""``thresher dedup-eval RUN``: estimated precision and recall of a MinHash dedup run, and its S-curve."""

from __future__ import annotations

from pathlib import Path

from corpus.errors import UserError
from corpus.rundir import RunDir


def _state_dir(run: Path, label: str | None) -> Path:
    from corpus.stages.dedup import state

    if label:
        d = run / label
        if not (d / "params.json").is_file():
            raise UserError(f"{run}: no finished {state.STAGE} stage labelled {label!r}")
        return d
    return state.find_run(str(run))


def cmd_dedup_eval(args) -> int:
    from corpus.io import atomic
    from corpus.stages.dedup import evaluate

    run = Path(args.run_dir).resolve()
    if not run.is_dir():
        raise UserError(f"run directory not found: {run}")
    state_dir = _state_dir(run, args.label)
    if not (state_dir / "pairs.npy").is_file():
        raise UserError(f"{state_dir}: the run has not reached its candidate_pairs phase; finish the build first")
    if args.samples < 1:
        raise UserError("--samples must be >= 1")
    result = evaluate.evaluate(state_dir, args.samples, args.seed)
    png = Path(args.png).resolve() if args.png else RunDir(run).report / f"{state_dir.name}-s-curve.png"
    evaluate.plot(result, png)
    result["png"] = str(png)
    atomic.write_json(png.with_suffix(".json"), result)
    pct = lambda x: "n/a" if x is None else f"{x:.3f}"  # noqa: E731
    c, n = result["candidate"], result["near"]
    print(f"dedup-eval {run} ({state_dir.name}): {result['bands']} bands x {result['rows']} rows, "
          f"threshold {result['threshold']}")
    print(f"  precision {pct(result['precision'])}: {c.get('at_or_above_threshold', 0)} of {c['pairs']} sampled "
          f"candidate pairs (of {result['candidate_pairs_total']}) have exact Jaccard >= {result['threshold']}")
    print(f"  recall    {pct(result['recall'])}: of {result['recall_pairs']} sampled pairs with Jaccard >= "
          f"{result['threshold']} ({n['pairs']} near pairs from the probe, plus random pairs)")
    print("  jaccard   pairs  observed  theory")
    for b in result["s_curve"]:
        obs = "-" if b["observed"] is None else f"{b['observed']:.3f}"
        print(f"  {b['jaccard']}  {b['pairs']:>5}  {obs:>8}  {b['theory']:.3f}")
    print(f"  S-curve: {png} (figures: {png.with_suffix('.json')})")
    return 0


def register(sub) -> None:
    p = sub.add_parser("dedup-eval", help="estimate precision and recall of a MinHash dedup run; plot its S-curve")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a finished build with a dedup_minhash stage")
    p.add_argument("--label", help="the stage's label, if the run has more than one dedup_minhash stage")
    p.add_argument("--samples", type=int, default=2000, help="pairs per sample: candidate, near, random (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--png", help="where to write the S-curve (default RUN/report/<label>-s-curve.png)")
    p.set_defaults(func=cmd_dedup_eval)
