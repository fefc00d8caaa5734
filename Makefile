# Floe — build, run, test, benchmark.
#
# SQLite's FTS5 full-text index needs the go-sqlite3 build tag sqlite_fts5;
# every target passes it. (A build without it still works: storage falls back
# to FTS4 and logs a warning.)

export PATH := $(PATH):/usr/local/go/bin
TAGS    := sqlite_fts5
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
GO      ?= go

.PHONY: all build run test test-go deps vet fuzz bench clean

all: build

build:
	$(GO) build -tags $(TAGS) -ldflags "$(LDFLAGS)" -o bin/floe ./cmd/floe
	$(GO) build -tags $(TAGS) -o bin/floe-bench ./cmd/floe-bench

# Run Floe on its embedded development default (./data, example.test,
# loopback high ports, self-signed certificate); CONFIG=FILE runs it with
# that config file instead. Ctrl-C (SIGINT) stops it gracefully and make
# ends without an error. The binary is built and exec'ed rather than run
# with `go run`, which exits with status 1 after a SIGINT whatever the
# program's own status (make would print "Error 1" on a clean stop).
RUNBIN ?= bin/floe
run:
	@$(GO) build -tags $(TAGS) -ldflags "$(LDFLAGS)" -o $(RUNBIN) ./cmd/floe
	@exec $(RUNBIN) serve $(if $(CONFIG),--config $(CONFIG))

# Every test: installs what it needs (Go modules; the interop suite's Debian
# packages), vets, then runs all tests with the race detector, shuffled,
# including the interop suite and the kill -9 crash test.
test: deps vet test-go

deps:
	bash .ci/deps.sh
	$(GO) mod download
	# playwright-core for the settings page test (server/interop/browser),
	# from its committed lock file; it drives Debian's chromium.
	npm ci --prefix server/interop/browser --no-audit --no-fund

vet:
	$(GO) vet -tags $(TAGS) ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

test-go:
	$(GO) test -tags $(TAGS) -race -shuffle=on -timeout 30m ./...

# Short coverage-guided fuzzing of every parser (FUZZTIME per target).
FUZZTIME ?= 20s
fuzz:
	bash .ci/fuzz.sh $(FUZZTIME)

# Benchmarks: Go benchmarks plus the floe-bench load tool against a real
# floe, with baselines measured in the same run.
bench:
	bash .ci/bench.sh

clean:
	rm -rf bin
