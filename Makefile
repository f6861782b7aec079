# make repro        - set up .venv (pinned) and the offline plot pages, then run the pipeline: dvc repro
# make setup        - .venv from requirements.txt, every file's hash checked (WHEELHOUSE=DIR: offline)
# make test         - set up .venv and run the test suite (what CI runs)
# make test-fast    - the unit tests only (no DVC pipelines, no training on images): 2 min 16 s on 2 cores
# make lint         - ruff (pyflakes, pycodestyle, isort, bugbear; settings in pyproject.toml)
# make study        - the whole schedule study of study.yaml's GRID (default reference), into docs/study.md;
#                     REGIME=NAME runs it under one of study.yaml's regimes (fewer images, fewer epochs),
#                     SCHEDULER=tcp://HOST:PORT runs its variants on that Dask scheduler's workers,
#                     SHARD=i/n only the i-th of n shares of it, one per machine (docs/sharing.md)
# make push / pull  - the DVC cache (with the run cache) and HEAD's experiments to / from the
#                     default DVC remote and the git remote GIT_REMOTE (default origin)
# make compare      - HEAD's train and every experiment tested against HEAD's baseline, as the study tests
#                     a variant (SWEEP=schedule.k: only those that differ from HEAD in it; EXPS=names)
# make repro-reference - the reference reports' setup as one experiment: Oregon Wildlife from
#                     Kaggle and EfficientNet-B0 (needs internet for the data and the weights)
# make lock         - requirements.txt again from pyproject.toml's dependencies, every version kept
#                     that still fits (uv pip compile; UPGRADE=1: the newest that fit)
# make bench        - set up .venv and run the benchmarks (about 11 min; writes docs/performance.md)
PYTHON ?= python3
VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
REFERENCE_SETUP := -S data.source=kaggle:virtualdvid/oregon-wildlife -S data.sha256=null \
                -S backbone.name=efficientnet_b0

.PHONY: lock setup repro repro-reference test test-fast lint study compare bench push pull
GRID ?= reference
# WHEELHOUSE=DIR: install from that folder of `pip download`ed files, no index (docs/install.md)
PIP_SOURCE := $(if $(WHEELHOUSE),--no-index --find-links $(WHEELHOUSE))
GIT_REMOTE ?= origin

setup: $(VENV)/installed .dvc/plots-offline.html

$(VENV)/installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet $(PIP_SOURCE) --require-hashes -r requirements.txt
	$(VENV)/bin/pip install --quiet $(PIP_SOURCE) --no-deps --editable .
	touch $@

# `dvc plots show/diff` pages that draw without internet (undo: python -m tools.offline_plots --remove)
.dvc/plots-offline.html: $(VENV)/installed
	python -m tools.offline_plots

# One file for every platform and every extra, each version with the hashes of all its files.
lock: setup
	uv pip compile --quiet pyproject.toml --universal --python-version 3.11 --extra dev --extra cluster \
		--extra kaggle --generate-hashes --custom-compile-command "make lock" \
		$(if $(UPGRADE),--upgrade) -o requirements.txt

repro: setup
	dvc repro

repro-reference: setup
	dvc exp run -n reference-oregon-b0 $(REFERENCE_SETUP)

test: setup
	python -m pytest

test-fast: setup
	python -m pytest -m "not slow"

lint: setup
	ruff check .

study: setup
	python -m lrstudy.study --grid $(GRID) $(if $(REGIME),--regime $(REGIME)) \
		$(if $(SHARD),--shard $(SHARD),--page docs/study.md --page README.md) \
		$(if $(SCHEDULER),--scheduler $(SCHEDULER))

compare: setup
	python -m lrstudy.study.compare $(if $(SWEEP),--sweep $(SWEEP)) $(EXPS)

push: setup
	dvc push --run-cache
	dvc exp push --run-cache $(GIT_REMOTE)

pull: setup
	dvc pull --run-cache
	dvc exp pull --run-cache $(GIT_REMOTE)

bench: setup
	python -m bench.run
