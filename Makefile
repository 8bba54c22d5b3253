# The project's commands. `make test` is what CI runs (.ci/run) and what the README
# promises: it installs what it needs, checks generated code, lints, and runs every test.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

BUF         := go tool -modfile=buf.tool.mod buf
STATICCHECK := go run honnef.co/go/tools/cmd/staticcheck@v0.8.2
SUDO        := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
GO_PKGS     := ./...

.PHONY: all deps generate check-generate lint test bench run build

all: build

## deps: install what tests need (Debian's memcached, Chromium and git, the web UI's npm packages)
deps:
	@command -v git >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq git; }
	@command -v memcached >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq memcached; }
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }
	@[ webui/node_modules/.package-lock.json -nt webui/package-lock.json ] || npm ci --prefix webui --no-audit --no-fund

## generate: regenerate Go and TypeScript code from proto/ (local plugins only), then the web UI's bundle
generate: deps
	$(BUF) generate
	cp gen/apidocs/API-REFERENCE.md docs/API-REFERENCE.md
	go run ./apidocs/internal/openapigen -doc gen/apidocs/testing.doc.json -out apidocs/openapi.json
	npm run build --prefix webui

## check-generate: fail when the committed generated code (web UI bundle, API docs) differs from a fresh generation
GENERATED := gen webui/src/gen webui/dist docs/API-REFERENCE.md apidocs/openapi.json
check-generate: generate
	@if [ -n "$$(git status --porcelain -- $(GENERATED))" ]; then \
		echo "generated code or API docs are out of date; run 'make generate' and commit:"; \
		git status --porcelain -- $(GENERATED); git --no-pager diff --stat -- $(GENERATED); exit 1; fi

## lint: go vet, staticcheck, buf lint, buf format
lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' | grep -v '^gen/'))" || { echo "not gofmt-formatted:"; gofmt -l $$(git ls-files '*.go' | grep -v '^gen/'); exit 1; }
	go vet $(GO_PKGS)
	$(STATICCHECK) $(GO_PKGS)
	$(BUF) lint
	$(BUF) format -d --exit-code

## test: the whole suite, as CI runs it
test: deps check-generate lint
	go test -race -count=1 $(GO_PKGS)
	npm test --prefix webui
	go build -o bin/testingd ./cmd/testingd
	go build -o bin/e2eserver ./internal/e2eserver
	TESTINGD_BIN=$(CURDIR)/bin/testingd E2ESERVER_BIN=$(CURDIR)/bin/e2eserver npm run e2e --prefix webui

## bench: the benchmarks behind docs/BENCHMARKS.md
bench:
	./scripts/bench.sh

## build: the server and the CLI in bin/
build:
	go build -o bin/testingd ./cmd/testingd
	go build -o bin/testingctl ./cmd/testingctl

## run: the service on 127.0.0.1:8080 with dev auth and the state file in this directory
run:
	go run ./cmd/testingd
