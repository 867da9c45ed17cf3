"""``thresher ablate`` on a known answer: a corpus of public-domain speeches with injected junk
(boilerplate, spam, other languages, near-duplicates). The filtered variant must beat the one that keeps
the junk on held-out bits per byte in every seed; two identical variants must show no difference; the
passes variants share run once; a killed ablation resumes without redoing what finished.
Tiny models and token budgets, so the file runs in a few minutes on two cores."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from testdata import sentences_by_language, speech_pieces

torch.set_num_threads(1)
STAGES = [{"stage": "normalize"}, {"stage": "language", "keep": ["en"]}, {"stage": "gopher_repetition"},
          {"stage": "dedup_exact"}]
PROXY = {"model": {"arch": "llama", "hidden_size": 32, "num_layers": 2, "num_heads": 4, "intermediate_size": 64},
         "tokens": 24000, "seq_len": 64, "micro_batch_size": 8, "lr": 0.01, "seeds": [0, 1]}


def junk(n: int) -> list[str]:
    """Boilerplate, spam, other languages and near-duplicates of them: what a filter should remove."""
    other = [s for lang, ss in sentences_by_language().items() if lang != "en" for s in ss]
    out = []
    for i in range(n):
        kind = i % 4
        if kind == 0:
            out.append(" | ".join(["Home", "About us", "Contact", "Privacy policy", "Terms of use", "Login"] * 12))
        elif kind == 1:
            out.append(" ".join(["BUY CHEAP PILLS NOW!!! click here www.cheap-pills.example best price $$$"] * 10))
        elif kind == 2:
            out.append(" ".join(other[(i * 7 + j) % len(other)] for j in range(12)))
        else:
            out.append(" ".join(["Subscribe to our newsletter for exclusive deals and offers today"] * 10) + f" {i}")
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ablate")
    clean = [t for _, t in speech_pieces("inaugural", 1500)]
    rows = [{"id": f"speech-{i}", "text": t} for i, t in enumerate(clean)]
    rows += [{"id": f"junk-{i}", "text": t} for i, t in enumerate(junk(len(clean)))]
    (root / "data").mkdir()
    (root / "data" / "web.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    heldout = [t for _, t in speech_pieces("state_union", 1500)[:8]]
    (root / "news.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in heldout))
    items = []
    for i, text in enumerate(heldout):  # the next word of a held-out speech, against two junk words
        words = text.split()
        items.append({"context": " ".join(words[:30]), "choices": ["PILLS", words[30], "Privacy"][i % 2:],
                      "gold": 1 - i % 2})
    (root / "cloze.jsonl").write_text("".join(json.dumps(it) + "\n" for it in items))
    return root


def write_experiment(root: Path, name: str, variants: dict, stages: list[dict] = STAGES, **extra) -> Path:
    (root / f"{name}-pipeline.yaml").write_text(yaml.safe_dump(
        {"name": name, "input": {"paths": ["data/web.jsonl"]}, "output": f"out/{name}-unused", "workers": 1,
         "stages": stages}))
    exp = {"name": name, "pipeline": f"{name}-pipeline.yaml", "variants": variants,
           "tokenizer": {"train": {"vocab_size": 400}}, "proxy": PROXY,
           "eval": {"heldout": {"news": "news.jsonl"}, "tasks": ["cloze.jsonl"], "every": 0.5}, "output": f"out/{name}", **extra}
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(exp, sort_keys=False))
    return path


def ablate(path: Path, **kw) -> subprocess.Popen | subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "corpus.cli", "ablate", str(path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if kw.get("background"):
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                start_new_session=True)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=1200, env=env)


KNOWN = {"filtered": {}, "junk": {"remove": ["language", "gopher_repetition", "dedup_exact"]}, "filtered_again": {}}


@pytest.fixture(scope="module")
def known(corpus) -> dict:
    r = ablate(write_experiment(corpus, "known", KNOWN))
    assert r.returncode == 0, r.stderr[-3000:]
    out = corpus / "out" / "known"
    return {"out": out, "results": json.loads((out / "results.json").read_text()), "stderr": r.stderr}


def test_junk_variant_ranks_below_filtered_in_every_seed(known):
    res = known["results"]
    v = res["variants"]
    assert res["primary"] == "bpb"
    junk_share = 1 - v["filtered"]["tokens"] / v["junk"]["tokens"]
    assert junk_share >= 0.4, junk_share
    runs_f, runs_j = v["filtered"]["metrics"]["bpb/news"]["runs"], v["junk"]["metrics"]["bpb/news"]["runs"]
    assert len(runs_f) == len(PROXY["seeds"])
    assert all(f < j for f, j in zip(runs_f, runs_j, strict=True)), (runs_f, runs_j)
    assert res["ranking"][-1] == "junk"
    verdict = next(c for c in res["comparisons"] if (c["a"], c["b"], c["metric"]) == ("filtered", "junk", "bpb/news"))
    assert verdict["verdict"] == "a_better" and verdict["ci95"][1] < 0
    assert "filtered beats junk on bpb/news" in (known["out"] / "report.md").read_text()


def test_identical_variants_show_no_difference(known):
    res = known["results"]
    same = [c for c in res["comparisons"] if (c["a"], c["b"]) == ("filtered", "filtered_again")]
    assert same and all(c["verdict"] == "no_difference" and c["diff"] == 0 for c in same)
    assert "no difference detectable at this scale" in (known["out"] / "report.md").read_text()


def assert_results_shape(res: dict, out: Path) -> None:
    assert {"variants", "ranking", "primary", "comparisons"} <= set(res)
    for d in res["variants"].values():
        assert {"documents", "tokens", "epochs", "metrics"} <= set(d)
        assert d["epochs"] > 0 and Path(d["report"]).is_file()
        for m in d["metrics"].values():
            assert set(m) == {"mean", "sd", "runs"}
    for c in res["comparisons"]:
        assert set(c) == {"a", "b", "metric", "diff", "ci95", "verdict"}
        assert c["verdict"] in ("a_better", "b_better", "no_difference")
    assert set(res["signal_to_noise"]) == set(res["variants"]["junk"]["metrics"]) == {
        "bpb", "bpb/news", "cloze/acc", "cloze/acc_norm", "cloze/gold_logprob", "cloze/gold_bpb"}
    page = (out / "report.html").read_text()
    assert page.count("<svg") == 2 and "<polyline" in page


def test_results_and_report_shape(known):
    assert_results_shape(known["results"], known["out"])


def test_identical_variants_share_builds_and_runs(known):
    """normalize runs once for all three variants; the two identical ones share their build and runs."""
    stderr = known["stderr"]
    builds = sorted((known["out"] / "builds").iterdir())
    labels = sorted(tuple(s["label"] for s in json.loads((b / "stats.json").read_text())["stages"][1:])
                    for b in builds)
    assert labels == [("language", "gopher_repetition", "dedup_exact"), ("normalize",)]
    assert len(list((known["out"] / "runs").iterdir())) == 2 * len(PROXY["seeds"])
    assert stderr.count("build ") == 2


def test_shared_prefix_runs_once(corpus):
    """Three variants that differ only in their last stage: the earlier passes are built once."""
    from trainer.ablate import builds, experiment

    stages = [{"stage": "normalize"}, {"stage": "language", "keep": ["en"]}, {"stage": "length", "min_words": 10}]
    variants = {"a": {}, "b": {"set": {"length": {"min_words": 200}}}, "c": {"set": {"length": {"min_words": 260}}}}
    exp = experiment.load(write_experiment(corpus, "prefix", variants, stages))
    lines: list[str] = []
    final = builds.build_all(exp, lines.append)
    assert len(set(final.values())) == 3
    runs = {b.name: json.loads((b / "stats.json").read_text()) for b in (exp.output / "builds").iterdir()}
    assert len(runs) == 4
    prefix = [name for name, st in runs.items() if [s["label"] for s in st["stages"][1:]] == ["normalize", "language"]]
    assert len(prefix) == 1  # the shared passes ran once, for all three variants
    read = runs[prefix[0]]["records_read"]
    for name in final.values():
        st = runs[name]
        assert [s["label"] for s in st["stages"][1:]] == ["length"]
        assert st["records_read"] == runs[prefix[0]]["kept"] < read
    kept = sorted(runs[n]["kept"] for n in final.values())
    assert kept[0] < kept[-1]
    assert builds.build_all(exp, lines.append) == final  # built: a rerun reuses every build
    assert sum("reused" in line for line in lines) == 4


def test_killed_torchrun_ablation_resumes_without_redoing(corpus):
    """Each proxy run goes through torchrun (2 processes, gloo on CPU): the same results, and a killed
    ablation rerun redoes no finished build, checkpoint or eval."""
    proxy = {**PROXY, "seeds": [0], "tokens": 8000, "launch": {"nproc_per_node": 2}}  # 16 steps: what is tested is the launch
    path = write_experiment(corpus, "resume", {"filtered": {}, "junk": KNOWN["junk"]}, proxy=proxy)
    out = corpus / "out" / "resume"
    p = ablate(path, background=True)
    runs = out / "runs"
    deadline = time.monotonic() + 900  # a bound on a hang, not a timing assertion
    while time.monotonic() < deadline and not list(runs.glob("*/eval-step-*.json")):
        assert p.poll() is None, p.stderr.read()[-3000:]
        time.sleep(0.5)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    before = {f: f.stat().st_mtime_ns for f in [*out.glob("builds/*/manifest.json"), *runs.glob("*/ckpt/step-*/*"),
                                                 *runs.glob("*/eval-step-*.json")]}
    assert before
    r = ablate(path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "done earlier, reused" in r.stderr
    for f, mtime in before.items():
        assert f.stat().st_mtime_ns == mtime, f"{f} was redone"
    assert_results_shape(json.loads((out / "results.json").read_text()), out)
    for run in runs.iterdir():  # every step of every run was taken by two ranks
        lineage = json.loads(max(run.glob("ckpt/step-*/lineage.json")).read_text())
        assert [s["world_size"] for s in lineage["batch_schedule"]] == [2], run
        assert (run / "train.log").is_file()


@pytest.mark.parametrize("gpus, launch, lanes", [
    (0, {}, [()]),
    (0, {"nproc_per_node": 2}, [()]),
    (0, {"concurrent": 2}, [(), ()]),
    (1, {}, [(0,)]),
    (4, {}, [(0,), (1,), (2,), (3,)]),  # one run per GPU
    (4, {"concurrent": 3}, [(0,), (1,), (2,)]),
    (4, {"nproc_per_node": 2}, [(0, 1), (2, 3)]),  # one run across two GPUs, two at once
    (8, {"nproc_per_node": 8}, [tuple(range(8))]),
    (3, {"nproc_per_node": 2}, [(0, 1)]),
])
def test_runs_get_devices(gpus, launch, lanes):
    from trainer.ablate.launch import Launch, assign
    from trainer.ablate.launch import lanes as lanes_for

    got = lanes_for(gpus, Launch(**launch))
    assert got == lanes
    runs = list(range(7))
    dealt = assign(runs, len(got))
    assert sorted(r for lane in dealt for r in lane) == runs  # every run once
    assert max(map(len, dealt)) - min(map(len, dealt)) <= 1  # the lanes finish together


def test_a_lane_names_the_gpus_this_process_sees():
    from trainer.ablate.launch import visible_devices

    assert visible_devices((1,), {}) == "1"
    assert visible_devices((0, 1), {"CUDA_VISIBLE_DEVICES": "2, 5,7"}) == "2,5"
    assert visible_devices((1,), {"CUDA_VISIBLE_DEVICES": "GPU-aa,GPU-bb"}) == "GPU-bb"


def test_more_processes_than_gpus_is_one_line():
    from corpus.errors import Fault
    from trainer.ablate.launch import Launch, lanes

    with pytest.raises(Fault, match="nproc_per_node is 4, but this machine has 2 GPU"):
        lanes(2, Launch(nproc_per_node=4))


@pytest.mark.parametrize("change, message", [
    ({"variants": {"a": {"remove": ["c4"]}}}, "variants.a.remove: the pipeline has no stage 'c4'"),
    ({"variants": {"a": {"drop": ["normalize"]}}}, "unknown key 'drop' in variants.a"),
    ({"proxy": {**PROXY, "tokens": 0}}, "proxy.tokens must be a whole number >= 1"),
    ({"eval": {"heldout": {"news": "missing.jsonl"}}}, "eval file not found"),
    ({"eval": {"heldout": {"news": "news.jsonl"}, "every": 2}}, "eval.every must be a share"),
    ({"proxy": {**PROXY, "launch": {"nproc_per_node": 3}}}, "proxy.micro_batch_size (8) must be a multiple of"),
    ({"proxy": {**PROXY, "launch": {"concurrent": 0}}}, "proxy.launch.concurrent must be auto or a whole number"),
    ({"proxy": {**PROXY, "launch": {"gpus": 2}}}, "unknown key 'gpus' in proxy.launch"),
    ({"proxy": {**{k: v for k, v in PROXY.items() if k != "model"}, "modle": PROXY["model"]}},
     "unknown key 'modle' in proxy (did you mean 'model'?)"),
    ({"proxy": {**PROXY, "model": {**PROXY["model"], "hiden_size": 32}}},
     "unknown key 'hiden_size' in proxy.model (did you mean 'hidden_size'?)"),
    ({"proxy": {**PROXY, "seeds": [0, "one"]}}, "proxy.seeds[1] must be a whole number, got 'one'"),
    ({"eval": {"heldout": {"news": "news.jsonl"}, "evrey": 0.5}}, "unknown key 'evrey' in eval (did you mean 'every'?)"),
    ({"tokenizer": {"train": {}}}, "tokenizer.train: missing required key 'vocab_size'"),
])
def test_experiment_mistakes_are_one_line(corpus, change, message):
    path = write_experiment(corpus, "mistake", {"a": {}})
    exp = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**exp, **change}))
    r = ablate(path)
    assert r.returncode == 2
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_validate_json_names_what_the_build_records(corpus):
    """``thresher validate --json``, ablate's address of a build, is the hash and inputs the build records."""
    write_experiment(corpus, "ident", {"a": {}}, [{"stage": "normalize"}])
    pipeline = corpus / "ident-pipeline.yaml"
    r = subprocess.run([sys.executable, "-m", "corpus.cli", "validate", str(pipeline), "--json"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    ident = json.loads(r.stdout)
    web = corpus / "data" / "web.jsonl"
    assert ident["stages"] == ["normalize"] and ident["tasks"] >= 1
    assert ident["inputs"] == [{"path": str(web), "size": web.stat().st_size, "mtime_ns": web.stat().st_mtime_ns}]
    r = subprocess.run([sys.executable, "-m", "corpus.cli", "build", str(pipeline), "--quiet"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    manifest = json.loads((corpus / "out" / "ident-unused" / "manifest.json").read_text())
    assert manifest["config_sha256"] == ident["config_sha256"]
