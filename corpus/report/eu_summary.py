"""A draft of the AI Office's "Public Summary of Training Content" (AI Act Art. 53(1)(d)) for one corpus run.

The three sections carry the template's names. What the run knows (sizes, languages, sources, domains,
processing and PII handling) is filled in from its ledger and manifest; what it cannot know (provider,
model, crawler behaviour, licensing deals, opt-out handling at collection time) is marked for the
provider to complete, never guessed.
"""

from __future__ import annotations

from typing import Any

from corpus.report.blocks import fmt_int, fmt_pct
from corpus.report.facts import PII_STAGE_PREFIXES
from corpus.report.markdown import table
from corpus.report.outline import PSEUDONYMISATION
from corpus.report.rights import summary_lines as rights_lines

HUMAN = "**[TO BE COMPLETED BY THE PROVIDER: {}]**"
URL_STAGES = ("url_filter",)
# The template's size bands for text, in tokens.
TEXT_BANDS = ((1_000_000_000, "Less than 1 billion tokens"), (10_000_000_000_000, "1 billion to 10 trillion tokens"))
TEXT_BAND_TOP = "More than 10 trillion tokens"


def human(what: str) -> str:
    return HUMAN.format(what)


def size_band(tokens: int | None) -> str:
    if tokens is None:
        return human("the corpus was not tokenized, so the token-count band is unknown; tokenize it "
                     "(thresher tokenize RUN_DIR) or state the band")
    return next((label for limit, label in TEXT_BANDS if tokens < limit), TEXT_BAND_TOP) + \
        f" ({fmt_int(tokens)} tokens in this corpus run)"


def _languages(f: dict[str, Any]) -> str:
    lang = f["languages"]
    if not lang["measured"]:
        return human("languages were not measured in this run (no `language` stage)")
    rows = lang["rows"]
    shown = ", ".join(f'{r["language"]} ({fmt_pct(r["share_characters"])})' for r in rows[:15])
    more = f", and {len(rows) - 15} more (see report.html)" if len(rows) > 15 else ""
    return f"{shown}{more}; shares of characters, by metadata.language of the kept documents."


def stage_counts(f: dict[str, Any], names: tuple[str, ...] = ("",)) -> list[str]:
    """One line per stage whose name starts with one of ``names``: documents checked, removed or flagged."""
    out = []
    for r in f["waterfall"]["stages"]:
        if r["stage"].startswith(names):
            what = ", ".join(f"{k}={fmt_int(v)}" for k, v in {**r["removed"], **r["flagged"]}.items()) or "none"
            out.append(f'`{r["label"]}` ({r["mode"]}): {fmt_int(r["documents_in"])} documents checked; '
                       f"removed or flagged: {what}")
    return out


def general(f: dict[str, Any]) -> list[str]:
    o = f["overview"]
    latest = f.get("latest_document_date")
    acquired = (f"{latest} is the latest date found in document metadata; "
                + human("confirm the latest date of data acquisition") if latest else
                human(f"latest date of data acquisition (no later than the corpus build, {o['finished']})"))
    return [
        "## 1. General information",
        "### 1.1 Provider identification",
        f"- Provider name and contact details: {human('provider name and contact details')}",
        f"- Authorised representative name and contact details: {human('if the provider is established outside the EU')}",
        "### 1.2 Model identification",
        f"- Versioned model name(s): {human('model name and version trained on this corpus')}",
        f"- Model dependencies: {human('base model and a link to its summary, if this is a fine-tune')}",
        f"- Date of placement of the model on the Union market: {human('date')}",
        "### 1.3 Modalities, overall training data size and other characteristics",
        "- Modality: text (this corpus run contains text only).",
        f"- Training data size (text): {size_band(o['tokens'])}",
        f"- Types of content: {human('e.g. web pages, books, code, public-sector documents')}",
        f"- Approximate size in alternative units: {fmt_int(o['documents_kept'])} documents, "
        f"{fmt_int(o['characters_kept'])} characters, {fmt_int(o['output_bytes'])} bytes of compressed shards.",
        f"- Latest date of data acquisition/collection for model training: {acquired}",
        f"- Description of the linguistic characteristics of the overall training data: {_languages(f)}",
        f"- Other relevant characteristics: {human('optional')}",
    ]


