"""Peer of bench_dedup.py, run in the peer environment: datatrove 0.10.1's four MinHash steps.

    python datatrove_dedup.py INPUT_DIR WORK_DIR WORKERS   # kept documents in WORK_DIR/out/*.jsonl

Its own defaults (5-grams, 14 buckets x 8 hashes, 64-bit hashes); timed from outside, with its
process tree's peak RSS, by the benchmark.
"""

import sys

from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup import (
                            MinhashDedupBuckets,
                            MinhashDedupCluster,
                            MinhashDedupFilter,
                            MinhashDedupSignature,
)
from datatrove.pipeline.dedup.minhash import MinhashConfig
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter
from datatrove.utils.hashing import HashConfig


def main() -> None:
    inp, work, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cfg = MinhashConfig(hash_config=HashConfig(precision=64), n_grams=5, num_buckets=14, hashes_per_bucket=8)
    tasks = workers
    sig = LocalPipelineExecutor(pipeline=[JsonlReader(inp), MinhashDedupSignature(f"{work}/signatures", config=cfg)],
                                tasks=tasks, workers=workers, logging_dir=f"{work}/logs/sig")
    buckets = LocalPipelineExecutor(pipeline=[MinhashDedupBuckets(f"{work}/signatures", f"{work}/buckets", config=cfg)],
                                    tasks=cfg.num_buckets, workers=workers, logging_dir=f"{work}/logs/buckets", depends=sig)
    cluster = LocalPipelineExecutor(pipeline=[MinhashDedupCluster(f"{work}/buckets", f"{work}/remove_ids", config=cfg)],
                                    tasks=1, logging_dir=f"{work}/logs/cluster", depends=buckets)
    filt = LocalPipelineExecutor(pipeline=[JsonlReader(inp), MinhashDedupFilter(f"{work}/remove_ids"),
                                           JsonlWriter(f"{work}/out", compression=None)],
                                 tasks=tasks, workers=workers, logging_dir=f"{work}/logs/filter", depends=cluster)
    filt.run()


if __name__ == "__main__":  # datatrove's workers re-import this file
    main()
