"""The decision: per metric mean and sd over seeds, the ranking, paired comparisons with a bootstrap
interval, and each metric's signal-to-noise.

The interval of a difference resamples both noise sources a small ablation has: the seeds (paired: seed
``s`` of variant a against seed ``s`` of b, the same data order and initialisation) and the eval items
(the same resampled items for both sides). A verdict names a winner only when the 95% interval
excludes zero. Signal-to-noise, after DataDecide: the spread of the variants' means over the noise of
one variant (its spread across seeds and across its late checkpoints); a metric whose ratio is near or
below one cannot separate these variants at this scale.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from corpus.rundir import RunDir
from trainer.ablate.experiment import PRIMARY, Experiment
from trainer.evaluate import metrics as flat_metrics

REPLICATES = 1000
VERDICTS = ("a_better", "b_better", "no_difference")


def lower_is_better(metric: str) -> bool:
    return metric == PRIMARY or metric.startswith("bpb/") or metric.endswith("/gold_bpb")


def run_metrics(summary: dict[str, Any]) -> dict[str, float]:
    """One checkpoint's metrics by name, with ``bpb`` the mean over the held-out sets."""
    m = flat_metrics(summary)
    bpbs = [v for k, v in m.items() if k.startswith("bpb/")]
    if bpbs:
        m[PRIMARY] = sum(bpbs) / len(bpbs)
    return m


def _arrays(items: dict[str, Any]) -> dict[str, Any]:
    return {sec: {name: {k: np.asarray(v, dtype=float) for k, v in fields.items()} for name, fields in d.items()}
            for sec, d in items.items()}


def value(items: dict[str, Any], metric: str, idx: dict[str, np.ndarray]) -> float:
    """``metric`` recomputed from per-item figures on the resampled items ``idx`` (per eval set)."""
    if metric == PRIMARY:
        names = list(items["heldout"])
        return sum(value(items, f"bpb/{n}", idx) for n in names) / len(names)
    if metric.startswith("bpb/"):
        name = metric[4:]
        h, i = items["heldout"][name], idx[f"heldout/{name}"]
        return float(h["bits"][i].sum() / h["bytes"][i].sum())
    task, key = metric.rsplit("/", 1)
    c, i = items["tasks"][task], idx[f"tasks/{task}"]
    if key == "gold_bpb":
        return float(-c["gold_ll"][i].sum() / math.log(2) / c["gold_bytes"][i].sum())
    return float({"acc": c["correct"], "acc_norm": c["correct_norm"], "gold_logprob": c["gold_ll"]}[key][i].mean())


def _sizes(items: dict[str, Any]) -> dict[str, int]:
    out = {f"heldout/{n}": len(h["bits"]) for n, h in items["heldout"].items()}
    out.update({f"tasks/{t}": len(c["correct"]) for t, c in items["tasks"].items() if "correct" in c})
    return out


def _has_items(items: dict[str, Any], metric: str) -> bool:
    if metric == PRIMARY or metric.startswith("bpb/"):
        return True
    return "correct" in items["tasks"].get(metric.rsplit("/", 1)[0], {})


def compare(a: list[dict[str, Any]], b: list[dict[str, Any]], metric: str, seed: int = 0) -> dict[str, Any]:
    """Difference a - b of ``metric`` (mean over paired seeds), its 95% bootstrap interval and verdict.

    ``a`` and ``b`` are the final checkpoints' per-item figures, one per seed, in the same seed order.
    Metrics without per-item figures (lm-eval tasks) are resampled over seeds only.
    """
    finals_a = [run_metrics(r["summary"])[metric] for r in a]
    finals_b = [run_metrics(r["summary"])[metric] for r in b]
    diff = float(np.mean(np.subtract(finals_a, finals_b)))
    per_item = _has_items(a[0]["items"], metric)
    ia, ib = [_arrays(r["items"]) for r in a], [_arrays(r["items"]) for r in b]
    sizes = _sizes(a[0]["items"])
    rng = np.random.default_rng(seed)
    reps = np.empty(REPLICATES)
    for r in range(REPLICATES):
        seeds = rng.integers(0, len(a), len(a))
        if per_item:
            idx = {k: rng.integers(0, n, n) for k, n in sizes.items()}
            reps[r] = np.mean([value(ia[s], metric, idx) - value(ib[s], metric, idx) for s in seeds])
        else:
            reps[r] = np.mean([finals_a[s] - finals_b[s] for s in seeds])
    lo, hi = (float(x) for x in np.percentile(reps, [2.5, 97.5]))
    if lo > 0 or hi < 0:
        a_wins = (hi < 0) == lower_is_better(metric)
        verdict = "a_better" if a_wins else "b_better"
    else:
        verdict = "no_difference"
    return {"diff": diff, "ci95": [lo, hi], "verdict": verdict}


def _sd(xs: list[float]) -> float:
    return float(np.std(xs, ddof=1)) if len(xs) > 1 else 0.0


def signal_to_noise(curves: dict[str, list[list[dict[str, float]]]], metric: str) -> float | None:
    """Spread of the variants' final means over one variant's noise (seeds and late checkpoints).

    ``curves``: per variant, per seed, the metrics of each checkpoint, oldest first."""
    finals = {v: [run[-1][metric] for run in runs] for v, runs in curves.items()}
    if len(finals) < 2:
        return None
    spread = _sd([float(np.mean(f)) for f in finals.values()])
    seed_var = np.mean([_sd(f) ** 2 for f in finals.values()])
    late = [[p[metric] for p in run[len(run) // 2:]] for runs in curves.values() for run in runs]
    late_var = np.mean([_sd(x) ** 2 for x in late])
    noise = math.sqrt(seed_var + late_var)
    return spread / noise if noise > 0 else None


def results(exp: Experiment, variants: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``results.json``: variants (documents, tokens, epochs, metrics), ranking, primary, comparisons."""
    curves = {v: [[run_metrics(p["summary"]) for p in r["evals"]] for r in d["runs"]] for v, d in variants.items()}
    names = sorted(curves[next(iter(curves))][0][-1])
    trained = exp.proxy["micro_batch_size"] * exp.proxy["seq_len"]
    out_variants = {}
    for v, d in variants.items():
        steps = d["runs"][0]["steps"]
        mets = {}
        for m in names:
            runs = [run[-1][m] for run in curves[v]]
            mets[m] = {"mean": float(np.mean(runs)), "sd": _sd(runs), "runs": runs}
        out_variants[v] = {"documents": d["documents"], "tokens": d["tokens"],
                           "epochs": round(steps * trained / d["tokens"], 3) if d["tokens"] else None,
                           "report": str(RunDir(d["build"]).report_html), "metrics": mets}
    if exp.primary not in names:
        from corpus.errors import UserError

        raise UserError(f"primary: no metric {exp.primary!r} (metrics: {', '.join(names)})")
    sign = 1 if lower_is_better(exp.primary) else -1
    ranking = sorted(out_variants, key=lambda v: sign * out_variants[v]["metrics"][exp.primary]["mean"])
    order = list(variants)
    comparisons = []
    for i, a in enumerate(order):
        for b in order[i + 1:]:
            fa = [r["evals"][-1] for r in variants[a]["runs"]]
            fb = [r["evals"][-1] for r in variants[b]["runs"]]
            for m in names:
                comparisons.append({"a": a, "b": b, "metric": m, **compare(fa, fb, m)})
    return {"name": exp.name, "primary": exp.primary, "ranking": ranking, "variants": out_variants,
            "comparisons": comparisons, "signal_to_noise": {m: signal_to_noise(curves, m) for m in names}}
