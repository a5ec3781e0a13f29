# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
SAMPLE := data_samples/sample
OUT    := out/demo

.PHONY: demo test install sample clean-out

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,spark]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/linkage demo --sample $(SAMPLE) --out $(OUT)

test: install
	$(BIN)/python -m pytest

# Regenerate the committed sample (deterministic for the seed).
sample: install
	$(BIN)/linkage synth --residents 20000 --wanted 500 --seed 20251126 --out $(SAMPLE)

clean-out:
	rm -rf out
bench-peers: install ; bench/peers/run  # ours vs Splink and recordlinkage (docs/benchmarks.md, "Peers")
