# axis — the two commands a newcomer needs are `make run` and `make test`.
GO       ?= go
BIN      := bin/axis
DATA     ?= .axis
FUZZTIME ?= 30s
BENCHCOUNT ?= 1
export CGO_ENABLED ?= 1

.PHONY: help build run test test-faults test-diskfull fuzz bench bench-e2e bench-rss lint clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/axis
	$(GO) build -o $(BIN) ./cmd/axis

run: build ## create the dev PKI if missing and run the development demo/daemon
	DATA=$(DATA) BIN=$(BIN) ./scripts/run.sh

test: lint ## vet, gofmt, and every test with the race detector
	$(GO) test -race -count=1 -timeout 15m ./...
	@# The race detector's shadow memory leaves no room for an address-space limit: the
	@# tests that set one run again without it.
	$(GO) test -count=1 -run 'AddressSpaceLimit' ./store

test-faults: ## the fault suite at full size: kill -9 x5 over 10,000 packages, 30 s broker outage, store write faults, 10,000 bad inputs, a 2-minute slow consumer
	AXIS_FAULTS=full $(GO) test -count=1 -timeout 40m -run '^TestFault' -v ./axis/e2e

test-diskfull: ## as root: a real full disk (a 160 MiB tmpfs as the data directory), then freed; the axis recovers by itself
	AXIS_DISKFULL=1 $(GO) test -count=1 -timeout 10m -run '^TestDiskFullRecovers$$' -v ./axis/e2e

fuzz: ## run every fuzz target for FUZZTIME each
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; done

bench: ## run the micro-benchmarks
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCHCOUNT) ./...

bench-e2e: ## daemon + embedded broker + axis loadgen on this machine (N, SIZE, RECIPIENTS, RATE, ECDSA, SERVE_ARGS)
	GO=$(GO) BIN=$(BIN) ./scripts/bench-e2e.sh

bench-rss: ## the daemon's memory over ROUNDS x N packages (default 10 x 20,000) through one daemon
	GO=$(GO) BIN=$(BIN) ./scripts/bench-rss.sh

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean: ## remove build output and the development data dir
	rm -rf bin $(DATA)
