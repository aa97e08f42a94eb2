# memlab: `make run-all` runs every scenario; `make test` runs the whole test suite.
# Both install what they need on a fresh machine: Rust crates through cargo, and a Python
# virtual environment (.venv) with the pinned numpy (and ray, for run-all). `make wheel` builds
# the Python wheel (the memlab binary as a command, plus the `memlab` package from python/).

CARGO ?= cargo
PYTHON ?= python3
MEMLAB := target/release/memlab
RESULTS ?= results
VENV := .venv
VENV_PY := $(VENV)/bin/python

.PHONY: all build venv venv-test run-all test suite-check lint fmt clean \
  python-dev python-test wheel-tools wheel wheel-check

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

venv-test: $(VENV)/.numpy python-dev
venv: $(VENV)/.all python-dev

# The checkout's python/ on the .venv's sys.path through a .pth file, so that `import memlab`
# there is the checkout's python/memlab, edits included. Nothing is compiled: `pip install -e .`
# and `maturin develop` would build the Rust binary a second time just for this.
python-dev: $(VENV)/.numpy
	@echo "$(CURDIR)/python" > "$$($(VENV_PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/memlab-checkout.pth"

# The Python package's tests: the marker client against a fake memlab, under the .venv's Python
# and, as a script, under every other CPython >= 3.8 found (missing versions are skipped); the
# pytest plugin against the release memlab (python/tests/test_pytest_plugin.py runs the example
# tests of experiments/pytest_example/ and asserts each outcome).
python-test: venv-test build
	$(VENV_PY) -m pytest -q -rs python/tests

# maturin, pinned, builds the wheel.
$(VENV)/.maturin: $(VENV)/.numpy python/requirements-build.txt
	$(VENV_PY) -m pip install --quiet --disable-pip-version-check -r python/requirements-build.txt
	touch $@
wheel-tools: $(VENV)/.maturin

# target/wheels/memlab-VERSION-py3-none-linux_ARCH.whl: the release binary as the `memlab`
# command, and python/memlab. A local build is not audited for manylinux (its glibc is this
# machine's): the wheel gets the plain `linux` tag, which pip installs here. The same release
# profile and flags as `make build`, so cargo reuses target/release; maturin strips its copy of
# the binary (5 MiB instead of 44 MiB with the profile's debug info), not target/release's.
WHEEL_DIR := target/wheels
wheel: $(VENV)/.maturin
	rm -f $(WHEEL_DIR)/memlab-*.whl
	$(VENV)/bin/maturin build --release --locked --strip --auditwheel skip --compatibility linux \
	  --out $(WHEEL_DIR)

# Installs the wheel into a fresh venv and checks, from outside the checkout, that `memlab
# --version` runs and `import memlab` is the installed package; then the pytest plugin's tests
# run there: the plugin loaded by its entry point, memlab the wheel's. pytest and numpy come
# from the .venv's site-packages, appended to the fresh venv's path by a .pth file (nothing to
# download; the .venv's own .pth files, the checkout's package among them, are not read there).
WHEEL_CHECK := target/wheel-check
WHEEL_CHECK_PY := $(CURDIR)/$(WHEEL_CHECK)/venv/bin/python
wheel-check: wheel venv-test
	rm -rf $(WHEEL_CHECK)
	$(PYTHON) -m venv --without-pip $(WHEEL_CHECK)/venv
	$(VENV_PY) -m pip --python $(WHEEL_CHECK)/venv/bin/python install --quiet \
	  --disable-pip-version-check --no-index --no-deps $(WHEEL_DIR)/memlab-*.whl
	$(VENV_PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' \
	  > "$$($(WHEEL_CHECK_PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/test-tools.pth"
	mkdir -p $(WHEEL_CHECK)/elsewhere
	cd $(WHEEL_CHECK)/elsewhere && env -u PYTHONPATH -u MEMLAB_BIN $(WHEEL_CHECK_PY) \
	  $(CURDIR)/python/tests/check_installed_wheel.py
	cd $(WHEEL_CHECK)/elsewhere && env -u PYTHONPATH -u MEMLAB_BIN PATH=/usr/bin:/bin \
	  $(WHEEL_CHECK_PY) -m pytest -q -rs -p no:cacheprovider \
	  $(CURDIR)/python/tests/test_pytest_plugin.py

# Every scenario at its default size (the `all` suite), the Python version matrix, the scans,
# then the report: results/*.json, results/report.html and report.md, plots/*.svg and *.png.
# A broken claim (exit 3) is reported and the run goes on; any other failure stops it.
OBJECT_SIZES := 16,64,256,1KiB,4KiB,16KiB,64KiB,256KiB,1MiB
run-all: build venv
	@mkdir -p $(RESULTS) plots
	@status=0; step() { "$$@"; code=$$?; 	  if [ $$code -eq 3 ]; then status=3; elif [ $$code -ne 0 ]; then exit $$code; fi; }; 	step $(MEMLAB) suite --suite all --check --out $(RESULTS); 	step $(MEMLAB) matrix --out $(RESULTS); 	step $(MEMLAB) scan refcount-objsize --param object-size=$(OBJECT_SIZES) --out $(RESULTS); 	step $(MEMLAB) scan array-read --param children=1,2,4,8 --out $(RESULTS); 	step $(MEMLAB) scan refcount-list --param children=1,2,4,8 --out $(RESULTS); 	step $(MEMLAB) report $(RESULTS) --out $(RESULTS) --plots plots; 	echo "results in $(RESULTS)/, report in $(RESULTS)/report.html, charts in plots/"; exit $$status

test: lint suite-check python-test wheel-check
	$(CARGO) test --release --locked

# memlab's own regression gate (docs/ci.md): the quick suite with --check (every claim must
# hold), run twice; the first run saved as a baseline, the second compared with it (exit 3 on
# a regression between two runs of the same code: the comparison rule must not cry wolf).
SUITE_CHECK := target/suite-check
suite-check: build venv-test
	rm -rf $(SUITE_CHECK)
	$(MEMLAB) suite --suite quick --check --python $(CURDIR)/$(VENV_PY) --out $(SUITE_CHECK)/first
	$(MEMLAB) suite --suite quick --check --python $(CURDIR)/$(VENV_PY) --out $(SUITE_CHECK)/second
	$(MEMLAB) baseline save $(SUITE_CHECK)/baseline $(SUITE_CHECK)/first
	@$(MEMLAB) compare $(SUITE_CHECK)/baseline $(SUITE_CHECK)/second \
	  --markdown $(SUITE_CHECK)/compare.md > $(SUITE_CHECK)/compare.txt; code=$$?; \
	  if [ $$code -ne 0 ]; then cat $(SUITE_CHECK)/compare.txt; exit $$code; fi; \
	  echo "compare: $$(tail -n 1 $(SUITE_CHECK)/compare.txt) (full report: $(SUITE_CHECK)/compare.txt, .md)"

lint: venv-test
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --locked --all-targets -- -D warnings
	$(VENV_PY) -m pyflakes experiments
	$(VENV_PY) -m pyflakes python

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
	rm -rf $(RESULTS)/*.json $(RESULTS)/*.txt $(RESULTS)/*.log $(RESULTS)/matrix $(RESULTS)/scans $(RESULTS)/report.* plots/*.svg plots/*.png $(VENV)
