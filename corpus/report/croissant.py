"""MLCommons Croissant 1.0 JSON-LD for one corpus run, with the Responsible-AI (RAI 1.0) fields.

Each data shard is a ``cr:FileObject`` with its sha256 and size from the manifest, so the metadata
pins the exact bytes; a ``documents-<shard>`` record set per shard names the four fields every row has. The RAI
fields describe collection, preprocessing (the stages with their counts) and personal data.

Paths are relative to the folder the JSON is written to (``report/`` inside the run, so ``../data/...``),
since that is where a Croissant reader resolves them. Parquet shards (``writer: {format: parquet}``)
hold ``metadata`` as JSON-encoded text and load with ``mlcroissant`` as they are, one record set per
shard (mlcroissant walks a ``cr:FileSet`` only below the JSON's folder, which ``data/`` is not).
mlcroissant reads no zstd, so ``.jsonl.zst`` shards are declared as what they are (with their sha256)
and, for loading, as the ``jsonl/*.jsonl`` file set beside the JSON: the same shards decompressed
there (`VIEWS`; ``zstd -d``), read as one ``documents`` record set. Its lines hold ``metadata`` as a JSON
object, which no Croissant 1.0 data type reads (mlcroissant casts ``sc:Text`` to bytes and fails on an
object), so that record set declares ``id``, ``text`` and ``source`` and its description names the rest.
"""

from __future__ import annotations

from typing import Any

from corpus.report.blocks import fmt_int
from corpus.report.eu_summary import stage_counts
from corpus.report.outline import PSEUDONYMISATION

CONTEXT = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "sc": "https://schema.org/",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "dct": "http://purl.org/dc/terms/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileObject": "cr:fileObject",
    "fileProperty": "cr:fileProperty",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}
CONFORMS_TO = ["http://mlcommons.org/croissant/1.0", "http://mlcommons.org/croissant/RAI/1.0"]
ENCODINGS = {".parquet": "application/x-parquet", ".jsonl.zst": "application/zstd"}
JSONL = ".jsonl.zst"
# Where the .jsonl.zst shards go decompressed for a Croissant reader: a folder beside croissant.json
# (below it, so a FileSet reaches it; outside data/, so verify does not count it as a shard).
VIEWS = "jsonl"
VIEW_SET = "jsonl-shards"
ZSTD_NOTE = (f"zstd-compressed JSON Lines, which mlcroissant cannot read: decompressed into {VIEWS}/ beside this "
             f"file (zstd -d <shard>.jsonl.zst -o {VIEWS}/<shard>.jsonl) they load as the record set 'documents'")
FIELDS = (("id", "sc:Text", "Document id, unique in the corpus."),
          ("text", "sc:Text", "Document text."),
          ("source", "sc:Text", "The input file or dataset the document came from."),
          ("metadata", "sc:Text", "JSON-encoded object: the input's other fields and the pipeline's annotations."))
# SPDX ids of the Hub licence ids (`dataset_card.HUB_LICENCES`) that have one; others are named as text.
SPDX = {"apache-2.0": "Apache-2.0", "mit": "MIT", "cc0-1.0": "CC0-1.0", "cc-by-4.0": "CC-BY-4.0",
        "cc-by-sa-4.0": "CC-BY-SA-4.0", "cc-by-nc-4.0": "CC-BY-NC-4.0", "cc-by-nc-sa-4.0": "CC-BY-NC-SA-4.0",
        "cc-by-nd-4.0": "CC-BY-ND-4.0", "cc-by-3.0": "CC-BY-3.0", "cc-by-sa-3.0": "CC-BY-SA-3.0",
        "odc-by": "ODC-By-1.0", "odbl": "ODbL-1.0", "pddl": "PDDL-1.0", "gpl-3.0": "GPL-3.0-only",
        "lgpl-3.0": "LGPL-3.0-only", "bsd-3-clause": "BSD-3-Clause", "bsd-2-clause": "BSD-2-Clause",
        "mpl-2.0": "MPL-2.0", "unlicense": "Unlicense"}
PROVIDER = "[TO BE COMPLETED BY THE PROVIDER]"


def _encoding(path: str) -> str:
    return next((mime for ext, mime in ENCODINGS.items() if path.endswith(ext)), "application/octet-stream")


def licence_urls(rows: list[dict[str, Any]]) -> list[str]:
    """SPDX licence URLs of the inputs' licence values where SPDX has the licence, the value itself otherwise."""
    out = set()
    for r in rows:
        value = r["licence"].strip()
        spdx = SPDX.get(value.lower().replace(" ", "-"))
        out.add(f"https://spdx.org/licenses/{spdx}.html" if spdx else value)
    return sorted(out) or ["unknown"]


def view_name(shard: str) -> str:
    """``jsonl/<shard>.jsonl``: where a ``.jsonl.zst`` shard goes decompressed, relative to the JSON's folder."""
    return f"{VIEWS}/{shard.rsplit('/', 1)[-1].removesuffix('.zst')}"


