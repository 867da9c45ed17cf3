"""The ``thresher`` command. Subcommands live in `corpus.commands`, one module each, plus those that
other packages declare under the ``thresher.commands`` entry point (the trainer's: train, export,
trace), so that `corpus` never imports `trainer`.

A user mistake prints one line on stderr and exits 2; a failed invariant or verification, or a fault
of the machine (a full disk, a lost input: `corpus.errors.Fault`, any `OSError`), one line and exit 1.
Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from importlib.metadata import entry_points

import corpus
from corpus.errors import Fault, InvariantError, UserError, os_fault


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, like every other user mistake
        raise UserError(f"{self.prog}: {message}")


def make_parser() -> argparse.ArgumentParser:
    import corpus.commands as pkg

    parser = Parser(prog="thresher", description="Turn raw text into audited LLM training data, and train on it.")
    parser.add_argument("--version", action="version", version=f"thresher {corpus.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for mod in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        importlib.import_module(f"{pkg.__name__}.{mod.name}").register(sub)
    for ep in sorted(entry_points(group="thresher.commands"), key=lambda e: e.name):
        ep.load()(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
    # Without torch (`pip install thresher`, the data side alone) every import of transformers (tokenizer
    # folders; Presidio imports it too) would advise that models are unavailable: that is intended here.
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    try:
        parser = make_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help(sys.stderr)
            return 2
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"thresher: error: {e}", file=sys.stderr)
        return 2
    except (InvariantError, Fault) as e:
        print(f"thresher: failed: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except OSError as e:  # the machine's fault (full disk, lost file, no permission): one line, exit 1
        print(f"thresher: failed: {os_fault(e, 'a file this command uses')}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("thresher: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
