# memlab: `make run-all` runs every scenario; `make test` runs the whole test suite.
# Both install what they need (Rust dependencies through cargo) on a fresh machine.

CARGO ?= cargo
MEMLAB := target/release/memlab
RESULTS ?= results

.PHONY: all build run-all test lint fmt clean

all: build

build:
	$(CARGO) build --release --locked

# Every scenario at its default size; results/NAME.json for each. A claim that does not hold
# (exit 3) is reported and the suite goes on; any other failure stops it.
run-all: build
	@mkdir -p $(RESULTS) plots
	@status=0; for scenario in $$($(MEMLAB) list --names); do \
	  echo "== $$scenario"; \
	  $(MEMLAB) scenario $$scenario --out $(RESULTS) > $(RESULTS)/$$scenario.txt; code=$$?; \
	  tail -n +1 $(RESULTS)/$$scenario.txt | sed -n '/^claims/,$$p'; \
	  if [ $$code -eq 3 ]; then status=3; elif [ $$code -ne 0 ]; then exit $$code; fi; \
	done; \
	echo "results in $(RESULTS)/"; exit $$status

test: lint
	$(CARGO) test --release --locked

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --locked --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
	rm -f $(RESULTS)/*.json $(RESULTS)/*.txt
