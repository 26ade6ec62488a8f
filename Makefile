# newsflow: every target bootstraps its own virtualenv (.venv) from pyproject.toml,
# installing the exact versions in requirements/constraints.txt.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run demo test test-faults test-faults-quick test-slow lint types check format clean

$(STAMP): pyproject.toml requirements/constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		-c requirements/constraints.txt -e '.[dev,embedded,bench]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)  ## start Redis (embedded unless REDIS_URL), a worker and the poller
	$(BIN)/newsflow run

demo: $(STAMP)  ## the whole pipeline against a bundled sample site
	$(BIN)/newsflow demo

test: $(STAMP)  ## the test suite (real redis-server, real Celery workers, local HTTP)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

test-faults: $(STAMP)  ## fault injection at full size (1,000 articles per fault, F-19 for 5 min; NEWSFLOW_F19_MINUTES=20 for the plan)
	NEWSFLOW_FAULTS_FULL=1 $(BIN)/python -m pytest tests/processes/test_faults.py -s -p no:cacheprovider $(PYTEST_ARGS)

test-faults-quick: $(STAMP)  ## the fault suite at the sizes `make test` runs it (CI runs it again on Redis 6.2)
	$(BIN)/python -m pytest tests/processes/test_faults.py -s -p no:cacheprovider $(PYTEST_ARGS)

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff format --check pipeline workers bench tests scripts
	$(BIN)/ruff check pipeline workers bench tests scripts
	$(BIN)/lint-imports

types: $(STAMP)
	$(BIN)/mypy

check: lint types test

format: $(STAMP)
	$(BIN)/ruff format pipeline workers bench tests scripts
	$(BIN)/ruff check --fix pipeline workers bench tests scripts

clean:
	rm -rf $(VENV) .newsflow .pytest_cache .mypy_cache .ruff_cache
