"""`make bench` covers every benchmark: ``benchmarks/run_all.py --list`` names each ``bench_*.py``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def run_all(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCHMARKS / "run_all.py"), *args], capture_output=True, text=True)


def test_run_all_lists_every_benchmark_script() -> None:
    r = run_all("--list")
    assert r.returncode == 0, r.stderr
    listed = {line.split("\t")[1] for line in r.stdout.splitlines()}
    scripts = {p.name for p in BENCHMARKS.glob("bench_*.py")}
    assert not scripts - listed, f"add these to BENCHES in benchmarks/run_all.py: {sorted(scripts - listed)}"
    assert not listed - scripts, f"run_all.py lists scripts that do not exist: {sorted(listed - scripts)}"


def test_unknown_benchmark_is_a_one_line_error() -> None:
    r = run_all("--only", "no-such-bench")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == ["run_all.py: unknown benchmark 'no-such-bench'; see --list"]
