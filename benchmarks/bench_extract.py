"""Web extraction: ``thresher build`` (WARC reader -> ``extract``) against datatrove's WarcReader ->
Trafilatura(favour_precision) -> JsonlWriter, and each backend's quality on main-content snippets.

    .venv/bin/python benchmarks/bench_extract.py [--pages 120] [--rounds 1] [--json FILE] [--work DIR]
    .venv/bin/python benchmarks/bench_extract.py --warc pages.warc.gz --snippets snippets.jsonl --rounds 3

Without ``--warc`` the pages are generated (fixed seed) from the bundled speeches: an article of
paragraphs between navigation, teasers and a footer, written as a gzip WARC with warcio; the
snippets are sentences of the article (``with``) and of the boilerplate (``without``). With
``--warc``, the given crawl and its snippet file (one ``{"url", "with", "without"}`` per line; the
html-dev set of docs/benchmarks.md) are measured instead.

Per side: records accounted for, pages per CPU-second of the whole pipeline run (CPU time of the
process tree, interpreter start and imports included on both sides: ``thresher build`` from start to
exit, datatrove's script from start to the end of its executor's run (its figure around ``run()``
alone, which leaves its imports out, is kept as ``executor_cpu_seconds``); the machine may be shared;
one worker on each side), and snippet precision,
recall and F1 (a ``with`` snippet found is a hit, one missing a miss, a ``without`` snippet found a
false positive; summed over pages), and F1 on each half of the pages split by the SHA-1 of the URL
(``f1_half_a``, ``f1_half_b``: the halves docs/benchmarks.md chooses settings on and checks them
on). ``trafilatura alone`` calls ``trafilatura.extract`` in this process on the decoded pages, the
reference the ``trafilatura`` backend must match; ``stage alone`` runs each backend's
`Extract.extract_page` (parse, page metadata, extraction) the same way, so the two compare
extraction speed without start-up, reading and writing.

Thresher's modules are compiled to bytecode first (``compileall``, as ``pip install`` does; the peer
environment's packages are compiled at install), so that neither side recompiles its sources in every
run where ``PYTHONDONTWRITEBYTECODE`` is set.

With ``--rounds N`` every pipeline runs N times, interleaved (datatrove, then each backend, per
round), so that load from other work on a shared machine falls on all sides alike: the figures are
each side's median CPU seconds, and the per-round ratios and load averages are kept beside them.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from common import REPO, row, speech_paths, speech_text, write_result
from peer_env import peer_python, run_peer

from corpus.io.warc import read_warc

BACKENDS = ("trafilatura", "resiliparse", "auto")
NAV = ["Home", "World news", "Business and markets", "Sign in to your account", "Subscribe to our newsletter"]


def generate(n: int, folder: Path) -> tuple[Path, Path]:
    """``n`` pages cut from the bundled speeches as a gzip WARC, and their snippets."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    rnd = random.Random(20)
    paragraphs = [p.strip() for path in speech_paths() for p in speech_text(path).split("\n\n") if len(p) > 200]
    folder.mkdir(parents=True, exist_ok=True)
    warc, snippets = folder / "pages.warc.gz", folder / "snippets.jsonl"
    with open(warc, "wb") as f, open(snippets, "w", encoding="utf-8") as s:
        w = WARCWriter(f, gzip=True)
        w.write_record(w.create_warcinfo_record("pages.warc.gz", {"software": "bench_extract", "robots": "obey"}))
        for i in range(n):
            body = rnd.sample(paragraphs, rnd.randint(3, 8))
            teasers = [f"Read next: {p[:70].rsplit(' ', 1)[0]}" for p in rnd.sample(paragraphs, 3)]
            html = ("<html lang='en'><head><title>Speech {i}</title></head><body><header><nav>"
                    + "".join(f"<a href='/s{k}'>{x}</a> " for k, x in enumerate(NAV)) + "</nav></header><main><article>"
                    + f"<h1>Speech {i}</h1>" + "".join(f"<p>{p}</p>" for p in body) + "</article><aside><ul>"
                    + "".join(f"<li><a href='/t{k}'>{t}</a></li>" for k, t in enumerate(teasers))
                    + "</ul></aside></main><footer>Copyright the publisher. All rights reserved. Contact us.</footer>"
                    "</body></html>")
            url = f"https://speeches.example.org/{i}"
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
            w.write_record(w.create_warc_record(url, "response", payload=io.BytesIO(html.encode()), http_headers=http))
            picks = [rnd.choice(p.split(". ")[1:-1] or [p[:60]])[:60] for p in body[:3]]
            s.write(json.dumps({"url": url, "with": picks, "without": [NAV[3], teasers[0], "All rights reserved"]}) + "\n")
    return warc, snippets


def half(url: str) -> str:
    """``a`` or ``b``: the half of the pages a URL falls in, by its SHA-1 (settings are chosen on one
    half and checked on the other)."""
    return "ab"[int(hashlib.sha1(url.encode()).hexdigest(), 16) % 2]


