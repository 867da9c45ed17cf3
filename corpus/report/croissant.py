"""MLCommons Croissant 1.0 JSON-LD for one corpus run, with the Responsible-AI (RAI 1.0) fields.

Each data shard is a ``cr:FileObject`` with its sha256 and size from the manifest, so the metadata
pins the exact bytes; the ``documents`` record set names the four fields every shard row has. The RAI
fields describe collection, preprocessing (the stages with their counts) and personal data.
"""

from __future__ import annotations

from typing import Any

from corpus.report.blocks import fmt_int
from corpus.report.dataset_card import hub_licences
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
FIELDS = (("id", "sc:Text", "Document id, unique in the corpus."),
          ("text", "sc:Text", "Document text."),
          ("source", "sc:Text", "The input file or dataset the document came from."),
          ("metadata", "sc:Text", "JSON object: the input's other fields and the pipeline's annotations."))


def _encoding(path: str) -> str:
    return next((mime for ext, mime in ENCODINGS.items() if path.endswith(ext)), "application/octet-stream")


def _distribution(outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    files = [{"@type": "cr:FileObject", "@id": o["path"], "name": o["path"], "contentUrl": o["path"],
              "contentSize": f'{o["size"]} B', "encodingFormat": _encoding(o["path"]), "sha256": o["sha256"],
              "description": f'{o["docs"]} documents' + (", zstd-compressed JSON Lines"
                                                          if o["path"].endswith(".jsonl.zst") else "")}
             for o in outputs]
    exts = sorted({"*." + o["path"].split("/")[-1].split(".", 1)[1] for o in outputs}) or ["*.jsonl.zst"]
    files.append({"@type": "cr:FileSet", "@id": "data-shards", "name": "data-shards",
                  "description": "Every data shard of the corpus (the FileObjects above).",
                  "encodingFormat": _encoding(exts[0][1:]), "includes": [f"data/{e}" for e in exts]})
    return files


def _record_set() -> dict[str, Any]:
    return {"@type": "cr:RecordSet", "@id": "documents", "name": "documents", "key": {"@id": "documents/id"},
            "field": [{"@type": "cr:Field", "@id": f"documents/{name}", "name": name, "dataType": dtype,
                       "description": desc, "source": {"fileSet": {"@id": "data-shards"}, "extract": {"column": name}}}
                      for name, dtype, desc in FIELDS]}


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


def render(f: dict[str, Any]) -> dict[str, Any]:
    o, ln, w = f["overview"], f["lineage"], f["waterfall"]
    licences = hub_licences(f["licences"]["rows"])
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
        "dateCreated": o["finished"],
        "license": licences[0] if len(licences) == 1 else licences,
        "keywords": ["thresher", "language model pretraining"],
        "isLiveDataset": False,
        "distribution": _distribution(ln["outputs"]),
        "recordSet": [_record_set()],
        "rai:dataCollection": (f"Built from {len(o['inputs'])} input(s): {inputs}. {fmt_int(w['records_read'])} records "
                               f"read, {fmt_int(w['quarantined'])} unreadable and quarantined. How the inputs were "
                               "originally collected is not recorded by the pipeline."),
        "rai:dataPreprocessingProtocol": stage_counts(f),
        "rai:personalSensitiveInformation": _personal(f),
    }
    if langs:
        doc["inLanguage"] = langs
    return doc
