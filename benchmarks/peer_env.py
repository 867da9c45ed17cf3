"""The peers' own environment: datatrove, plain Presidio and HF Trainer live in ``.venv-bench-peers/``.

The tools Thresher is compared against run in a virtual environment of their own, created with pip
on first use, and are called as subprocesses (the scripts in ``benchmarks/peers/``). So the project's
environment needs none of them, their pins (datatrove wants ``xxhash<4``) cannot clash with
Thresher's, and each peer runs exactly as a user of it would install it. Where a peer shares a
library with Thresher (torch, transformers, Presidio), the peer gets the version the project's
environment has, so that a difference in figures is the tool's and not a library upgrade's.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import venv
from pathlib import Path

from common import REPO

from corpus.io.atomic import write_bytes

PEERS_VENV = REPO / ".venv-bench-peers"
PEER_SCRIPTS = Path(__file__).resolve().parent / "peers"
STAMP = PEERS_VENV / ".thresher-peers"


def _same_as_project(name: str) -> str:
    """``name==<version in the project's environment>``, without a local build tag such as ``+cpu``."""
    return f"{name}=={importlib.metadata.version(name).split('+')[0]}"


def requirements() -> list[str]:
    """What the peer environment holds: each peer as released, plus the libraries they share with Thresher."""
    return ["datatrove[io,processing]==0.10.1", "spacy",  # datatrove's English word tokenizer is spaCy's
            "lxml_html_clean",  # the trafilatura<1.12 datatrove pins needs it beside lxml>=5.2 (else: ImportError)
            _same_as_project("presidio-analyzer"), _same_as_project("presidio-anonymizer"),
            _same_as_project("torch"), _same_as_project("transformers"), "accelerate"]


def peer_python() -> Path:
    """The peer environment's interpreter, creating or updating the environment first when needed."""
    python = PEERS_VENV / "bin" / "python"
    wanted = "\n".join(requirements())
    if python.exists() and STAMP.exists() and STAMP.read_text() == wanted:
        return python
    print(f"installing the peers into {PEERS_VENV.relative_to(REPO)}/ : {', '.join(requirements())}",
          file=sys.stderr, flush=True)
    if not python.exists():
        venv.EnvBuilder(with_pip=True).create(PEERS_VENV)
    r = subprocess.run([str(python), "-m", "pip", "install", "-q", *requirements()], capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"could not install the benchmark peers into {PEERS_VENV}:\n{r.stderr[-3000:]}")
    write_bytes(STAMP, wanted.encode())
    return python


def run_peer(script: str, *args: object, cwd: Path | None = None) -> dict:
    """Run ``peers/<script>`` in the peer environment; its last line of stdout is its JSON result."""
    cmd = [str(peer_python()), str(PEER_SCRIPTS / script), *map(str, args)]
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"peer {script} failed (exit {r.returncode}):\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    print(peer_python())
