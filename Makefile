# Thresher: two commands on a fresh machine — `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.thresher-setup
CACHE  ?= $(HOME)/.cache/thresher
# The CPU build of torch, installed first on machines without a GPU so that the `train`
# extra's range in pyproject.toml is already satisfied and pip never pulls a CUDA build.
TORCH_CPU ?= torch==2.13.0

export TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS :=
export THRESHER_CACHE := $(CACHE)

.PHONY: setup demo test bench lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then \
	  echo "GPU found: torch comes from the range in pyproject.toml"; \
	else \
	  $(PIP) install -q "$(TORCH_CPU)"; \
	fi
	$(PIP) install -q -e ".[train,dev]"  # the data side, the trainer (torch), the test tools
	$(PY) -m corpus.assets fetch
	touch $(STAMP)

# The end-to-end job on the bundled sample corpus: build (quality, dedup, PII), train a tokenizer on
# what was kept, tokenize with a validation split and a source mix, train a tiny model, report.
# Every step resumes or skips when rerun.
DEMO_RUN := out/demo
demo: setup
	$(PY) -m corpus.cli build rules/pipelines/demo.yaml
	test -f out/demo-tokenizer/tokenizer.json || \
	  $(PY) -m corpus.cli tokenizer train --input $(DEMO_RUN) --vocab-size 4096 --output out/demo-tokenizer
	$(PY) -m corpus.cli tokenize $(DEMO_RUN) --tokenizer out/demo-tokenizer --val-fraction 0.05 \
	  --mix 'web-crawl.jsonl=0.5' --mix '*.parquet=2'
	$(PY) -m corpus.cli train docs/trainer-examples/demo.yaml
	$(PY) -m corpus.cli verify $(DEMO_RUN)
	$(PY) -m corpus.cli report $(DEMO_RUN)
	@echo "report: $(DEMO_RUN)/report/report.html"

test: setup
	$(PY) -m pytest -q

# Every benchmark against its peer, one table at the end (also out/bench/results.md): quick sizes by
# default, the sizes docs/benchmarks.md quotes with FULL=1. The peers (datatrove, Presidio, HF Trainer)
# are installed into .venv-bench-peers/ on first use.
bench: setup
	$(PY) benchmarks/run_all.py $(if $(FULL),--full)

lint: setup
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) out .pytest_cache