def sources(f: dict[str, Any]) -> list[str]:
    o, d = f["overview"], f["domains"]
    inputs = table(["input", "format", "bytes", "sha256"],
                   [[i["path"], i["format"], fmt_int(i.get("size")), i.get("sha256") or "-"] for i in o["inputs"]], {2})
    kept = table(["source", "documents kept", "% of characters"],
                 [[r["source"], fmt_int(r["documents"]), fmt_pct(r["share_characters"])] for r in f["sources"]["rows"]],
                 {1, 2})
    hub = [i["path"] for i in o["inputs"] if i["format"] == "hf"]
    lines = [
        "## 2. List of data sources",
        "The inputs of this corpus run, as recorded (with hashes) in its manifest:",
        inputs, "Their share of the kept content:", kept,
        f"Each input must be assigned to one of the categories below: {human('category of each input above')}",
        "### 2.1 Publicly available datasets",
        ("- Datasets read from the Hugging Face Hub or saved datasets: " + ", ".join(f"`{h}`" for h in hub)
         if hub else "- No input was read from a dataset hub."),
        f"- Publicly available datasets among the inputs, large ones (more than 3% of the public data of "
        f"this modality) named individually: {human('names and links')}",
        "### 2.2 Private non-publicly available datasets obtained from third parties",
        f"- 2.2.1 Datasets commercially licensed by rightsholders or their representatives: {human('yes/no, description')}",
        f"- 2.2.2 Private datasets obtained from other third parties: {human('yes/no, description')}",
        "### 2.3 Data crawled and scraped from online sources",
        *crawled(f["crawl"]),
    ]
    if d["measured"]:
        top = d["rows"][: d["top_10_percent_count"]]
        lines += [
            f"- {fmt_int(d['documents_with_url'])} kept documents carry a URL, from "
            f"{fmt_int(d['distinct_registered_domains'])} registered domains (eTLD+1). The top 10% of domains "
            f"by size of content ({len(top)}), with their share of the characters of documents with a URL:",
            table(["registered domain", "documents", "% of characters"],
                  [[r["domain"], fmt_int(r["documents"]), fmt_pct(r["share_characters"])] for r in top], {1, 2}),
        ]
    else:
        lines.append(f"- No kept document carries a URL (metadata.url), so domains were not measured in this run: "
                     f"{human('list the most relevant domains if crawled data was used')}")
    lines += [
        "### 2.4 User data",
        f"- Data from user interactions with the model or the provider's other services: {human('yes/no, description')}",
        "### 2.5 Synthetic data",
        f"- AI-generated data and the models used to generate it: {human('yes/no, models')}",
        "### 2.6 Other sources of data",
        f"- {human('other sources, if any')}",
    ]
    return lines


def crawled(c: dict[str, Any]) -> list[str]:
    """2.3's crawler and period lines: from the WARC input's warcinfo records and fetch dates when the
    run read a crawl, else for a person to fill in."""
    software = ", ".join(f"`{s}`" for s in c["software"])
    robots = ", ".join(f"`{r}`" for r in c["robots"])
    crawler = (f"the WARC files' warcinfo names the crawler software {software}"
               + (f" and the robots policy {robots}" if robots else "") + "; "
               + human("purposes and behaviour (robots.txt, paywalls, log-ins)")) if software else human("crawler details")
    period = (f"{c['first_fetch']} to {c['last_fetch']} (first and last fetch date, WARC-Date, of the kept "
              "documents)" if c["first_fetch"] else human("start and end dates of crawling"))
    return [f"- Crawler name(s), purposes and behaviour (robots.txt, paywalls, log-ins): {crawler}",
            f"- Period of data collection: {period}",
            f"- Type of content and online sources crawled: {human('description')}"]


def processing(f: dict[str, Any]) -> list[str]:
    p = f["pii"]
    url = stage_counts(f, URL_STAGES)
    lines = [
        "## 3. Data processing aspects",
        "### 3.1 Respect of reservation of rights from text and data mining exception or limitation",
        *(rights_lines(f["rights"]) if f["rights"]["measured"] else
          ["- This corpus run applied no `rights` stage (robots.txt AI agents, TDMRep, noai, opt-out lists)."]),
        ("- URL filtering in this run (blocklists can carry opted-out domains): " + "; ".join(url) if url else
         "- This corpus run applied no URL filter; it cannot see whether rights were reserved at collection time."),
        f"- Measures to respect machine-readable reservations of rights (robots.txt and other protocols) "
        f"when the data was collected, and the copyright policy: {human('description')}",
        "### 3.2 Removal of illegal content",
        f"- Measures taken to avoid or remove illegal content: {human('description')}",
        "- Filtering this run applied (documents checked; removed or flagged per reason):",
        *[f"  - {s}" for s in stage_counts(f)],
        "### 3.3 Other information",
        "Personal data:",
    ]
    if p["findings"]:
        lines.append(table(["entity type", "action", "findings", "per 1,000 documents"],
                           [[x["entity"], x["action"], fmt_int(x["count"]), x["per_1000_documents"]]
                            for x in p["findings"]], {2, 3}))
    pii_stages = stage_counts(f, PII_STAGE_PREFIXES)
    lines.append("- PII detection and handling in this run: " + ("; ".join(pii_stages) if pii_stages else
                 "none (no PII stage ran); " + human("describe any other personal-data measures")))
    lines += [f"- {PSEUDONYMISATION}",
              f"- Corpus identity: Merkle root {f['lineage']['merkle_root']} over the data shards; "
              f"manifest sha256 {f['lineage']['manifest_sha256']}; `thresher verify` recomputes both."]
    return lines


def render(f: dict[str, Any]) -> str:
    o = f["overview"]
    head = [
        "# Public Summary of Training Content (draft)",
        f"Draft generated by Thresher {o['thresher_version']} from corpus run `{o['name']}` (built {o['finished']}), "
        "following the structure of the AI Office's template for the public summary of training content of "
        "general-purpose AI models (AI Act, Article 53(1)(d)). It covers the content of this corpus run only; "
        "training data from elsewhere must be added. Every field marked "
        + HUMAN.format("...") + " needs the provider's input before publication.",
    ]
    return join_markdown(head + general(f) + sources(f) + processing(f))


def join_markdown(lines: list[str]) -> str:
    """Paragraphs apart by a blank line; consecutive list items kept together as one list."""
    out = lines[:1]
    for prev, line in zip(lines, lines[1:], strict=False):
        item = line.lstrip().startswith("- ")
        out.append(("\n" if item and prev.lstrip().startswith("- ") else "\n\n") + line)
    return "".join(out) + "\n"
