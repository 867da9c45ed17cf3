"""Peer of bench_engine.py, run in the peer environment: datatrove's JsonlReader -> JsonlWriter (zstd).

    python datatrove_engine.py INPUT_DIR OUTPUT_DIR WORKERS TASKS   # prints {"seconds": ...}

Timed around the executor's run only, as Thresher's side is timed around ``build.run``.
"""

import json
import sys
import time

from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter


def main() -> None:
    inp, out, workers, tasks = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    t0 = time.perf_counter()
    LocalPipelineExecutor(pipeline=[JsonlReader(inp), JsonlWriter(f"{out}/data", compression="zstd")],
                          tasks=tasks, workers=workers, logging_dir=f"{out}/logs").run()
    print(json.dumps({"seconds": time.perf_counter() - t0}))


if __name__ == "__main__":  # datatrove's workers re-import this file
    main()
