# make repro  - set up .venv (pinned) and run the pipeline: dvc repro
# make test   - set up .venv and run the test suite (what CI runs)
# make bench  - set up .venv and run the benchmarks (~10 min; writes BENCHMARKS.md)
PYTHON ?= python3
VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup repro test bench

setup: $(VENV)/installed

$(VENV)/installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $@

repro: setup
	dvc repro

test: setup
	python -m pytest

bench: setup
	python -m bench.run
