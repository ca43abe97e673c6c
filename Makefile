# Two commands on a fresh machine: `make demo` (train, register, serve) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.9
# The CPU build of torch comes from pip's find-links folder when this machine has one (see README).
FIND_LINKS ?= $(shell $(PYTHON) -m pip config list 2>/dev/null | sed -n "s/^global.find-links='\(.*\)'/\1/p" | head -1)
UV_FLAGS := $(if $(FIND_LINKS),--find-links $(FIND_LINKS))
PORT ?= 3000
export BENTOML_DO_NOT_TRACK := true
export TOKENIZERS_PARALLELISM := false

.PHONY: env demo test test-fast serve bench lock clean

env: $(VENV)/.installed

# --compile-bytecode: where PYTHONDONTWRITEBYTECODE is set (CI machines), every process would otherwise compile
# scikit-learn, torch and BentoML from source again: ~4 s per command (docs/development.md).
$(VENV)/.installed: pyproject.toml requirements.lock
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==$(UV_VERSION)"
	uv venv --quiet --allow-existing --python $(PYTHON) $(VENV)
	uv pip install --quiet --compile-bytecode --python $(PY) $(UV_FLAGS) -r requirements.lock
	uv pip install --quiet --python $(PY) --no-deps -e .
	@touch $@

demo: env
	@PORT=$(PORT) bash serving/demo.sh --check-port
	$(PY) -m training train --models baseline,transformer --out models/runs/demo --overwrite --register
	PORT=$(PORT) bash serving/demo.sh

serve: env
	$(VENV)/bin/bentoml serve serving.service:ArabicNewsTopics --port $(PORT)

test: env
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

test-fast: env
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m "not slow"

bench: env
	$(PY) benchmarks/bench_baseline.py

lock:
	uv pip compile pyproject.toml --extra dev --python-version 3.11 $(UV_FLAGS) --no-header -o requirements.lock

clean:
	rm -rf $(VENV) models/runs