def prf(snippets: list[dict], texts: dict[str, str]) -> tuple[float, float, float]:
    """Snippet precision, recall and F1 over ``snippets``' pages (a missing page: empty text)."""
    hit = miss = false = 0
    for s in snippets:
        text = texts.get(s["url"], "")
        found = sum(w in text for w in s["with"])
        hit, miss = hit + found, miss + len(s["with"]) - found
        false += sum(w in text for w in s["without"])
    p, r = hit / max(1, hit + false), hit / max(1, hit + miss)
    return p, r, 2 * p * r / (p + r) if p + r else 0.0


def score(texts: dict[str, str], snippets: list[dict]) -> dict[str, float]:
    """Precision, recall and F1 over every page, and F1 on each half of the pages (`half`)."""
    p, r, f1 = prf(snippets, texts)
    halves = {f"f1_half_{h}": round(prf([s for s in snippets if half(s["url"]) == h], texts)[2], 3) for h in "ab"}
    return {"precision": round(p, 3), "recall": round(r, 3), "f1": round(f1, 3), **halves}


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_thresher(warc: Path, work: Path, backend: str) -> dict:
    """One ``thresher build`` (one worker) of the WARC through ``extract``; CPU seconds and accounting."""
    out = work / f"thresher-{backend}"
    shutil.rmtree(out, ignore_errors=True)
    pipeline = work / f"{backend}.yaml"
    pipeline.write_text(yaml.safe_dump({"name": f"bench-{backend}", "input": {"paths": [str(warc)]},
                                        "output": str(out), "workers": 1,
                                        "stages": [{"stage": "extract", "backend": backend}]}))
    c0, t0 = children_cpu(), time.perf_counter()
    subprocess.run([sys.executable, "-m", "corpus.cli", "build", str(pipeline), "--quiet"], cwd=REPO, check=True)
    cpu, wall = children_cpu() - c0, time.perf_counter() - t0
    stats = json.loads((out / "stats.json").read_text())
    from corpus.rundir import RunDir

    texts = {d.metadata["url"]: d.text for d in RunDir(out).documents()}
    extract = next(s for s in stats["stages"] if s["label"] == "extract")
    return {"cpu_seconds": round(cpu, 2), "wall_seconds": round(wall, 2), "records_read": stats["records_read"],
            "kept": stats["kept"], "excluded": stats["excluded"], "quarantined": stats["quarantined"],
            "skipped": stats["skipped"], "invariant_holds": stats["invariant"]["holds"],
            "extract_stage_seconds": extract["seconds"], "backends_used": {k: v for k, v in extract["extra"].items()
                                                                          if k.startswith("backend_")},
            "texts": texts}


def run_datatrove(warc: Path, work: Path) -> dict:
    """datatrove's ``WarcReader -> Trafilatura -> JsonlWriter`` (one worker) in the peer environment."""
    inp = work / "datatrove-input"  # datatrove reads a folder
    shutil.rmtree(inp, ignore_errors=True)
    inp.mkdir()
    (inp / warc.name).symlink_to(warc)
    shutil.rmtree(work / "datatrove", ignore_errors=True)
    d = run_peer("datatrove_warc.py", inp, work / "datatrove")
    return {"cpu_seconds": round(d["process_cpu_seconds"], 2), "executor_cpu_seconds": round(d["cpu_seconds"], 2),
            "wall_seconds": round(d["seconds"], 2), "documents": d["documents"], "texts": d["texts"]}


def decoded_pages(warc: Path) -> list[tuple[str, str]]:
    """``(url, decoded HTML)`` of every page the reader keeps."""
    return [(r.record["url"], r.record["text"]) for r in read_warc(str(warc), warc.name, "text", "id")
            if r.record and not r.exclude]


def trafilatura_alone(pages: list[tuple[str, str]]) -> tuple[float, dict[str, str]]:
    """``trafilatura.extract(favor_precision=True)`` on each decoded page, CPU seconds in this process."""
    import trafilatura

    t0 = time.process_time()
    texts = {u: trafilatura.extract(h, url=u, favor_precision=True) or "" for u, h in pages}
    return time.process_time() - t0, texts


