# Two commands do all the set-up on a fresh machine:
#   make demo   - the demo playbook against the local emulator
#   make test   - lint, type check and the test suite (what CI runs)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
# the oldest Prefect we support, installed with the pins it needs (constraints/prefect-3.8.8.txt)
FLOOR       := .venv-prefect-floor
FLOOR_PINS  := constraints/prefect-3.8.8.txt
FLOOR_STAMP := $(FLOOR)/.installed-$(shell cat pyproject.toml $(FLOOR_PINS) | cksum | cut -d' ' -f1)
# what runs on the floor too: the Prefect server checks, and playbooks paused, approved and run
FLOOR_TESTS := tests/compat tests/flows/test_contain.py

export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: demo test test-floor lint typecheck bench docs clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[emulator,dev,docs]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

$(FLOOR_STAMP): pyproject.toml $(FLOOR_PINS)
	test -x $(FLOOR)/bin/python || $(PYTHON) -m venv $(FLOOR)
	$(FLOOR)/bin/python -m pip install -q --upgrade pip
	$(FLOOR)/bin/python -m pip install -q -e ".[emulator,dev]" -c $(FLOOR_PINS)
	rm -f $(FLOOR)/.installed-*
	touch $(FLOOR_STAMP)

# the whole loop with the Defender XDR API retired in the emulator (as from 1 February 2027)
demo: $(STAMP)
	$(BIN)/prefect-defender demo --retire xdr

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# tests/typecheck: how task calls type-check (wrong calls must be reported; never run)
typecheck: $(STAMP)
	@mkdir -p .typecheck/prefect_defender
	@for d in api blocks tasks flows deployments emulator agents cli; do ln -sfn ../../$$d .typecheck/prefect_defender/$$d; done
	@for f in package/*.py package/py.typed; do ln -sfn ../../$$f .typecheck/prefect_defender/$$(basename $$f); done
	MYPYPATH=.typecheck $(BIN)/mypy -p prefect_defender -p tests.typecheck

# the suite on 3 processes, whole test files each (one emulator per module, one Prefect test
# harness per process); TEST_WORKERS=0 runs it in this process
TEST_WORKERS ?= 3

# Prefect 3.8.8 first (a short run), then the whole suite on what pip resolves today
test: lint typecheck test-floor
	./scripts/system-deps.sh
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

test-floor: $(FLOOR_STAMP)
	$(FLOOR)/bin/python -c "import prefect; assert prefect.__version__ == '3.8.8', prefect.__version__"
	$(FLOOR)/bin/pytest $(FLOOR_TESTS)

bench: $(STAMP)
	$(BIN)/python -m pip install -q -e ".[bench]"
	$(BIN)/python benchmarks/run.py

# the docs site into site/; docs/hooks.py makes the .typecheck tree Griffe reads
docs: $(STAMP)
	$(BIN)/python -m pip install -q -e ".[docs]"
	NO_MKDOCS_2_WARNING=1 DISABLE_MKDOCS_2_WARNING=true $(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) $(FLOOR) .typecheck .demo .emulator
