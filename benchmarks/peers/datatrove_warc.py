"""Peer of bench_extract.py, run in the peer environment: datatrove's WarcReader -> Trafilatura
(favour_precision) -> JsonlWriter, one worker, one task.

    python datatrove_warc.py INPUT_DIR OUTPUT_DIR
    # prints {"seconds", "cpu_seconds", "process_cpu_seconds", "documents", "texts"}

CPU seconds of this process and its children around the executor's run (``cpu_seconds``) and from
the process's start to the run's end (``process_cpu_seconds``: the interpreter and datatrove's imports
too, as a ``thresher build`` is timed; the reading back of the output for the benchmark's scores
after it is not counted); the machine may be shared, so CPU time, not wall time, is the figure to
compare. ``documents`` is what the writer wrote.
"""

import gzip
import json
import resource
import sys
import time
from pathlib import Path

from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.extractors import Trafilatura
from datatrove.pipeline.readers import WarcReader
from datatrove.pipeline.writers import JsonlWriter


def cpu() -> float:
    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                  resource.getrusage(resource.RUSAGE_CHILDREN)))


def main() -> None:
    inp, out = sys.argv[1], sys.argv[2]
    t0, c0 = time.perf_counter(), cpu()
    LocalPipelineExecutor(pipeline=[WarcReader(inp), Trafilatura(favour_precision=True),
                                    JsonlWriter(f"{out}/data")],
                          tasks=1, workers=1, logging_dir=f"{out}/logs").run()
    seconds, process_cpu_seconds = time.perf_counter() - t0, cpu()
    docs = [json.loads(line) for p in sorted(Path(out, "data").glob("*.jsonl.gz"))
            for line in gzip.open(p, "rt", encoding="utf-8")]
    print(json.dumps({"seconds": seconds, "cpu_seconds": process_cpu_seconds - c0,
                      "process_cpu_seconds": process_cpu_seconds, "documents": len(docs),
                      "texts": {d["metadata"].get("url"): d["text"] for d in docs}}))


if __name__ == "__main__":  # datatrove's workers re-import this file
    main()
