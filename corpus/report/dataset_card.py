"""A Hugging Face dataset card (``README.md`` of a dataset repository) for one corpus run.

The YAML header follows the Hub's metadata keys (language, license, size_categories, source_datasets),
so the card can be uploaded as it is; the prose sections are filled from the run where it knows and
left for a human where it cannot know (curation rationale, producers, citation).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from corpus import keys
from corpus.io.hf import PREFIX as HUB_PREFIX
from corpus.report.blocks import fmt_int, fmt_pct
from corpus.report.eu_summary import human, join_markdown
from corpus.report.markdown import table
from corpus.report.outline import PSEUDONYMISATION

LANG_CODE = re.compile(r"^[a-z]{2,3}$")
# The Hub's size categories: upper bounds in documents.
SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                   (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"),
                   (10_000_000_000, "1B<n<10B"), (100_000_000_000, "10B<n<100B"), (1_000_000_000_000, "100B<n<1T"))
# Licence identifiers the Hub knows; anything else is declared "other" and named in the card's text.
HUB_LICENCES = {"apache-2.0", "mit", "cc0-1.0", "cc-by-4.0", "cc-by-sa-4.0", "cc-by-nc-4.0", "cc-by-nc-sa-4.0",
                "cc-by-nd-4.0", "cc-by-3.0", "cc-by-sa-3.0", "odc-by", "odbl", "pddl", "gpl-3.0", "lgpl-3.0",
                "bsd-3-clause", "bsd-2-clause", "mpl-2.0", "openrail", "unlicense", "c-uda", "gfdl", "other", "unknown"}


LICENCE_LINK = "README.md#licensing-information"


def size_category(n: int) -> str:
    return next((label for limit, label in SIZE_CATEGORIES if n < limit), "n>1T")


def hub_licences(rows: list[dict[str, Any]]) -> list[str]:
    """Hub licence ids of the input's licence values; unknown ones collapse into "other"."""
    if not rows:
        return ["unknown"]
    ids = {r["licence"].strip().lower().replace(" ", "-") for r in rows}
    return sorted({i if i in HUB_LICENCES else "other" for i in ids})


def _other_licence(rows: list[dict[str, Any]]) -> dict[str, str]:
    """The Hub asks ``license_name`` (an id) and ``license_link`` beside ``license: other``: the id names the
    input's licence values the Hub does not know, the link points at this card's licence table."""
    others = sorted({re.sub(r"[^a-z0-9.-]+", "-", r["licence"].strip().lower()).strip("-") for r in rows}
                    - HUB_LICENCES)
    if not others:
        return {}
    return {"license_name": "-and-".join(others), "license_link": LICENCE_LINK}


def header(f: dict[str, Any]) -> dict[str, Any]:
    o = f["overview"]
    langs = [r["language"] for r in f["languages"]["rows"] if LANG_CODE.match(r["language"])]
    licences = hub_licences(f["licences"]["rows"])
    hub = [i["path"][len(HUB_PREFIX):] for i in o["inputs"] if i["format"] == "hf" and i["path"].startswith(HUB_PREFIX)]
    local = any(i["format"] != "hf" or not i["path"].startswith(HUB_PREFIX) for i in o["inputs"])
    return {
        "pretty_name": o["name"],
        "language": langs or ["unknown"],
        "license": licences[0] if len(licences) == 1 else licences,
        **_other_licence(f["licences"]["rows"]),
        "size_categories": [size_category(o["documents_kept"])],
        "source_datasets": [f"extended|{h}" for h in hub] + (["original"] if local else []),
        "task_categories": ["text-generation"],
        "tags": ["thresher", "pretraining"],
    }


def _structure(f: dict[str, Any]) -> list[str]:
    keys = ", ".join(f"`{k}` ({fmt_int(n)})" for k, n in f["metadata_keys"].items()) or "none"
    shards = table(["file", "bytes", "documents", "sha256"],
                   [[o["path"], fmt_int(o["size"]), fmt_int(o["docs"]), o["sha256"]] for o in f["lineage"]["outputs"]],
                   {1, 2})
    return ["## Dataset Structure",
            "One JSON object per document: `id` (string), `text` (string), `source` (the input it came from) and "
            "`metadata` (the input's other fields and the pipeline's annotations).",
            f"Metadata fields present (documents carrying each): {keys}.",
            shards,
            "`croissant.json` beside this card describes the same files in MLCommons Croissant."]