def _distribution(outputs: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    files: list[dict[str, Any]] = [
        {"@type": "cr:FileObject", "@id": o["path"], "name": o["path"], "contentUrl": f'{prefix}/{o["path"]}',
         "contentSize": f'{o["size"]} B', "encodingFormat": _encoding(o["path"]), "sha256": o["sha256"],
         "description": f'{o["docs"]} documents' + (f", {ZSTD_NOTE}" if o["path"].endswith(JSONL) else "")}
        for o in outputs]
    if any(o["path"].endswith(JSONL) for o in outputs):
        files.append({"@type": "cr:FileSet", "@id": VIEW_SET, "name": VIEW_SET, "encodingFormat": "application/jsonlines",
                      "includes": f"{VIEWS}/*.jsonl",
                      "description": f"The .jsonl.zst data shards decompressed, as {view_name('<shard>.jsonl.zst')} "
                                     "beside this file (same bytes as the shards once decompressed)."})
    return files


def _fields(rs: str, source: dict[str, Any], fields: tuple[tuple[str, str, str], ...] = FIELDS) -> list[dict[str, Any]]:
    return [{"@type": "cr:Field", "@id": f"{rs}/{name}", "name": name, "dataType": dtype, "description": desc,
             "source": {**source, "extract": {"column": name}}} for name, dtype, desc in fields]


def _record_sets(outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One ``documents-<shard>`` record set per Parquet shard (each read as its own FileObject), and one
    ``documents`` record set over the decompressed ``.jsonl.zst`` shards (`VIEW_SET`)."""
    sets = []
    for o in outputs:
        if o["path"].endswith(JSONL):
            continue
        rs = "documents-" + o["path"].split("/")[-1].split(".", 1)[0]
        sets.append({"@type": "cr:RecordSet", "@id": rs, "name": rs, "key": {"@id": f"{rs}/id"},
                     "description": f'The documents of {o["path"]}.',
                     "field": _fields(rs, {"fileObject": {"@id": o["path"]}})})
    if any(o["path"].endswith(JSONL) for o in outputs):
        sets.append({"@type": "cr:RecordSet", "@id": "documents", "name": "documents", "key": {"@id": "documents/id"},
                     "description": f"The documents of every .jsonl.zst data shard, read from {VIEWS}/. Each line "
                                    "also holds metadata: a JSON object of the input's other fields and the "
                                    "pipeline's annotations (not declared: Croissant has no type for an object).",
                     "field": _fields("documents", {"fileSet": {"@id": VIEW_SET}}, FIELDS[:3])})
    return sets


def _personal(f: dict[str, Any]) -> list[str]:
    p = f["pii"]
    out = [f'{x["entity"]} ({x["action"]}): {x["count"]} findings, {x["per_1000_documents"]} per 1,000 documents'
           for x in p["findings"]]
    if p["kept_findings"]:
        out.append(f'{p["kept_documents_with_findings"]} of {p["kept_documents"]} kept documents carry PII findings '
                   "(metadata.pii, counts only)")
    if not p["measured"]:
        out.append("No PII detection ran in this pipeline; the data may contain personal data.")
    out.append(PSEUDONYMISATION)
    return out


def render(f: dict[str, Any], run_prefix: str = "..") -> dict[str, Any]:
    """The Croissant document; ``run_prefix`` is the run folder relative to where the JSON is written."""
    o, ln, w = f["overview"], f["lineage"], f["waterfall"]
    licences = licence_urls(f["licences"]["rows"])
    langs = [r["language"] for r in f["languages"]["rows"]]
    inputs = ", ".join(f'{i["path"]} ({i["format"]}, sha256 {i.get("sha256") or "not hashed"})' for i in o["inputs"])
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": CONFORMS_TO,
        "name": o["name"],
        "description": (f'Corpus built with Thresher {o["thresher_version"]}: {o["documents_kept"]} documents, '
                        f'{o["characters_kept"]} characters. Merkle root of the data shards: {ln["merkle_root"]}.'),
        "identifier": f'merkle-sha256:{ln["merkle_root"]}',
        "url": PROVIDER,
        "creator": {"@type": "sc:Organization", "name": PROVIDER},
        "dateCreated": o["finished"],
        "datePublished": o["finished"],
        "license": licences[0] if len(licences) == 1 else licences,
        "keywords": ["thresher", "language model pretraining"],
        "isLiveDataset": False,
        "distribution": _distribution(ln["outputs"], run_prefix),
        "recordSet": _record_sets(ln["outputs"]),
        "rai:dataCollection": (f"Built from {len(o['inputs'])} input(s): {inputs}. {fmt_int(w['records_read'])} records "
                               f"read, {fmt_int(w['quarantined'])} unreadable and quarantined. How the inputs were "
                               "originally collected is not recorded by the pipeline."),
        "rai:dataPreprocessingProtocol": stage_counts(f),
        "rai:personalSensitiveInformation": _personal(f),
    }
    if langs:
        doc["inLanguage"] = langs
    return doc
