# paygraph — the two commands a new machine needs are `make run` and `make test`.
GO ?= go
PKGS = ./...

.PHONY: run test test-postgres generate check-generated lint bench bench-postgres bench-live build demo

## run: start paygraph on 127.0.0.1:8080 with an embedded SQLite database.
## The built binary replaces the recipe's shell and, started by make in a
## terminal, takes the terminal's foreground: Ctrl-C reaches paygraph alone,
## which shuts down gracefully and exits 0, and so does make (see
## foreground_linux.go).
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

## bench: load-test paygraph (a child process on SQLite) against the raw
## database floor; BENCHFLAGS passes flags (-duration 5s -clients 32
## -cpuprofile cpu.pprof -allocprofile allocs.pprof -statements)
bench:
	$(GO) run ./internal/bench $(BENCHFLAGS)

## bench-postgres: one and two instances on the local PostgreSQL
## (PAYGRAPH_BENCH_POSTGRES_URL, a fresh schema) beside pgbench
bench-postgres:
	$(GO) run ./internal/bench -mode postgres $(BENCHFLAGS)

## bench-live: 1,000, 5,000 and 10,000 idle WebSocket subscribers, then
## payments whose events reach them all
bench-live:
	$(GO) run ./internal/bench -mode live $(BENCHFLAGS)
