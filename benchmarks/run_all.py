"""Run every benchmark and print one table: contender, peer, both figures from the same run, ratio.

    make bench              # quick mode: small sizes, a few minutes on 2 cores
    make bench FULL=1       # the sizes docs/benchmarks.md quotes (about half an hour on 2 quiet cores)
    .venv/bin/python benchmarks/run_all.py [--full] [--only NAME ...] [--list] [--out out/bench]

Each benchmark runs as its own process with ``--json``; its output goes to ``OUT/<name>.log`` and its
result to ``OUT/<name>.json``. The peers (datatrove, plain Presidio, HF Trainer) are installed on
first use into their own environment (``peer_env.py``). The table is written to ``OUT/results.md``
and ``OUT/results.json`` as well. Every figure is higher-is-better, so a ratio (contender / peer)
above 1 means Thresher's side is ahead. Data sets are the bundled ``tests/data`` or generated from
it with fixed seeds; each result names its own.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from common import REPO
from peer_env import peer_python

from corpus.io.atomic import write_bytes, write_json

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Bench:
    """One benchmark run: its script and its arguments in each mode."""

    name: str
    script: str
    quick: tuple[str, ...]
    full: tuple[str, ...]
    work: bool = False  # the script takes --work (a scratch folder it may reuse)
    gpu: bool = False  # needs a CUDA GPU; skipped, saying so, without one


BENCHES = [
    Bench("engine", "bench_engine.py", ("--docs", "5000", "--files", "2", "--workers", "1"),
          ("--docs", "50000", "--workers", "1", "2")),
    Bench("dedup", "bench_dedup.py", ("--docs", "500", "--copies", "100"), ("--docs", "50000", "--copies", "2500"),
          work=True),
    Bench("dedup-verify", "bench_dedup_verify.py", ("--docs", "1000", "--copies", "100", "--related", "100",
                                                    "--repeats", "1"),
          ("--docs", "50000", "--copies", "2500", "--related", "2500", "--repeats", "2"), work=True),
    Bench("quality", "bench_quality.py", ("--docs", "100"), ("--docs", "1000")),
    Bench("langid", "bench_langid.py", ("--paragraphs", "200"), ("--table",)),
    Bench("pii-patterns", "bench_pii.py", ("--docs", "200", "--ner", "none", "--repeat", "1"),
          ("--docs", "200", "--ner", "none")),
    Bench("pii-ner", "bench_pii.py", ("--docs", "30", "--repeat", "1"), ("--docs", "100", "--repeat", "2")),
    Bench("pii-screen", "bench_pii_screen.py", ("--docs", "20", "--records", "100"), ()),
    Bench("tokenize", "bench_tokenize.py", ("--vocab-size", "8000", "--repeat", "1", "--rounds", "3"),
          ("--vocab-size", "32000", "--repeat", "8", "--rounds", "2")),
    Bench("train", "bench_train.py", ("--steps", "6", "--warmup", "2", "--rounds", "1", "--vocab", "4096",
                                      "--layers", "2"),
          ("--steps", "10", "--warmup", "3", "--rounds", "2", "--compile"), work=True),
    Bench("train-gpu", "bench_train_gpu.py", ("--steps", "12", "--warmup", "4", "--hf"), ("--steps", "40", "--hf"),
          work=True, gpu=True),
    Bench("ray", "bench_ray.py", ("--docs", "2000", "--repeat", "1"), ("--docs", "60000", "--repeat", "2")),
    Bench("extract", "bench_extract.py", ("--pages", "60"), ("--pages", "400"), work=True),
    Bench("ablate", "bench_ablate.py", ("--docs", "1000", "--rounds", "1"), ("--docs", "20000", "--rounds", "2")),
]
QUICK_TIMEOUT_S = 900  # a quick run that takes longer than this is stuck, not slow


def has_gpu() -> bool:
    """Whether torch in the project's environment sees a CUDA GPU (asked in a child: importing torch is slow)."""
    r = subprocess.run([sys.executable, "-c", "import torch; print(torch.cuda.is_available())"],
                       capture_output=True, text=True)
    return r.stdout.strip() == "True"


