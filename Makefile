# The two commands of the README. Both create .venv on first use.
#   make demo   install, then train a short real benchmark and print its table and figure
#   make test   install with the test extras, then run the test suite
# For development: make test-fast skips the tests marked slow (learning checks, long runs).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
LEDGER ?= marlbench-runs

.PHONY: install demo test test-fast lint bench clean results

# torch first, pinned to the CPU build (any looser requirement pulls several GB of CUDA packages),
# then the package with every extra (SMARTS+SUMO, Atari ROMs, test tools).
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[all]"
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/marlbench preset run quickstart --seeds 2 --jobs 2 --ledger $(LEDGER)
	$(BIN)/marlbench compare --preset quickstart --ledger $(LEDGER)
	$(BIN)/marlbench report --figure learning-curves --preset quickstart --ledger $(LEDGER)

# pytest's exit code 5 (no tests collected) counts as a failure.
test: install
	$(BIN)/python -m pytest -q; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$status

# The suite without the tests marked slow: feedback in about a minute.
test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$status

lint: install
	$(BIN)/ruff check marlbench tests benchmarks
	$(BIN)/ruff format --check marlbench tests benchmarks

# results/README.md (claims, verdicts, CIs, figures) regenerated from the committed ledger.
results: install
	$(BIN)/marlbench results --ledger results/ledger --out results

bench: install
	$(BIN)/python benchmarks/throughput.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
