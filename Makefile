# Two commands do all the set-up on a fresh machine:
#   make demo   - the demo playbook against the local emulator
#   make test   - lint, type check and the test suite (what CI runs)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: demo test lint typecheck bench docs clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[emulator,dev,docs]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/prefect-defender demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	@mkdir -p .typecheck/prefect_defender
	@for d in api blocks tasks flows deployments emulator cli; do ln -sfn ../../$$d .typecheck/prefect_defender/$$d; done
	@ln -sfn ../../package/__init__.py .typecheck/prefect_defender/__init__.py
	@ln -sfn ../../package/py.typed .typecheck/prefect_defender/py.typed
	MYPYPATH=.typecheck $(BIN)/mypy -p prefect_defender

test: lint typecheck
	./scripts/system-deps.sh
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python -m pip install -q -e ".[bench]"
	$(BIN)/python benchmarks/run.py

# the docs site into site/; docs/hooks.py makes the .typecheck tree Griffe reads
docs: $(STAMP)
	$(BIN)/python -m pip install -q -e ".[docs]"
	NO_MKDOCS_2_WARNING=1 DISABLE_MKDOCS_2_WARNING=true $(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) .typecheck .demo .emulator
