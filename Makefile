# Roomhub. `make run` serves the app on the embedded default (SQLite file,
# in-process bus) at http://localhost:8080; `make test` installs what the
# tests need and runs them all.
SHELL := /bin/bash
GO    ?= go
BIN   := bin/roomhub
PKGS  := ./...

.PHONY: all build run test test-deps vet tidy fuzz bench bench-load bench-cluster soak load vendor-ui screenshots clean

all: build

# A static binary (no cgo: the SQLite driver is pure Go), stamped with its
# version (git describe) for `roomhub version` and roomhub_build_info.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-X main.version=$(VERSION)' -o $(BIN) ./cmd/roomhub

# Development server: DEBUG on (plain-HTTP cookies, a throwaway secret if
# SECRET_KEY is unset, localhost allowed). Production sets DEBUG=false and
# the variables in .env.example.
run: build
	DEBUG=$${DEBUG:-true} ./$(BIN) serve

test-deps:
	./scripts/test-deps.sh

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)

# go.mod and go.sum must be what `go mod tidy` makes. -e: a test-only
# dependency of modernc.org/sqlite is not served by the module proxy.
tidy:
	@$(GO) mod tidy -e -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy -e"; exit 1; }

test: test-deps tidy vet
	$(GO) test -count=1 -timeout 15m $(PKGS)
	$(GO) test -count=1 -race -timeout 10m ./hub/... ./server/...

# Each fuzz target for a while (FUZZTIME per target).
FUZZTIME ?= 30s
fuzz:
	@for f in FuzzValidateRoom FuzzNormalizeName FuzzParseUID; do \
	  $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) . || exit 1; done
	@for f in FuzzClientIP FuzzHostAllowed FuzzReadMember; do \
	  $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) ./server/ || exit 1; done
	$(GO) test -run '^$$' -fuzz '^FuzzOpen$$' -fuzztime $(FUZZTIME) ./secret/
	$(GO) test -run '^$$' -fuzz '^FuzzParseBearer$$' -fuzztime $(FUZZTIME) ./account/
	@for f in FuzzVerify FuzzPrefixed; do \
	  $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) ./video/ || exit 1; done

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./agora/ ./hub/...

# Load harness (cmd/roomhub-bench): real node processes, real WebSocket
# members over loopback; prints one JSON line (see BENCHMARKS.md).
BENCH_MEMBERS  ?= 10000
BENCH_ROOMS    ?= 50
BENCH_ADMIN_DB ?= postgres://roomhub:roomhub@127.0.0.1:5432/roomhub_test?sslmode=disable
BENCH_REDIS    ?= redis://127.0.0.1:6379/15

bench-load: build
	$(GO) run ./cmd/roomhub-bench -bin $(BIN) -nodes 1 -members $(BENCH_MEMBERS) -rooms $(BENCH_ROOMS)

bench-cluster: build
	./scripts/test-deps.sh
	$(GO) run ./cmd/roomhub-bench -bin $(BIN) -nodes 3 -members 5000 -rooms 50 \
	  -redis '$(BENCH_REDIS)' -db '$(BENCH_ADMIN_DB)'

# Soak (cmd/roomhub-bench -soak): participants churn through one node, each
# leaving one of four ways (delete_member, vanishing, an error close, a TCP
# reset), with a progress line of the node's descriptors, goroutines, live
# heap and RSS every 10 s; fails unless they return to where they started.
# SOAK_REDIS=redis://127.0.0.1:6379/13 runs it on PostgreSQL + Redis (that
# Redis index is flushed). make test runs a short one on both.
SOAK_DURATION ?= 30m
SOAK_REDIS    ?=
soak: build
	./scripts/test-deps.sh
	$(GO) run ./cmd/roomhub-bench -bin $(BIN) -soak $(SOAK_DURATION) $(if $(SOAK_REDIS),-redis '$(SOAK_REDIS)' -db '$(BENCH_ADMIN_DB)')

# k6 against a local server on loopback: every rate-limited path at its
# exact limit, and a WebSocket presence scenario (scripts/load.sh). Builds
# k6 (pinned) into .cache/k6 the first time.
load:
	./scripts/load.sh

vendor-ui:
	./ui/vendor.sh

# The screenshots in docs/, taken by the browser tests in Chromium.
screenshots:
	./scripts/test-deps.sh
	ROOMHUB_SCREENSHOTS=$(CURDIR)/docs $(GO) test -count=1 -run '^TestBrowserLiveRooms$$' ./server/

clean:
	rm -rf bin
