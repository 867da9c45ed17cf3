"""Run under torchrun by test_trainer_pretrained: materialise a ``from_pretrained`` model under FSDP the way
the trainer does, and report this rank's resident memory after the imports, before loading (tokenizer
and process group too) and at its peak, and its shard's sums.

argv: CONFIG.yaml OUT_PREFIX (writes OUT_PREFIX.<rank>.json).
"""

from __future__ import annotations

import json
import resource
import sys

import psutil
import transformers.models.llama.modeling_llama  # noqa: F401  (imported before measuring: code, not weights)

from trainer import config, parallel
from trainer.model import load_tokenizer


def main() -> None:
    imported = psutil.Process().memory_info().rss
    cfg = config.load(sys.argv[1])
    tok = load_tokenizer(cfg.tokenizer)
    d = parallel.init()
    before = psutil.Process().memory_info().rss
    model, _ = parallel.build(cfg, tok, d)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: kilobytes
    local = {name: (p.to_local() if hasattr(p, "to_local") else p).double().sum().item()
             for name, p in model.named_parameters()}
    rows = {name: (p.to_local() if hasattr(p, "to_local") else p).shape[0] for name, p in model.named_parameters()}
    with open(f"{sys.argv[2]}.{d.rank}.json", "w") as f:
        json.dump({"rank": d.rank, "imported": imported, "before": before, "peak": peak, "sums": local, "rows": rows,
                   "params": sum(p.numel() for p in model.parameters())}, f)
    parallel.close()


if __name__ == "__main__":
    main()
