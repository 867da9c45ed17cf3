"""What a 3-variant ablation's corpora cost against one variant's build (issue 16's "< 1.5x one build").

The three variants differ only in their last stage (``length`` with three thresholds), so the engine's
prefix sharing (`trainer.ablate.builds`) builds the shared passes once and each variant's last stage
over their output. The peer is the plain ``thresher build`` of one variant's full pipeline over the
same corpus, in the same run, as a user runs it (``thresher build``, its own process: the ablation's builds
are ``thresher`` processes too), with the audit report the ablation writes for each variant's corpus. The corpus is the bundled speeches cut into paragraphs (about 3,000
characters each), cycled to ``--docs`` documents with a running number, so no two are identical.

    .venv/bin/python benchmarks/bench_ablate.py [--docs 20000] [--rounds 2] [--json FILE]

``cost`` (ablation seconds / one build's seconds) is the figure the issue bounds; the table's row is
its inverse per variant (variants built per build-time), higher-is-better like every other row.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path

import orjson
import yaml
from common import paragraphs_name, row, speech_paragraph_docs, timed, write_result

from trainer.ablate import builds, experiment

STAGES = [{"stage": "normalize"}, {"stage": "language", "keep": ["en"]}, {"stage": "gopher_repetition"},
          {"stage": "gopher_quality"}, {"stage": "dedup_exact"}, {"stage": "length", "min_words": 50}]
VARIANTS = {"a": {}, "b": {"set": {"length": {"min_words": 200}}}, "c": {"set": {"length": {"min_words": 400}}}}
PROXY = {"model": {"arch": "llama", "hidden_size": 32, "num_layers": 2, "num_heads": 4, "intermediate_size": 64},
         "tokens": 24000, "seq_len": 64, "micro_batch_size": 8, "lr": 0.01, "seeds": [0]}


def write_corpus(root: Path, n: int) -> None:
    (root / "data").mkdir(parents=True)
    with open(root / "data" / "docs.jsonl", "wb") as f:
        for i, d in enumerate(speech_paragraph_docs(n)):
            f.write(orjson.dumps({"id": d["id"], "text": f"{d['text']}\n\nDocument {i}."}) + b"\n")
    (root / "heldout.jsonl").write_text(orjson.dumps({"text": "A held-out paragraph."}).decode() + "\n")


def write_configs(root: Path, name: str) -> tuple[Path, Path]:
    """The pipeline (one variant's full build) and the experiment over it."""
    pipe = root / f"{name}-pipeline.yaml"
    pipe.write_text(yaml.safe_dump({"name": name, "input": {"paths": ["data/docs.jsonl"]}, "output": f"out/{name}",
                                    "workers": 1, "stages": STAGES, "report": {"formats": ["html", "md", "json"]}}))
    exp = root / f"{name}-experiment.yaml"
    exp.write_text(yaml.safe_dump({"name": name, "pipeline": pipe.name, "variants": VARIANTS,
                                   "tokenizer": {"train": {"vocab_size": 400}}, "proxy": PROXY,
                                   "eval": {"heldout": {"held": "heldout.jsonl"}}, "output": f"out/{name}-ablate"},
                                  sort_keys=False))
    return pipe, exp


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=2, help="each side this many times, interleaved; best kept")
    ap.add_argument("--json", help="write the summary rows here too (run_all.py reads it)")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-ablate-"))
    write_corpus(root, args.docs)
    one, three, shared = [], [], 0
    for r in range(args.rounds):
        pipe, exp_path = write_configs(root, f"r{r}")
        one.append(timed(partial(subprocess.run, [sys.executable, "-m", "corpus.cli", "build", str(pipe), "--quiet"],
                                 check=True))[0])
        exp = experiment.load(exp_path)
        three.append(timed(partial(builds.build_all, exp, lambda line: None))[0])
        shared = len(builds.plan(exp)[0])
        print(f"round {r + 1}: one build {one[-1]:.1f} s, three variants {three[-1]:.1f} s in {shared} builds "
              f"(cost {three[-1] / one[-1]:.2f}x)")
    t1, t3 = min(one), min(three)
    cost = t3 / t1
    print(f"best of {args.rounds}: one variant's build {t1:.1f} s; 3 variants' corpora {t3:.1f} s "
          f"({shared} builds); cost {cost:.2f}x one build (issue 16 bound: < 1.5x)")
    write_result(args.json, "ablate", paragraphs_name(args.docs),
                 [row("ablate: 3 variants, shared prefix", "one variant's thresher build",
                      "variants built per build-time", 3 * t1 / t3, 1.0)],
                 one_build_s=round(t1, 2), three_variants_s=round(t3, 2), builds=shared, cost=round(cost, 3))
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
