"""A draft of the AI Office's "Public Summary of Training Content" (AI Act Art. 53(1)(d)) for one corpus run.

It follows the template annexed to the Commission's Explanatory Notice C(2025) 5235 final of 24 July 2025
(`TEMPLATE`): the three sections carry the template's names and every question of sections 1 to 3 is
asked in the template's words (`QUESTIONS`, one owner for the wording), including its "Additional
comments (optional)" fields. The template itself was not read: the wording was checked (November 2026)
against two published summaries that reproduce the July template's questions word for word, Swiss AI's
Apertus and Hugging Face's SmolLM3 (they agree on every question both show, including 2.3's "on behalf
of?", kept as printed), and against quotations of the notice's footnote on crawled domains; questions
neither source shows are kept as first written, from the template's structure. The Commission re-issued
the notice and template as Communication C(2025) 8311 final of 5 December 2025; this draft has not been
checked against that text. What the run knows (sizes, languages, sources, domains, processing and PII
handling) is filled in from its ledger and manifest; what it cannot know (provider, model, crawler
behaviour, licensing deals, opt-out handling at collection time) is marked for the provider to complete,
never guessed.
"""

from __future__ import annotations

from typing import Any

from corpus import keys
from corpus.report.blocks import fmt_int, fmt_pct
from corpus.report.markdown import table
from corpus.report.outline import PSEUDONYMISATION
from corpus.report.rights import summary_lines as rights_lines

HUMAN = "**[TO BE COMPLETED BY THE PROVIDER: {}]**"
TEMPLATE = ("Template for the Public Summary of Training Content for general-purpose AI models, annexed to "
            "Commission Explanatory Notice C(2025) 5235 final of 24 July 2025")
# Stage categories that remove or flag content as illegal or harmful (blocklists); quality and dedup are not.
ILLEGAL_CONTENT = (keys.SAFETY,)
# The template's size bands for text, in tokens.
TEXT_BANDS = ((1_000_000_000, "Less than 1 billion tokens"), (10_000_000_000_000, "1 billion to 10 trillion tokens"))
TEXT_BAND_TOP = "More than 10 trillion tokens"
MODALITY = "Text (this corpus run holds text only)"
IF_YES = "Text, if yes (this corpus run holds text only)"
COMMENTS = "Additional comments (optional):"  # closes 1.3, 2.1, 2.2.2, 2.3 to 2.6 and 3.1
# Every question of the template's sections 1 to 3, by section, in its words (C(2025) 5235, Annex).
QUESTIONS: dict[str, dict[str, str]] = {
    "1.1": {"provider": "Provider name and contact details:",
            "representative": "Authorised representative name and contact details:"},
    "1.2": {"model": "Versioned model name(s):", "dependencies": "Model dependencies:",
            "placement": "Date of placement of the model on the Union market:"},
    "1.3": {"modality": "Modality:", "size": "Training data size:", "types": "Types of content:",
            "latest": "Latest date of data acquisition/collection for model training:",
            "linguistic": "Description of the linguistic characteristics of the overall training data:",
            "other": "Other relevant characteristics of the overall training data:",
            "comments": COMMENTS},
    "2.1": {"used": "Have you used publicly available datasets to train the model?",
            "modality": "If yes, specify the modality(ies) of the content covered by the datasets concerned:",
            "large": "List of large publicly available datasets:",
            "others": "General description of other publicly available datasets not listed above:",
            "comments": COMMENTS},
    "2.2.1": {"used": "Have you concluded transactional commercial licensing agreement(s) with rightsholder(s) "
                      "or with their representatives?",
              "modality": "If yes, modality(ies) of the content covered by the licensed datasets:",
              "description": "Description of the licensed datasets (optional):"},
    "2.2.2": {"used": "Have you obtained private datasets from third parties that are not licensed as described "
                      "in Section 2.2.1, such as data obtained from providers of private databases, or data "
                      "intermediaries?",
              "modality": "If yes, modality(ies) of the content covered by the private datasets:",
              "known": "List of publicly known private datasets obtained:",
              "description": "General description of non-publicly known private datasets obtained:",
              "comments": COMMENTS},
    "2.3": {"used": "Were crawlers used by the provider or on behalf of?",
            "name": "If yes, crawler name(s)/identifier(s):", "purpose": "Purposes of the crawler(s):",
            "behaviour": "General description of crawler behaviour (robots.txt, paywalls, log-ins):",
            "period": "Period of data collection:",
            "content": "Comprehensive description of the type of content and online sources crawled:",
            "modality": "Modality(ies) of the content crawled:",
            "domains": "Summary of the most relevant domain names crawled:", "comments": COMMENTS},
    "2.4": {"model": "Was data from user interactions with the AI model (e.g. user input and prompts) used to "
                     "train the model?",
            "services": "Was data collected from user interactions with the provider's other services or products "
                        "used to train the model?",
            "modality": "If yes, modality(ies) of the user data:",
            "description": "Description of the provider's services or products used to collect user data:",
            "comments": COMMENTS},
    "2.5": {"used": "Was synthetic AI-generated data created by the provider or on their behalf to train the model?",
            "modality": "If yes, modality(ies) of the synthetic data:",
            "models": "Name(s) of the AI model(s) used to generate the synthetic data, if available on the market:",
            "description": "General description of the synthetic data:", "comments": COMMENTS},
    "2.6": {"used": "Have data sources other than those described in Sections 2.1 to 2.5 been used to train the "
                    "model?",
            "description": "If yes, description of those data sources:", "comments": COMMENTS},
    "3.1": {"signatory": "Are you a Signatory to the Code of Practice for general-purpose AI models that includes "
                         "commitments to respect reservations of rights from the TDM exception or limitation?",
            "measures": "Describe the measures implemented before model training to respect reservations of "
                        "rights from the TDM exception or limitation before and during data collection, including "
                        "the opt-out protocols and solutions honoured by the provider or, as applicable, by third "
                        "parties from which datasets have been obtained:",
            "comments": COMMENTS},
    "3.2": {"measures": "General description of measures taken:"},
    "3.3": {"other": "Other relevant information about data processing (optional):"},
}


