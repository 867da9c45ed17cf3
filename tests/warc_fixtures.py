"""Self-made WARC files for the web tests, written with warcio (the other maintained WARC library,
so the reader is checked against files it did not write itself)."""

from __future__ import annotations

import io
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

ARTICLE = ("<!doctype html><html lang=\"{lang}\"><head><meta charset=\"{charset}\"><title>{title}</title>"
           "<link rel=\"canonical\" href=\"{url}\">{extra_head}</head><body>"
           "<nav><a href=\"/\">Home</a> <a href=\"/news\">News</a> <a href=\"/about\">About us</a></nav>"
           "<article><h1>{title}</h1>{paragraphs}</article>"
           "<footer>Subscribe to our newsletter. Copyright notice.</footer></body></html>")
PARAGRAPH = ("<p>On day {n} the river {word} rose slowly through the night while the town council met to decide how "
             "the old bridge should be repaired before the spring floods arrived in the valley.</p>")


def article(title: str, url: str, *, lang: str = "en", charset: str = "utf-8", word: str = "Elbe",
            extra_head: str = "", paragraphs: int = 4) -> str:
    """A small page: navigation, an article of a few paragraphs (each different: Trafilatura drops
    repeated ones), a footer."""
    return ARTICLE.format(lang=lang, charset=charset, title=title, url=url, extra_head=extra_head,
                          paragraphs="".join(PARAGRAPH.format(n=n, word=word) for n in range(1, paragraphs + 1)))


class Warc:
    """Records appended to one WARC (gzip members or plain), written with warcio."""

    def __init__(self, gzip: bool = True, software: str = "thresher-tests/1.0", robots: str = "obey"):
        self.buf = io.BytesIO()
        self.w = WARCWriter(self.buf, gzip=gzip)
        self.w.write_record(self.w.create_warcinfo_record("test.warc", {"software": software, "robots": robots}))

    def response(self, url: str, body: bytes, status: str = "200 OK", content_type: str = "text/html; charset=utf-8",
                 date: str = "2025-03-01T10:00:00Z", headers: list[tuple[str, str]] = ()) -> None:
        http = StatusAndHeaders(status, [("Content-Type", content_type), *headers], protocol="HTTP/1.1")
        self.w.write_record(self.w.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http,
                                                      warc_headers_dict={"WARC-Date": date}))

    def request(self, url: str) -> None:
        http = StatusAndHeaders("GET / HTTP/1.1", [("Host", "example.org")], is_http_request=True)
        self.w.write_record(self.w.create_warc_record(url, "request", payload=io.BytesIO(b""), http_headers=http))

    def revisit(self, url: str) -> None:
        self.w.write_record(self.w.create_revisit_record(url, "sha1:AAAA", url, "2025-02-01T00:00:00Z"))

    def conversion(self, url: str, text: str) -> None:
        """A WET-style record: text already extracted."""
        self.w.write_record(self.w.create_warc_record(url, "conversion", payload=io.BytesIO(text.encode()),
                                                      warc_content_type="text/plain"))

    def bytes(self) -> bytes:
        return self.buf.getvalue()

    def save(self, path: Path, cut: int = 0) -> Path:
        """Write the file; ``cut`` bytes off the end make a truncated last record."""
        data = self.bytes()
        path.write_bytes(data[:len(data) - cut] if cut else data)
        return path
