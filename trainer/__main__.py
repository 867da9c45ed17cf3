"""``torchrun --nproc_per_node N -m trainer CONFIG.yaml`` (or ``python -m trainer CONFIG.yaml``).

Config and data mistakes print one line on stderr and exit 2, as the ``thresher`` command does; under
torchrun a rank other than 0 names itself, since a mistake found by one rank only must still be seen.
"""

from __future__ import annotations

import argparse
import os
import sys

from corpus.errors import UserError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer", description=__doc__.splitlines()[0])
    parser.add_argument("config", help="trainer YAML (rerun the same command to resume)")
    args = parser.parse_args(argv)
    from trainer import config

    try:
        cfg = config.load(args.config)
        from trainer import loop  # torch and transformers load only once the config is known to be good

        loop.run(cfg)
    except UserError as e:
        rank = os.environ.get("RANK", "0")
        print(f"thresher: error{'' if rank == '0' else f' (rank {rank})'}: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
