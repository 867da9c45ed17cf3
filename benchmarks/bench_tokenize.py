"""Tokenization throughput: ``thresher tokenize`` end to end vs raw ``tokenizers`` ``encode_batch``.

Same texts, same tokenizer, same process, same Rust thread count. The raw side only encodes texts
already in memory; Thresher's side reads the run's ``data/`` (.jsonl.zst), encodes, appends EOS,
decides split and mixture, writes and hashes the Megatron shards and writes the manifests. Each side
runs ``--rounds`` times, alternating, and the best round counts (the machine may be shared).

Texts: the speeches bundled in ``tests/data/prose`` cut into ~3,000-character pieces, ``--repeat``
times; the tokenizer is trained on them by ``thresher tokenizer train`` (deterministic).

    .venv/bin/python benchmarks/bench_tokenize.py --vocab-size 32000 --repeat 4 [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from common import row, write_result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vocab-size", type=int, default=32000)
    ap.add_argument("--repeat", type=int, default=4, help="copies of the prose corpus (about 2.9 MB each)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--json", help="write the summary rows here too (run_all.py reads it)")
    args = ap.parse_args()
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)  # before the first encode in this process
    os.environ["TOKENIZERS_PARALLELISM"] = "true"

    import orjson
    from tokenizer_fixtures import write_speech_pieces
    from tokenizers import Tokenizer

    from corpus.cli import main as thresher
    from corpus.tokenizer_train import Corpus, train

    tmp = Path(tempfile.mkdtemp(prefix="bench-tokenize-"))
    records = []
    for folder in ("state_union", "inaugural"):
        records += write_speech_pieces(tmp / f"{folder}.jsonl", folder)
    tok_dir = tmp / "tok"
    train(Corpus([str(tmp / "state_union.jsonl"), str(tmp / "inaugural.jsonl")]), args.vocab_size, tok_dir)
    with open(tmp / "input.jsonl", "wb") as f:
        for k in range(args.repeat):
            for r in records:
                f.write(orjson.dumps({"id": f"{r['id']}@{k}", "text": r["text"]}) + b"\n")
    (tmp / "p.yaml").write_text("name: bench\ninput: {paths: [input.jsonl]}\noutput: run\nworkers: 1\nstages: []\n")
    assert thresher(["build", str(tmp / "p.yaml"), "--quiet"]) == 0
    texts = [r["text"] for _ in range(args.repeat) for r in records]
    raw = Tokenizer.from_file(str(tok_dir / "tokenizer.json"))

    def run_raw(method: str) -> tuple[float, int]:
        encode = getattr(raw, method)
        t0, n = time.perf_counter(), 0
        for i in range(0, len(texts), args.batch_size):
            n += sum(len(e.ids) for e in encode(texts[i:i + args.batch_size], add_special_tokens=False))
        return time.perf_counter() - t0, n

    def run_thresher() -> tuple[float, int]:
        t0 = time.perf_counter()
        rc = thresher(["tokenize", str(tmp / "run"), "--tokenizer", str(tok_dir), "--overwrite",
                       "--threads", str(args.threads), "--batch-size", str(args.batch_size)])
        seconds = time.perf_counter() - t0
        assert rc == 0
        manifest = json.loads((tmp / "run" / "tokens" / "manifest.json").read_text())
        return seconds, manifest["totals"]["tokens"] - manifest["totals"]["sequences"]  # EOS not counted

    best: dict[str, tuple[float, int]] = {}
    for _ in range(args.rounds):
        for name, fn in (("raw encode_batch", lambda: run_raw("encode_batch")),
                         ("raw encode_batch_fast", lambda: run_raw("encode_batch_fast")),
                         ("thresher tokenize", run_thresher)):
            s, n = fn()
            if name not in best or s < best[name][0]:
                best[name] = (s, n)
    chars = sum(map(len, texts))
    print(f"{len(texts)} documents, {chars / 1e6:.1f} M characters, vocabulary {args.vocab_size}, "
          f"{args.threads} thread(s), best of {args.rounds}")
    base = best["raw encode_batch"]
    for name, (s, n) in best.items():
        print(f"  {name:22s} {n:>10,d} tokens  {s:7.2f} s  {n / s:>10,.0f} tokens/s  "
              f"{(n / s) / (base[1] / base[0]):.2f}x raw encode_batch")
    ours = best["thresher tokenize"]
    write_result(args.json, "tokenize", f"tests/data/prose speeches in ~3,000-char pieces x {args.repeat} "
                 f"({len(texts):,} documents); BPE vocabulary {args.vocab_size:,} trained on them",
                 [row("thresher tokenize (end to end)", "raw tokenizers encode_batch", "tokens/s",
                      round(ours[1] / ours[0]), round(base[1] / base[0]))])
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