def ask(section: str, key: str, answer: str = "") -> str:
    """A list item: the template's question, then the answer (none for an optional field the run has
    nothing to add to, which the provider may fill in)."""
    return f"- {QUESTIONS[section][key]} {answer}".rstrip()


def yes_no(what: str) -> str:
    return human(f"Yes/No; {what}")


def _provider(section: str, *hints: str) -> list[str]:
    """A section only the provider can answer: each question in order, with a hint each (the modality line
    and the optional comments need none); questions ending in "?" are asked as Yes/No."""
    todo = iter(hints)
    return [ask(section, key, IF_YES if key == "modality" else "" if key == "comments" else
                yes_no(next(todo)) if q.endswith("?") else human(next(todo)))
            for key, q in QUESTIONS[section].items()]


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


def stage_counts(f: dict[str, Any], categories: tuple[str, ...] | None = None) -> list[str]:
    """One line per stage (of ``categories``, else every one): documents checked, removed or flagged. Stages
    are chosen by what they do (`corpus.keys` categories), never by name: a ``url_filter`` labelled
    ``blocklist`` is still the run's illegal-content filter."""
    out = []
    for r in f["waterfall"]["stages"]:
        if categories is None or r["category"] in categories:
            what = ", ".join(f"{k}={fmt_int(v)}" for k, v in {**r["removed"], **r["flagged"]}.items()) or "none"
            out.append(f'`{r["label"]}` ({r["mode"]}): {fmt_int(r["documents_in"])} documents checked; '
                       f"removed or flagged: {what}")
    return out


def acquisition_date(f: dict[str, Any]) -> str:
    """When the data was collected: the crawl's last fetch date (WARC-Date) when the run read a crawl, else
    the provider's to state; dates inside documents (when a text was written) say nothing about it."""
    last = f["crawl"]["last_fetch"]
    if last:
        return (f"{last[:7]} (the latest fetch date, WARC-Date, of the crawled documents of this run); "
                + human("the latest acquisition date of the other inputs, if later"))
    return human(f"MM/YYYY; this run records no collection date of its inputs (built {f['overview']['finished']})")


