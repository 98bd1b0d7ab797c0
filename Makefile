# paygraph — the two commands a new machine needs are `make run` and `make test`.
GO ?= go
PKGS = ./...

.PHONY: run test test-postgres generate check-generated lint bench build demo

## run: start paygraph on 127.0.0.1:8080 with an embedded SQLite database.
## The built binary replaces the recipe's shell, so Ctrl-C ends it with its
## graceful shutdown and status 0 (`go run` exits 1 on the signal, which make
## reported as an error). make itself, interrupted too, then stops quietly
## with the shell's usual status for Ctrl-C, 130, as GNU make always does.
run: build
	@exec ./paygraph

## demo: drive every flow end to end through the embedded sandboxes against
## a running `make run` (PAYGRAPH_DEMO_URL, default http://127.0.0.1:8080),
## signing in as its bootstrap admin (PAYGRAPH_DEMO_ADMIN, else
## PAYGRAPH_ADMIN, else admin:change-me-now: start the server with
## `PAYGRAPH_ADMIN=admin:change-me-now make run`)
demo:
	$(GO) run ./internal/demo

## build: build the paygraph binary
build:
	$(GO) build -o paygraph .

## test: the whole suite with the race detector (PostgreSQL tests run when
## PAYGRAPH_TEST_POSTGRES_URL is set)
test:
	$(GO) test -race -count=1 $(PKGS)

## test-postgres: the suite against the local PostgreSQL
test-postgres:
	PAYGRAPH_TEST_POSTGRES_URL=$${PAYGRAPH_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable} \
		$(GO) test -race -count=1 $(PKGS)

## generate: regenerate ent and gqlgen code
generate:
	$(GO) generate ./...

## check-generated: fail if the committed generated code is stale
check-generated: generate
	git diff --exit-code -- ent graph schema gqlgen.yml go.mod go.sum

## lint: gofmt and go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

## bench: load-test paygraph against the raw database floor
bench:
	$(GO) run ./internal/bench
