# The two commands of the README: `make serve` and `make test`. Both install what they need
# into .venv first (pip caches downloads and built wheels, so later runs are quick).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install serve test bench

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	# torch first, pinned: anything that depends on torch would otherwise pull a CUDA build.
	$(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e '.[test,llm,alm,enhance,diarize]'
	$(PY) -m pip install --no-deps Resemblyzer==0.1.4
	touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)
	$(VENV)/bin/harken serve

test: $(STAMP)
	$(VENV)/bin/pytest

bench: $(STAMP)
	$(PY) bench/transcribe.py
