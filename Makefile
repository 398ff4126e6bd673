# spikefab — every target installs what it needs through `setup` first.
#   make setup      .venv/ with the project and its dev tools (idempotent, quick when nothing changed)
#   make test       the test suite (fast; long runs are marked slow)
#   make sim        on-chip training in RTL simulation vs golden and float
#                   (DATASET= CONFIG= SIM=verilator|icarus EPOCHS= WAVES=1
#                    ALGO=sparse-dfa|dfa|eggroll)
#   test and sim first check the system tools they need (scripts/system-deps.sh):
#   installed with apt-get as root or with passwordless sudo, otherwise refused at once
#   make bitstream  FPGA build and report (BOARD=icebreaker|ulx3s CONFIG=mnist|digits)
#   make program    load it onto the attached board
#   make bench      benchmarks → build/bench/*.json, plus the slow tests and make mutate
#                   (SEEDS=1,2,3,4: golden accuracy runs over several seeds, with their mean)
#   make mutate     mutation score of golden/ and spikefab/ → build/bench/mutation.json
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
ALGO     ?= sparse-dfa
WAVES    ?=
BOARD    ?= icebreaker
SEEDS    ?= 1

# System tools (not from PyPI) that a target needs; scripts/system-deps.sh checks them.
SYSTEM_DEPS := scripts/system-deps.sh
TEST_TOOLS  := iverilog g++ make perl
SIM_TOOLS    = g++ make perl $(if $(filter icarus,$(SIM)),iverilog) \
               $(if $(filter fashion-mnist saccade:fashion-mnist,$(DATASET)),fashion-mnist)

.PHONY: setup test test-slow sim bitstream program bench mutate clean system-deps-test \
        system-deps-sim

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

$(BSTAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	touch $@

# The system check comes first (prerequisites run left to right): a missing tool stops
# the run within seconds, not after minutes of tests. The suite runs on TEST_JOBS
# pytest-xdist workers (one per core); tests that share a simulator build are one
# xdist group (tests/test_sim.py), so no two workers build the same folder.
TEST_JOBS ?= auto
PYTEST     = $(PY) -m pytest -q -n $(TEST_JOBS) --dist loadgroup

test: system-deps-test setup
	$(PYTEST)

system-deps-test:
	$(SYSTEM_DEPS) $(TEST_TOOLS)

system-deps-sim:
	$(SYSTEM_DEPS) $(strip $(SIM_TOOLS))

test-slow: system-deps-test setup
	$(PYTEST) -m slow

sim: system-deps-sim setup
	$(PY) -m spikefab.cli sim --dataset $(DATASET) --config $(CONFIG) --simulator $(SIM) \
	    --epochs $(EPOCHS) --algo $(ALGO) $(if $(filter 1 yes true,$(WAVES)),--waves)

# make bitstream builds the mnist preset unless CONFIG is given.
BITSTREAM_CONFIG = $(if $(filter command line environment,$(origin CONFIG)),$(CONFIG),mnist)

bitstream: setup
	$(PY) -m spikefab.cli bitstream --board $(BOARD) --config $(BITSTREAM_CONFIG)

# Programs the board attached over USB with its FPGA family's programmer (iceprog for the
# iCE40, openFPGALoader for the ECP5: spikefab.hw.families); neither comes from PyPI
# (apt-get install fpga-icestorm openfpgaloader). `spikefab program --dry-run` prints it.
program: bitstream
	$(PY) -m spikefab.cli program --board $(BOARD) --config $(BITSTREAM_CONFIG)

bench: $(BSTAMP)
	$(PY) -m spikefab.bench --out build/bench --accuracy-seeds $(SEEDS)
	$(PY) -m pytest -q -m slow
	$(MUTATE)

# Mutation testing (scripts/mutate.py): the fast suite against each mutant of
# scripts/mutations.toml, in a private copy of the tree; exits 1 on a survivor that is
# not declared equivalent.
MUTATE = $(PY) scripts/mutate.py --out build/bench/mutation.json

mutate: setup
	$(MUTATE)

clean:
	rm -rf build .pytest_cache .hypothesis
	find . -name __pycache__ -type d -not -path './$(VENV)/*' -prune -exec rm -rf {} +
