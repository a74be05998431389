# poolside: make run (the server) and make test (the whole suite) are the
# two commands a newcomer needs. Everything else is listed by `make help`.

GO        ?= go
BIN       := $(CURDIR)/bin
POOLSIDE  := $(BIN)/poolside
FUZZTIME  ?= 10s
# Pinned so that lint gives the same answer everywhere.
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(BIN)/staticcheck-$(STATICCHECK_VERSION)
# toxiproxy-cli, the peer of poolside proxy's toxiproxy API in the tests,
# is built into a cache outside the repository.
TOOLS_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/poolside
TOXIPROXY_DIR := $(TOOLS_CACHE)/toxiproxy-v2.5.0

# Native fuzz targets, as package:FuzzName.
FUZZ_TARGETS := \
	./wire:FuzzReadFrame ./wire:FuzzReadFrameUint32 ./wire:FuzzDecodeRequest ./wire:FuzzDecodeReply \
	./wire:FuzzValidRoom ./faults:FuzzParseSpec ./robustness:FuzzFaultSchedule

.PHONY: help build run test race bench bench-postgres bench-store bench-pool bench-proxy fuzz lint check-imports check-haproxy robustness clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

build: ## build bin/poolside
	$(GO) build -o $(POOLSIDE) ./cmd/poolside

run: build ## serve the Building Services protocol on 127.0.0.1:9407 (durable store ./poolside.db)
	$(POOLSIDE) serve

test: ## run every test with the race detector, fuzz seed corpora included (installs PostgreSQL and toxiproxy-cli for their tests when it can)
	@scripts/ensure-postgres.sh
	@scripts/ensure-toxiproxy.sh $(TOXIPROXY_DIR)
	POOLSIDE_TOXIPROXY_CLI=$(TOXIPROXY_DIR)/cli $(GO) test -race -count=1 -timeout 10m ./...

race: ## run the tests three times over with the race detector, to shake out rare races
	$(GO) test -race -count=3 -timeout 20m ./...

bench: ## run the go test benchmarks (pool hand-off, codec, stores, models)
	$(GO) test -run '^$$' -bench . -benchmem -timeout 30m ./...

bench-postgres: ## serve --store postgres against pgbench's insert rate, and 3 instances against 1 (throwaway cluster; ROUNDS=3)
	scripts/bench-postgres.sh $(or $(ROUNDS),3)

bench-store: ## serve's default store (bbolt + journal) against pgbench's prepared INSERT and the same INSERT from Go (cmd/pginsert), 1 and 32 clients, same disk, with CPU per write, medians (throwaway cluster; ROUNDS=5, DURATION=5s)
	scripts/bench-store.sh $(or $(ROUNDS),5)

bench-pool: ## the pool model's hand-off against a goroutine per connection, load generator in its own process (ROUNDS=5, DURATION=4s), medians
	scripts/bench-pool.sh $(or $(ROUNDS),5)

bench-proxy: ## poolside proxy against HAProxy in front of the same server (needs haproxy; ROUNDS=5, DURATION=4s), medians
	scripts/bench-proxy.sh $(or $(ROUNDS),5)

robustness: ## the full robustness suite: every model x fault x direction at several offsets, more clients, 40 random schedules, and poolside check's nemesis runs for 30 s each (race on)
	POOLSIDE_ROBUSTNESS=full $(GO) test -race -count=1 -timeout 30m ./robustness
	POOLSIDE_ROBUSTNESS=full $(GO) test -race -count=1 -timeout 30m -run '^TestCheckWithNemesis$$' ./cmd/poolside

fuzz: ## run each fuzz target for FUZZTIME (default 10s), e.g. make fuzz FUZZTIME=60s
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "== $$name ($$pkg, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

lint: check-imports $(STATICCHECK) ## gofmt, go vet, staticcheck and the import rule
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

check-imports: ## enforce the one-way import rule (README, Layout)
	$(GO) run ./internal/checkimports

check-haproxy: ## check docs/haproxy/poolside.cfg with haproxy -c (skipped when haproxy is not installed)
	@if command -v haproxy >/dev/null 2>&1; then \
		echo "haproxy -c -f docs/haproxy/poolside.cfg"; haproxy -c -f docs/haproxy/poolside.cfg; \
	else \
		echo "check-haproxy: skipped, haproxy is not installed (Debian/Ubuntu: apt-get install -y haproxy)"; \
	fi

$(STATICCHECK):
	@mkdir -p $(BIN)
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(BIN)/staticcheck $@

clean: ## remove build output
	rm -rf $(BIN)
