# spikefab — every target installs what it needs through `setup` first.
#   make setup      .venv/ with the project and its dev tools (idempotent, quick when nothing changed)
#   make test       the test suite (fast; long runs are marked slow)
#   make sim        on-chip training in RTL simulation vs golden and float
#                   (DATASET= CONFIG= SIM=verilator|icarus EPOCHS= WAVES=1)
#   make bitstream  FPGA build (BOARD=icebreaker|ulx3s CONFIG=)
#   make bench      benchmarks → build/bench/*.json, plus the slow tests
#   make clean

PYTHON   ?= python3
VENV     := .venv
PY       := $(VENV)/bin/python
STAMP    := $(VENV)/.installed-dev
BSTAMP   := $(VENV)/.installed-bench
DATASET  ?= digits
CONFIG   ?= digits
SIM      ?= verilator
EPOCHS   ?= 3
WAVES    ?=
BOARD    ?= icebreaker

.PHONY: setup test test-slow sim bitstream bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

$(BSTAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	touch $@

test: setup
	$(PY) -m pytest -q

test-slow: setup
	$(PY) -m pytest -q -m slow

sim: setup
	$(PY) -m spikefab.cli sim --dataset $(DATASET) --config $(CONFIG) --simulator $(SIM) \
	    --epochs $(EPOCHS) $(if $(filter 1 yes true,$(WAVES)),--waves)

bitstream: setup
	@echo "make bitstream: the board builds are not written yet; see issue 5." >&2
	@exit 1

bench: $(BSTAMP)
	$(PY) -m spikefab.bench --out build/bench
	$(PY) -m pytest -q -m slow

clean:
	rm -rf build .pytest_cache .hypothesis
	find . -name __pycache__ -type d -not -path './$(VENV)/*' -prune -exec rm -rf {} +
