# Thresher: two commands on a fresh machine — `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.thresher-setup
CACHE  ?= $(HOME)/.cache/thresher
# The CPU build of torch, installed first on machines without a GPU so that the
# range in pyproject.toml is already satisfied and pip never pulls a CUDA build.
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
	$(PIP) install -q -e ".[dev]"
	$(PY) -m corpus.assets fetch
	touch $(STAMP)

demo: setup
	$(PY) -m corpus.cli build rules/pipelines/demo.yaml

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) benchmarks/run_all.py

lint: setup
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) out .pytest_cache
