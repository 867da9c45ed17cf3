"""Long work shows progress in a log, not only on a terminal: `thresher train` and `thresher build`
with their output going to a pipe (what `make demo > log` or a batch scheduler gives them)."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import trainer_data as td
import yaml
from conftest import thresher, write_pipeline

STEP_LINE = re.compile(r"^thresher: step (\d+)/(\d+)  loss [\d.]+  lr [\d.e+-]+  tokens/s [\d,]+  "
                       r"elapsed \d+:\d\d:\d\d  ETA \d+:\d\d:\d\d$")


def test_train_prints_progress_lines_when_stdout_is_a_pipe(tmp_path: Path) -> None:
    tok = td.build_tokenizer(tmp_path / "tok")
    tokens = td.build_tokens(tmp_path, td.documents()[:60], tok)
    cfg = {"task": "pretrain", "tokenizer": str(tok),
           "model": {"arch": "llama", "hidden_size": 32, "num_layers": 1, "num_heads": 4, "intermediate_size": 64},
           "data": {"tokens": str(tokens), "seq_len": 32},
           "train": {"steps": 5, "micro_batch_size": 2, "warmup_steps": 1},
           "checkpoint": {"every": 0}, "output": {"dir": str(tmp_path / "out"), "export": False, "log_every": 2}}
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(cfg))
    r = thresher("train", str(tmp_path / "train.yaml"), env={"OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-2000:]
    lines = [ln for ln in r.stdout.splitlines() if STEP_LINE.match(ln)]
    # every log_every steps, and the last step whatever its number
    assert [int(STEP_LINE.match(ln).group(1)) for ln in lines] == [2, 4, 5], r.stdout
    assert all(STEP_LINE.match(ln).group(2) == "5" for ln in lines)
    assert lines[-1].endswith("ETA 0:00:00")


def test_train_rejects_a_log_interval_below_one(tmp_path: Path) -> None:
    cfg = {"tokenizer": "tok", "data": {"tokens": "tokens"}, "output": {"log_every": 0}}
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(cfg))
    r = thresher("train", str(tmp_path / "train.yaml"))
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == ["thresher: error: output.log_every must be >= 1, got 0"]


def test_build_logs_each_pass_and_each_tenth_of_its_tasks(tmp_path: Path) -> None:
    lines = [orjson.dumps({"id": f"d{i}", "text": f"Document {i} says something a little different. " * 4})
             for i in range(4000)]
    (tmp_path / "in.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    p = write_pipeline(tmp_path / "p.yaml", name="progress", input={"paths": ["in.jsonl"], "task_size_mb": 0.05},
                       output=str(tmp_path / "run"), workers=1,
                       stages=[{"stage": "dedup_exact"}, {"stage": "length", "min_chars": 10}])
    r = thresher("build", str(p))
    assert r.returncode == 0, r.stderr[-2000:]
    log = [ln for ln in r.stderr.splitlines() if ln.startswith("[thresher] pass ")]
    starts = [ln for ln in log if "task(s) to run" in ln]
    assert len(starts) == 2, log  # dedup_exact needs a scan pass before the pass that filters
    total = int(re.search(r": (\d+) task\(s\) to run", starts[0]).group(1))
    assert total >= 10
    for k in (1, 2):
        shares = [int(m.group(1)) for ln in log if ln.startswith(f"[thresher] pass {k}/2")
                  and (m := re.search(r"tasks \((\d+)%\)", ln))]
        # a line for each tenth done (a heartbeat may add one in between on a slow machine), not one a task
        assert set(range(1, 11)) <= {s // 10 for s in shares} and len(shares) < total, log