def general(f: dict[str, Any]) -> list[str]:
    o = f["overview"]
    return [
        "## 1. General information",
        "### 1.1 Provider identification",
        ask("1.1", "provider", human("provider name and contact details")),
        ask("1.1", "representative", human("if the provider is established outside the EU")),
        "### 1.2 Model identification",
        ask("1.2", "model", human("model name and version trained on this corpus")),
        ask("1.2", "dependencies", human("base model and a link to its summary, if this is a fine-tune")),
        ask("1.2", "placement", human("MM/YYYY")),
        "### 1.3 Modalities, overall training data size and other characteristics",
        ask("1.3", "modality", MODALITY),
        ask("1.3", "size", "Text: " + size_band(o["tokens"])),
        ask("1.3", "types", human("e.g. web pages, books, code, public-sector documents")),
        f"- Approximate size in alternative units: {fmt_int(o['documents_kept'])} documents, "
        f"{fmt_int(o['characters_kept'])} characters, {fmt_int(o['output_bytes'])} bytes of compressed shards.",
        ask("1.3", "latest", acquisition_date(f)),
        ask("1.3", "linguistic", _languages(f)),
        ask("1.3", "other", human("optional")),
        ask("1.3", "comments"),
    ]


def sources(f: dict[str, Any]) -> list[str]:
    o = f["overview"]
    inputs = table(["input", "format", "bytes", "sha256"],
                   [[i["path"], i["format"], fmt_int(i.get("size")), i.get("sha256") or "-"] for i in o["inputs"]], {2})
    kept = table(["source", "documents kept", "% of characters"],
                 [[r["source"], fmt_int(r["documents"]), fmt_pct(r["share_characters"])] for r in f["sources"]["rows"]],
                 {1, 2})
    hub = [i["path"] for i in o["inputs"] if i["format"] == "hf"]
    return [
        "## 2. List of data sources",
        "The inputs of this corpus run, as recorded (with hashes) in its manifest:",
        inputs, "Their share of the kept content:", kept,
        f"Each input must be assigned to one of the categories below: {human('category of each input above')}",
        "### 2.1 Publicly available datasets",
        ask("2.1", "used", "Yes: read from the Hugging Face Hub: " + ", ".join(f"`{h}`" for h in hub)
            if hub else yes_no("no input was read from a dataset hub; say whether any input is a public dataset")),
        ask("2.1", "modality", IF_YES),
        ask("2.1", "large", human("names and links of each publicly available dataset that makes up more than 3% "
                                  "of all publicly available datasets used for its modality")),
        ask("2.1", "others", human("description")),
        ask("2.1", "comments"),
        "### 2.2 Private non-publicly available datasets obtained from third parties",
        "#### 2.2.1 Datasets commercially licensed by rightsholders or their representatives",
        *_provider("2.2.1", "licensing agreements", "optional"),
        "#### 2.2.2 Private datasets obtained from other third parties",
        *_provider("2.2.2", "private datasets from third parties", "names", "description"),
        "### 2.3 Data crawled and scraped from online sources",
        *crawled(f["crawl"], f["scraped_domains"]),
        "### 2.4 User data",
        *_provider("2.4", "prompts and other user input to the model",
                   "data from the provider's other services or products", "services or products"),
        "### 2.5 Synthetic data",
        *_provider("2.5", "AI-generated training data", "models", "description"),
        "### 2.6 Other sources of data",
        *_provider("2.6", "any source not covered by 2.1 to 2.5", "description"),
    ]


def crawled(c: dict[str, Any], d: dict[str, Any]) -> list[str]:
    """2.3: the crawler and period from the WARC input's warcinfo records and fetch dates when the run read
    a crawl, and the domains of the crawled documents by size of the content scraped (kept or removed)."""
    software = ", ".join(f"`{s}`" for s in c["software"])
    robots = ", ".join(f"`{r}`" for r in c["robots"])
    period = (f"{c['first_fetch']} to {c['last_fetch']} (first and last fetch date, WARC-Date, of the kept "
              "documents)" if c["first_fetch"] else human("start and end dates of crawling"))
    lines = [
        ask("2.3", "used", "Yes: this run read WARC crawl output; " + human("confirm it was crawled by or for the "
                                                                             "provider") if c["measured"] else
            yes_no("this run read no WARC crawl output")),
        ask("2.3", "name", f"the WARC files' warcinfo names {software}" if software else human("crawler names")),
        ask("2.3", "purpose", human("purposes")),
        ask("2.3", "behaviour", (f"the warcinfo declares the robots policy {robots}; " if robots else "")
            + human("robots.txt, paywalls, log-ins")),
        ask("2.3", "period", period),
        ask("2.3", "content", human("description")),
        ask("2.3", "modality", MODALITY),
    ]
    if not d["measured"]:
        return lines + [ask("2.3", "domains", "no document of this run was read from a crawl (none has a fetch "
                                              "date and a URL); " + human("the top domains if crawled data was used")),
                        ask("2.3", "comments")]
    rows = d["rows"]
    return lines + [
        ask("2.3", "domains",
            f"{fmt_int(d['documents'])} crawled documents ({fmt_int(d['characters'])} characters of extracted text "
            f"scraped, before filtering) from {fmt_int(d['distinct_registered_domains'])} registered domains "
            f"(eTLD+1). The top 10% of domains by size of content scraped ({len(rows)}); an SME lists the top "
            f"{fmt_int(d['sme_count'])} (5% or 1,000, whichever is lower):"),
        table(["registered domain", "documents", "characters scraped", "% of characters"],
              [[r["domain"], fmt_int(r["documents"]), fmt_int(r["characters"]), fmt_pct(r["share_characters"])]
               for r in rows], {1, 2, 3}),
        ask("2.3", "comments"),
    ]