def _creation(f: dict[str, Any]) -> list[str]:
    w = f["waterfall"]
    steps = table(["stage", "mode", "documents in", "removed", "reasons"],
                  [[r["label"], r["mode"], fmt_int(r["documents_in"]), fmt_int(r["documents_removed"]),
                    ", ".join(f"{k}={fmt_int(v)}" for k, v in {**r["removed"], **r["flagged"]}.items()) or "-"]
                   for r in w["stages"]], {2, 3})
    return ["## Dataset Creation",
            "### Curation Rationale", human("why this dataset was built and what it is for"),
            "### Source Data",
            "#### Data Collection and Processing",
            f"Built with Thresher {f['overview']['thresher_version']} from {len(f['overview']['inputs'])} input(s): "
            f"{fmt_int(w['records_read'])} records read, {fmt_int(w['quarantined'])} unreadable, "
            f"{fmt_int(w['documents_kept'])} documents kept"
            + (f" ({fmt_int(w['documents_forgotten'])} forgotten since by `thresher forget`)"
               if w.get("documents_forgotten") else "") + ". Processing steps in order:",
            steps,
            "#### Who are the source data producers?", human("who wrote or produced the source texts"),
            "### Annotations",
            "#### Annotation process",
            "The pipeline's stages add machine annotations to `metadata` (language and its score, quality "
            "scores, duplicate-cluster sizes, PII counts, flags); the keys present are listed under Dataset "
            "Structure. No human annotation is made by the pipeline.",
            "#### Who are the annotators?",
            f"Automatic: the Thresher {f['overview']['thresher_version']} stages listed above.",
            *_personal(f)]


def _personal(f: dict[str, Any]) -> list[str]:
    p = f["pii"]
    lines = ["#### Personal and Sensitive Information"]
    if p["findings"]:
        lines += ["Personal data detected and handled by the pipeline (counts only):",
                  table(["entity type", "action", "findings", "per 1,000 documents"],
                        [[x["entity"], x["action"], fmt_int(x["count"]), x["per_1000_documents"]]
                         for x in p["findings"]], {2, 3})]
    if p["kept_findings"]:
        lines.append(f"{fmt_int(p['kept_documents_with_findings'])} of {fmt_int(p['kept_documents'])} kept documents "
                     f"carry PII findings in `metadata.{keys.PII}` (counts per entity type, never values).")
    if not p["measured"]:
        lines.append("No PII detection ran in this pipeline: the dataset may contain personal data that was "
                     "neither found nor handled.")
    lines.append(PSEUDONYMISATION)
    return lines


def _bias(f: dict[str, Any]) -> list[str]:
    lang = f["languages"]
    skew = (f'The largest language, {lang["rows"][0]["language"]}, holds {fmt_pct(lang["rows"][0]["share_characters"])} '
            "of the characters." if lang["measured"] and lang["rows"] else "Languages were not measured.")
    return ["## Bias, Risks, and Limitations", skew, human("known biases, risks and limitations"),
            "### Recommendations",
            "Users should know the corpus's risks and limitations above; documents flagged (not removed) by a "
            "stage are listed in the processing steps. " + human("further recommendations")]


def _licensing(f: dict[str, Any]) -> list[str]:
    lic = f["licences"]
    if not lic["measured"]:
        return ["## Licensing Information", "The input carries no licence field. " + human("licence of the data")]
    return ["## Licensing Information", "Licences as given in the input records:",
            table(["licence", "documents", "% of characters"],
                  [[r["licence"], fmt_int(r["documents"]), fmt_pct(r["share_characters"])] for r in lic["rows"]],
                  {1, 2}),
            f"{fmt_int(lic['documents_without_licence'])} documents carry no licence field."]


def render(f: dict[str, Any]) -> str:
    o, ln = f["overview"], f["lineage"]
    langs = ", ".join(f'{r["language"]} ({fmt_pct(r["share_characters"])})' for r in f["languages"]["rows"][:10])
    inputs = [f'- {i["path"]} ({i["format"]}, sha256 {i.get("sha256") or "not hashed"})' for i in o["inputs"]]
    parts = [
        "---\n" + yaml.safe_dump(header(f), sort_keys=False) + "---",
        f"# Dataset Card for {o['name']}",
        "## Dataset Details",
        "### Dataset Description",
        human("a short summary of the dataset"),
        f"- Curated by: {human('people or organisation')}",
        f"- Languages: {langs or 'not measured'}",
        f"- Size: {fmt_int(o['documents_kept'])} documents, {fmt_int(o['characters_kept'])} characters"
        + (f", {fmt_int(o['tokens'])} tokens" if o["tokens"] is not None else ""),
        "- License: see Licensing Information below",
        "### Dataset Sources",
        f"- Repository: {human('where the dataset is published')}",
        "- Inputs the run read:", *inputs,
        "## Uses",
        "### Direct Use", "Language-model pretraining and evaluation on the kept documents. " + human("intended uses"),
        "### Out-of-Scope Use", human("uses the dataset is not suited for"),
        *_structure(f), *_creation(f), *_bias(f), *_licensing(f),
        "## Citation", human("how to cite this dataset"),
        "## Glossary", "Merkle root: one hash over every data shard's path and sha256; it identifies the corpus.",
        "## More Information",
        f"Merkle root of the data shards: `{ln['merkle_root']}`; manifest sha256 `{ln['manifest_sha256']}`; "
        f"config sha256 `{ln['config_sha256']}`. `thresher verify RUN_DIR` recomputes every hash.",
        "## Dataset Card Authors", human("who wrote this card"),
        "## Dataset Card Contact", human("how to reach the dataset's maintainers"),
    ]
    return join_markdown(parts)
