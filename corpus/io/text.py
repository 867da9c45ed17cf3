"""Plain-text files, one document per file; the id defaults to the file's path."""

from __future__ import annotations

from collections.abc import Iterator

from corpus.io.raw import Raw


def read_text(path: str, file: str, text_field: str, id_field: str) -> Iterator[Raw]:
    with open(path, "rb") as f:  # an OSError (vanished, no permission) stops the build: a fault, not a record
        data = f.read()
    try:
        text = data.decode("utf-8-sig")  # a byte order mark is an encoding signature, not text
    except UnicodeDecodeError as e:
        yield Raw(file, 1, error=f"invalid UTF-8 at byte {e.start}", raw=data)
        return
    yield Raw(file, 1, record={text_field: text, id_field: file})