def _pii_lines(f: dict[str, Any]) -> list[str]:
    """3.3's personal-data lines: per PII stage the findings by action and the documents holding them."""
    p = f["pii"]
    lines = []
    if p["findings"]:
        lines.append(table(["entity type", "action", "findings", "per 1,000 documents"],
                           [[x["entity"], x["action"], fmt_int(x["count"]), x["per_1000_documents"]]
                            for x in p["findings"]], {2, 3}))
    for r in f["waterfall"]["stages"]:
        if r["category"] != keys.PII_CATEGORY:
            continue
        mine = [x for x in p["findings"] if x["stage"] == r["label"]]
        actions: dict[str, int] = {}
        for x in mine:
            actions[x["action"]] = actions.get(x["action"], 0) + x["count"]
        docs = p["screening"].get(r["label"], {}).get("docs_with_pii")
        what = ", ".join(f"{fmt_int(n)} {a}" for a, n in sorted(actions.items())) or "no findings"
        lines.append(f"- PII handling by `{r['label']}`: {fmt_int(r['documents_in'])} documents checked; {what}"
                     + (f" in {fmt_int(docs)} documents" if docs is not None else "")
                     + (f"; {fmt_int(sum(r['removed'].values()))} documents removed" if r["removed"] else "") + ".")
    if len(lines) == (1 if p["findings"] else 0):
        lines.append("- PII detection and handling in this run: none (no PII stage ran); "
                     + human("describe any other personal-data measures"))
    return lines


def processing(f: dict[str, Any]) -> list[str]:
    url = stage_counts(f, ILLEGAL_CONTENT)
    return [
        "## 3. Data processing aspects",
        "### 3.1 Respect of reservation of rights from text and data mining exception or limitation",
        ask("3.1", "signatory", yes_no("Code of Practice signatory")),
        ask("3.1", "measures", "what this run applied is listed below; "
            + human("measures at collection time and the copyright policy")),
        *(rights_lines(f["rights"]) if f["rights"]["measured"] else
          ["- This corpus run applied no `rights` stage (robots.txt AI agents, TDMRep, noai, opt-out lists)."]),
        ("- URL filtering in this run (blocklists can carry opted-out domains): " + "; ".join(url) if url else
         "- This corpus run applied no URL filter; it cannot see whether rights were reserved at collection time."),
        ask("3.1", "comments"),
        "### 3.2 Removal of illegal content",
        ask("3.2", "measures", human("measures taken to avoid or remove illegal content before and during "
                                     "collection")),
        *([f"- Blocklist filtering in this run: {s}" for s in url] if url else
          ["- This run applied no blocklist, keyword list or classifier for illegal content (its quality and "
           "deduplication stages are listed in the report, not here)."]),
        "### 3.3 Other information",
        ask("3.3", "other", "personal data and corpus identity below."),
        *_pii_lines(f),
        f"- {PSEUDONYMISATION}",
        f"- Corpus identity: Merkle root {f['lineage']['merkle_root']} over the data shards; "
        f"manifest sha256 {f['lineage']['manifest_sha256']}; `thresher verify` recomputes both.",
    ]


def render(f: dict[str, Any]) -> str:
    o = f["overview"]
    head = [
        "# Public Summary of Training Content for General-Purpose AI models (draft)",
        f"- Version of the Summary: {human('version, e.g. 1.0')}",
        f"- Last update: {human('DD/MM/YYYY')} (this draft generated {f['generated'][:10]})",
        f"Draft generated by Thresher {o['thresher_version']} from corpus run `{o['name']}` (built {o['finished']}), "
        f"following the {TEMPLATE} (AI Act, Article 53(1)(d)). It covers the content of this corpus run only; "
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
