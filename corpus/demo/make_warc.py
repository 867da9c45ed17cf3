"""Build the demo crawl, ``data/web/pages.warc.gz``: self-made pages around public-domain speeches.

The article text is the demo's own speech excerpts (``data/notes/*.txt``, US presidential addresses,
public domain); the page around it (navigation, teasers, footer) is written here. The crawl holds what
a real one does, one of each: a request, a revisit, a 404, an image, a page declared in Windows-1252,
a page whose ``<meta name="robots">`` says ``noai`` and one whose ``X-Robots-Tag`` header says it.
Record ids and dates are fixed, so the file is the same on every run (warcio writes it; it is a dev
dependency, needed only to rebuild the file):

    python -m corpus.demo.make_warc
"""

from __future__ import annotations

import io
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

HERE = Path(__file__).resolve().parent / "data"
OUT = HERE / "web" / "pages.warc.gz"
SITE = "https://speeches.example.org"
PAGE = ("<!doctype html><html lang=\"en\"><head><meta charset=\"{charset}\"><title>{title}</title>"
        "<link rel=\"canonical\" href=\"{url}\">{head}</head><body><header><nav><a href=\"/\">Home</a> "
        "<a href=\"/archive\">Archive</a> <a href=\"/about\">About this site</a> <a href=\"/login\">Sign in</a>"
        "</nav></header><main><article><h1>{title}</h1>{body}</article><aside><h2>Read next</h2><ul>"
        "<li><a href=\"/next/1\">More addresses from the archive</a></li><li><a href=\"/next/2\">Subscribe to "
        "the newsletter</a></li></ul></aside></main><footer>Copyright notice. Cookie settings. Contact us."
        "</footer></body></html>")


class Crawl:
    """A WARC being written, with record ids and dates numbered in order."""

    def __init__(self, out: io.BytesIO):
        self.w = WARCWriter(out, gzip=True)
        self.n = 0

    def _headers(self) -> dict[str, str]:
        self.n += 1
        return {"WARC-Record-ID": f"<urn:uuid:00000000-0000-4000-8000-{self.n:012d}>",
                "WARC-Date": f"2025-03-{1 + self.n // 4:02d}T{self.n % 24:02d}:00:00Z"}

    def warcinfo(self) -> None:
        info = {"software": "thresher-demo-crawler/1.0", "robots": "obey",
                "description": "self-made pages around public-domain speeches, for the Thresher demo"}
        fields = "".join(f"{k}: {v}\r\n" for k, v in info.items()).encode()
        self.w.write_record(self.w.create_warc_record("", "warcinfo", payload=io.BytesIO(fields),
                                                      warc_content_type="application/warc-fields",
                                                      warc_headers_dict=self._headers()))

    def response(self, path: str, body: bytes, status: str = "200 OK", content_type: str = "text/html; charset=utf-8",
                 extra: tuple[tuple[str, str], ...] = ()) -> None:
        http = StatusAndHeaders(status, [("Content-Type", content_type), *extra], protocol="HTTP/1.1")
        self.w.write_record(self.w.create_warc_record(SITE + path, "response", payload=io.BytesIO(body),
                                                      http_headers=http, warc_headers_dict=self._headers()))

    def request(self, path: str) -> None:
        http = StatusAndHeaders(f"GET {path} HTTP/1.1", [("Host", SITE.split("//")[1])], is_http_request=True)
        self.w.write_record(self.w.create_warc_record(SITE + path, "request", payload=io.BytesIO(b""),
                                                      http_headers=http, warc_headers_dict=self._headers()))

    def revisit(self, path: str) -> None:
        self.w.write_record(self.w.create_revisit_record(SITE + path, "sha1:3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ",
                                                         SITE + path, "2025-03-01T01:00:00Z",
                                                         warc_headers_dict=self._headers()))


def page(title: str, path: str, text: str, charset: str = "utf-8", head: str = "") -> str:
    body = "".join(f"<p>{p.strip()}</p>" for p in text.split("\n") if p.strip())
    return PAGE.format(charset=charset, title=title, url=SITE + path, head=head, body=body)


def main() -> None:
    buf = io.BytesIO()
    crawl = Crawl(buf)
    crawl.warcinfo()
    notes = sorted((HERE / "notes").glob("*.txt"))
    for i, note in enumerate(notes):
        title, path = note.stem.replace("-", " "), f"/speeches/{note.stem.lower()}"
        text = note.read_text(encoding="utf-8")
        crawl.request(path)
        if i == 1:  # declared in Windows-1252, as many older sites are
            crawl.response(path, page(title, path, text, "windows-1252").encode("cp1252"),
                           content_type="text/html; charset=windows-1252")
        elif i == 2:
            crawl.response(path, page(title, path, text, head='<meta name="robots" content="noai, noimageai">').encode())
        elif i == 3:
            crawl.response(path, page(title, path, text).encode(), extra=(("X-Robots-Tag", "noai"),))
        else:
            crawl.response(path, page(title, path, text).encode())
    crawl.revisit(f"/speeches/{notes[0].stem.lower()}")
    crawl.response("/speeches/1901-missing", b"<html><body><h1>Not found</h1></body></html>", "404 Not Found")
    crawl.response("/images/seal.png", b"\x89PNG\r\n\x1a\n" + bytes(64), content_type="image/png")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_bytes(buf.getvalue())
    print(f"wrote {OUT} ({len(buf.getvalue()):,} bytes, {crawl.n} records)")


if __name__ == "__main__":
    main()
