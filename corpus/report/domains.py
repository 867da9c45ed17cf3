"""Registered domains (eTLD+1) of document URLs, from tldextract's bundled Public Suffix List snapshot.

Offline by design: a report must not depend on the network, and must give the same answer twice. Hosts
with no public suffix (IP addresses, ``localhost``, malformed URLs) are grouped under one label so that
an IP address, which can be personal data, never appears in a report.
"""

from __future__ import annotations

from functools import lru_cache

import tldextract

NO_DOMAIN = "(no registered domain)"


@lru_cache(maxsize=1)
def _extractor() -> tldextract.TLDExtract:
    # suffix_list_urls=() never fetches; cache_dir=None never writes: the bundled snapshot is used.
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


def registered_domain(url: str) -> str:
    """``https://news.bbc.co.uk/x`` -> ``bbc.co.uk``; no public suffix -> `NO_DOMAIN`."""
    parts = _extractor()(url)
    domain = getattr(parts, "top_domain_under_public_suffix", None)
    if domain is None:  # tldextract < 5.3
        domain = parts.registered_domain
    return domain.lower() if domain else NO_DOMAIN