def run_one(b: Bench, full: bool, out: Path) -> tuple[str, float, dict | None]:
    """Run one benchmark; its status line, wall seconds and result (None when it failed)."""
    mode = "full" if full else "quick"
    result, log = out / f"{b.name}.json", out / f"{b.name}.log"
    result.unlink(missing_ok=True)
    cmd = [sys.executable, str(HERE / b.script), *(b.full if full else b.quick), "--json", str(result)]
    if b.work:
        cmd += ["--work", str(out / "work" / mode / b.name)]
    t0 = time.perf_counter()
    with open(log, "w") as f:
        f.write(" ".join(cmd) + "\n")
        f.flush()
        try:
            rc = subprocess.run(cmd, cwd=REPO, stdout=f, stderr=subprocess.STDOUT,
                                timeout=None if full else QUICK_TIMEOUT_S).returncode
        except subprocess.TimeoutExpired:
            rc = "timed out"
    seconds = time.perf_counter() - t0
    if rc != 0 or not result.exists():
        return f"FAILED ({rc if rc != 0 else 'no result file'}), see {log}", seconds, None
    return "ok", seconds, json.loads(result.read_text())


def fmt(x: object) -> str:
    if isinstance(x, float):
        return f"{x:,.3f}" if abs(x) < 10 else f"{x:,.1f}"
    return f"{x:,}" if isinstance(x, int) else str(x)


def table(results: list[dict]) -> list[str]:
    """The summary as markdown lines."""
    lines = ["| benchmark | contender | peer | figure | contender | peer | ratio |",
             "| --- | --- | --- | --- | ---: | ---: | ---: |"]
    for r in results:
        for x in r["rows"]:
            ratio = "—" if x["ratio"] is None else f"{x['ratio']:.2f}x"
            lines.append(f"| {r['name']} | {x['contender']} | {x['peer']} | {x['metric']} | "
                         f"{fmt(x['contender_value'])} | {fmt(x['peer_value'])} | {ratio} |")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--full", action="store_true", help="the sizes docs/benchmarks.md quotes (hours, not minutes)")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="run only these benchmarks (see --list)")
    ap.add_argument("--list", action="store_true", help="name every benchmark and its script, and stop")
    ap.add_argument("--out", type=Path, default=REPO / "out" / "bench")
    args = ap.parse_args()
    if args.list:
        for b in BENCHES:
            print(f"{b.name}\t{b.script}")
        return 0
    names = {b.name for b in BENCHES}
    if args.only and set(args.only) - names:
        print(f"run_all.py: unknown benchmark {sorted(set(args.only) - names)[0]!r}; see --list", file=sys.stderr)
        return 2
    chosen = [b for b in BENCHES if not args.only or b.name in args.only]
    args.out.mkdir(parents=True, exist_ok=True)
    mode = "full" if args.full else "quick"
    peer_python()  # install the peers once, up front, so no benchmark's time includes it
    gpu = has_gpu() if any(b.gpu for b in chosen) else False
    load_before = os.getloadavg()
    print(f"{mode} mode, {len(chosen)} benchmark(s), output in {args.out}", flush=True)
    results, failed, t_all = [], [], time.perf_counter()
    for i, b in enumerate(chosen, 1):
        head = f"[{i}/{len(chosen)}] {b.name} ({b.script})"
        if b.gpu and not gpu:
            print(f"{head}: skipped: needs a CUDA GPU and this machine has none", flush=True)
            continue
        status, seconds, res = run_one(b, args.full, args.out)
        print(f"{head}: {status}, {seconds:.0f} s", flush=True)
        if res is None:
            failed.append(b.name)
        else:
            results.append({"name": b.name, "seconds": round(seconds, 1), **res})
    lines = table(results)
    print("\n" + "\n".join(lines))
    total = time.perf_counter() - t_all
    load_after = os.getloadavg()
    notes = [f"{mode} mode, {total:.0f} s in all; load average {load_before[0]:.1f} before, {load_after[0]:.1f} "
             f"after, on {os.cpu_count()} CPUs. Ratio = contender / peer (higher-is-better figures)."]
    notes += [f"- {r['name']}: {r['dataset']}" for r in results]
    if failed:
        notes.append(f"failed: {', '.join(failed)}")
    print("\n" + "\n".join(notes))
    write_bytes(args.out / "results.md", ("\n".join(lines + [""] + notes) + "\n").encode())
    write_json(args.out / "results.json", {"mode": mode, "seconds": round(total, 1), "failed": failed,
                                            "load_average": [load_before, load_after], "results": results})
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
