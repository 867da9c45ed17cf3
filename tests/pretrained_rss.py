"""Run under torchrun by test_trainer_pretrained: materialise a ``from_pretrained`` model under FSDP the way
the trainer does, and report this rank's memory (``/proc/self/status``, bytes) after the imports, before
loading (the trainer's modules, tokenizer and process group too) and at its peak, and its shard's sums.

argv: CONFIG.yaml OUT_PREFIX (writes OUT_PREFIX.<rank>.json).
"""

from __future__ import annotations

import json
import sys

import transformers.models.llama.modeling_llama  # noqa: F401  (imported before measuring: code, not weights)


def status() -> dict[str, int]:
    """VmRSS, VmHWM (the peak: what ``ru_maxrss`` reports), and the resident memory's anonymous and
    file-backed parts (code pages of the libraries), in bytes."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[key] = int(value.split()[0]) * 1024  # kB
    return out


def main() -> None:
    imported = status()
    from trainer import config, parallel
    from trainer.model import load_tokenizer

    cfg = config.load(sys.argv[1])
    tok = load_tokenizer(cfg.tokenizer)
    d = parallel.init()
    before = status()
    model, _ = parallel.build(cfg, tok, d)
    peak = status()
    local = {name: (p.to_local() if hasattr(p, "to_local") else p).double().sum().item()
             for name, p in model.named_parameters()}
    rows = {name: (p.to_local() if hasattr(p, "to_local") else p).shape[0] for name, p in model.named_parameters()}
    with open(f"{sys.argv[2]}.{d.rank}.json", "w") as f:
        json.dump({"rank": d.rank, "imported": imported, "before": before, "peak": peak, "sums": local, "rows": rows,
                   "params": sum(p.numel() for p in model.parameters())}, f)
    parallel.close()


if __name__ == "__main__":
    main()