def stage_alone(pages: list[tuple[str, str]], backend: str) -> tuple[float, dict[str, str]]:
    """The ``extract`` stage's work on each page (`Extract.extract_page`), CPU seconds in this process."""
    from corpus.stages import base

    stage, _ = base.build({"stage": "extract", "backend": backend})
    stage.setup()
    t0 = time.process_time()
    texts = {u: stage.extract_page(h, u, {})[0] for u, h in pages}
    return time.process_time() - t0, texts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--warc", type=Path, help="a crawl to measure (default: generated pages)")
    ap.add_argument("--snippets", type=Path, help="its snippets (with --warc)")
    ap.add_argument("--pages", type=int, default=120, help="generated pages (without --warc)")
    ap.add_argument("--skip-datatrove", action="store_true")
    ap.add_argument("--rounds", type=int, default=1, help="runs per pipeline, interleaved; figures are medians")
    ap.add_argument("--work", type=Path, help="scratch folder (default: a temporary one, removed)")
    ap.add_argument("--json", help="write the summary rows here too (run_all.py reads it)")
    args = ap.parse_args()
    if bool(args.warc) != bool(args.snippets):
        ap.error("--warc and --snippets go together")
    if args.rounds < 1:
        ap.error("--rounds must be 1 or more")
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-extract-"))
    work.mkdir(parents=True, exist_ok=True)
    warc, snippet_file = (args.warc.resolve(), args.snippets) if args.warc else generate(args.pages, work / "gen")
    snippets = [json.loads(line) for line in snippet_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    responses = sum(1 for r in read_warc(str(warc), warc.name, "text", "id") if r.skip is None)
    dataset = str(warc) if args.warc else f"{args.pages} pages generated from the bundled speeches (seed 20)"
    print(f"{dataset}: {responses} document records, {len(snippets)} pages with snippets")

    results: dict[str, dict] = {}
    pages = decoded_pages(warc)
    alone = {"trafilatura alone": lambda: trafilatura_alone(pages),
             **{f"stage alone {b}": (lambda b=b: stage_alone(pages, b)) for b in BACKENDS}}
    alone_runs: dict[str, list[tuple[float, dict[str, str]]]] = {name: [] for name in alone}
    for _ in range(args.rounds):
        for name, fn in alone.items():
            alone_runs[name].append(fn())
    for name, rs in alone_runs.items():
        cpus = [round(cpu, 3) for cpu, _ in rs]
        results[name] = {"cpu_seconds": statistics.median(cpus), "cpu_seconds_per_round": cpus,
                         **score(rs[-1][1], snippets)}
    subprocess.run([sys.executable, "-m", "compileall", "-q", "corpus", "trainer"], cwd=REPO, check=True)
    if not args.skip_datatrove:
        peer_python()  # created or updated now, not inside a timed run
    sides = {**({} if args.skip_datatrove else {"datatrove": lambda: run_datatrove(warc, work)}),
             **{f"thresher {b}": (lambda b=b: run_thresher(warc, work, b)) for b in BACKENDS}}
    runs: dict[str, list[dict]] = {name: [] for name in sides}
    for _ in range(args.rounds):
        for name, run in sides.items():
            runs[name].append({**run(), "load_average": round(os.getloadavg()[0], 1)})
    for name, rs in runs.items():
        last = rs[-1]  # extraction is deterministic: every round writes the same texts
        results[name] = {**{k: v for k, v in last.items() if k not in ("texts", "load_average")},
                         "cpu_seconds": round(statistics.median(r["cpu_seconds"] for r in rs), 3),
                         "cpu_seconds_per_round": [r["cpu_seconds"] for r in rs],
                         "load_average_per_round": [r["load_average"] for r in rs], **score(last["texts"], snippets)}
    if "datatrove" in results:
        results["datatrove"]["not_accounted"] = responses - results["datatrove"]["documents"]
        results["datatrove"]["executor_cpu_seconds_per_round"] = [d["executor_cpu_seconds"] for d in runs["datatrove"]]
        for name in runs.keys() - {"datatrove"}:
            for key, field in (("datatrove_cpu_over_this_per_round", "cpu_seconds"),
                               ("datatrove_executor_cpu_over_this_per_round", "executor_cpu_seconds")):
                results[name][key] = [round(d[field] / r["cpu_seconds"], 2)
                                      for d, r in zip(runs["datatrove"], runs[name], strict=True)]
    results["thresher auto"]["trafilatura_backend_cpu_over_this_per_round"] = [
        round(t["cpu_seconds"] / a["cpu_seconds"], 2) for t, a in zip(runs["thresher trafilatura"], runs["thresher auto"], strict=True)]
    for name, r in results.items():
        pps = responses / r["cpu_seconds"] if r["cpu_seconds"] else 0
        r["pages_per_cpu_second"] = round(pps, 1)
        print(f"{name:<22} {json.dumps(r)}")

    rows = []
    traf = results["thresher trafilatura"]
    for backend in BACKENDS:
        ours = results[f"thresher {backend}"]
        if "datatrove" in results:
            rows.append(row(f"thresher extract {backend}", "datatrove WarcReader->Trafilatura->JsonlWriter",
                            "pages per CPU-second (1 worker)", ours["pages_per_cpu_second"],
                            results["datatrove"]["pages_per_cpu_second"]))
        rows.append(row(f"thresher extract {backend}", "trafilatura alone", "snippet F1", ours["f1"],
                        results["trafilatura alone"]["f1"]))
    rows.append(row("thresher extract auto", "thresher extract trafilatura", "pages per CPU-second",
                    results["thresher auto"]["pages_per_cpu_second"], traf["pages_per_cpu_second"]))
    rows.append(row("extract auto, stage alone", "trafilatura alone", "pages per CPU-second (extraction only)",
                    results["stage alone auto"]["pages_per_cpu_second"], results["trafilatura alone"]["pages_per_cpu_second"]))
    if "datatrove" in results:
        accounted = traf["kept"] + sum(traf["excluded"].values()) + sum(traf["quarantined"].values())
        rows.append(row("thresher (kept + excluded + quarantined)", "datatrove (documents written)",
                        "document records accounted for", accounted, results["datatrove"]["documents"]))
    write_result(args.json, "extract", dataset, rows, results=results)
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
