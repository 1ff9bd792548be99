# Every target sets up what it needs: a fresh clone with Python 3.10+ is enough.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint typecheck pytest test-realtime bench demo clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

typecheck: $(STAMP)
	$(BIN)/mypy --strict src tests/typing examples

# Three workers on this machine's two cores: most tests wait on sockets and subprocesses (244 s
# against 288 s with two). A test file runs whole in one worker (module fixtures such as the
# Spark session are made once).
pytest: $(STAMP)
	$(BIN)/python -m pytest -q -n 3 --dist loadfile

test: lint typecheck pytest

# The proofs that take real time by design (90 s of token rotations), outside make test.
test-realtime: $(STAMP)
	$(BIN)/python -m pytest -q -m realtime

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# The main job on the embedded emulator: token expiry, faults, exactly-once read-back.
demo: $(STAMP)
	$(BIN)/snowpipe-stream demo

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
