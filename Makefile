# memlab: `make run-all` runs every scenario; `make test` runs the whole test suite.
# Both install what they need on a fresh machine: Rust crates through cargo, and a Python
# virtual environment (.venv) with the pinned numpy (and ray, for run-all).

CARGO ?= cargo
PYTHON ?= python3
MEMLAB := target/release/memlab
RESULTS ?= results
VENV := .venv
VENV_PY := $(VENV)/bin/python

.PHONY: all build venv venv-test run-all test lint fmt clean

all: build

build:
	$(CARGO) build --release --locked

# numpy: what the tests need.
$(VENV)/.numpy: experiments/requirements-test.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV_PY) -m pip install --quiet --disable-pip-version-check -r experiments/requirements-test.txt
	touch $@

# ray on top, for run-all. If it cannot be installed here, py-ray-put reports a skip with the reason.
$(VENV)/.all: $(VENV)/.numpy experiments/requirements.txt
	$(VENV_PY) -m pip install --quiet --disable-pip-version-check -r experiments/requirements.txt \
	  || echo "warning: ray could not be installed; py-ray-put will be reported as skipped"
	touch $@

venv-test: $(VENV)/.numpy
venv: $(VENV)/.all

# Every scenario at its default size, then the Python version matrix; results/*.json.
# A claim that does not hold (exit 3) is reported and the run goes on; any other failure stops it.
run-all: build venv
	@mkdir -p $(RESULTS) plots
	@status=0; for scenario in $$($(MEMLAB) list --names); do \
	  echo "== $$scenario"; \
	  $(MEMLAB) scenario $$scenario --out $(RESULTS) > $(RESULTS)/$$scenario.txt 2>$(RESULTS)/$$scenario.log; code=$$?; \
	  sed -n '/^claims/,/^result written/p' $(RESULTS)/$$scenario.txt | grep -E '^  (HOLDS|BROKEN|n/a)|SKIPPED' || grep -E 'SKIPPED' $(RESULTS)/$$scenario.txt; \
	  if [ $$code -eq 3 ]; then status=3; elif [ $$code -ne 0 ]; then cat $(RESULTS)/$$scenario.log; exit $$code; fi; \
	done; \
	echo "== Python version matrix"; \
	$(MEMLAB) matrix --out $(RESULTS); code=$$?; \
	if [ $$code -eq 3 ]; then status=3; elif [ $$code -ne 0 ]; then exit $$code; fi; \
	echo "results in $(RESULTS)/"; exit $$status

test: lint
	$(CARGO) test --release --locked

lint: venv-test
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --locked --all-targets -- -D warnings
	$(VENV_PY) -m pyflakes experiments

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
	rm -rf $(RESULTS)/*.json $(RESULTS)/*.txt $(RESULTS)/*.log $(RESULTS)/matrix $(VENV)
