# orbital — perpetual end-to-end tests for event pipelines.
# `make run` starts the service on the embedded default; `make test` is what CI runs.

GO       ?= go
PKGS     ?= ./...
BENCHTIME ?= 1s

.PHONY: npm run test vet fmt-check lint unit load-ci fuzz-ci deploy-check bench bench-sched cover load soak fuzz vulncheck vulncheck-ci mutate

## run: the main job — the e2e service on the embedded default (no Kafka, no config)
run: npm
	$(GO) run ./cmd/e2e serve

## test: vet, gofmt check, staticcheck, the race-enabled test suite, a CI-sized load run,
## every fuzz target for a bounded time, and the deploy/ checks
test: npm vet fmt-check lint vulncheck-ci unit load-ci fuzz-ci deploy-check

## npm: Segment's JavaScript clients, from the npm registry by the names and exact versions that
## tests/package.json and tests/package-lock.json pin (@segment/analytics-next 1.84.3, the
## browser suite's analytics.js; @segment/analytics-node 3.1.0, checked by the compatibility
## test), installed into tests/node_modules (gitignored) with npm ci, again only when the lock
## file changes. Without npm it says what that leaves out: the browser suite falls back to the
## example pipeline's snippet and analytics-node is not checked.
NPM ?= npm
npm:
	@if command -v $(NPM) >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory tests/node_modules/.package-lock.json; \
	else echo "npm: NOT INSTALLED - the browser suite falls back to the example pipeline's snippet; analytics-node is not checked"; fi

tests/node_modules/.package-lock.json: tests/package.json tests/package-lock.json
	cd tests && $(NPM) ci --no-audit --no-fund --ignore-scripts

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

lint:
	$(GO) tool staticcheck $(PKGS)

unit:
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

## load-ci: e2e on the embedded default at 2,000 traced events/s for 10 s (no race detector:
## it slows the pipeline tenfold); exits non-zero if any event is lost or any run fails
load-ci:
	$(GO) run ./cmd/e2e load --rate 2000 --duration 10s --log-level warn

## load: the same for 60 s (LOAD_RATE, LOAD_DURATION to change)
LOAD_RATE ?= 2000
LOAD_DURATION ?= 60s
load:
	$(GO) run ./cmd/e2e load --rate $(LOAD_RATE) --duration $(LOAD_DURATION) --log-level warn

## soak: the reliability soak for hours (ORBITAL_SOAK=2h make soak); make test runs 60 s of it
soak:
	ORBITAL_SOAK=$${ORBITAL_SOAK:-30m} $(GO) test -count=1 -run '^TestSoak$$' -v -timeout 0 ./reliability/

## fuzz: every fuzz target for FUZZTIME each (fuzz-ci: 20,000 executions each, in make test).
## fuzz-ci counts executions rather than seconds: Go 1.26's fuzz coordinator can fail a run with
## "context deadline exceeded" when a -fuzztime duration ends on a loaded machine
## (golang/go#75804, fixed in Go 1.27); an execution count has no deadline to race.
FUZZTIME ?= 30s
FUZZ_TARGETS = \
	./webhook:FuzzWebhook ./webhook:FuzzJSONField ./webhook:FuzzJSONFieldAgreesWithEncodingJSON \
	./webhook:FuzzHeaderKey ./examples/pipeline:FuzzIngest ./examples/pipeline:FuzzParseFaults \
	./reliability:FuzzCaseOverrides ./cmd/e2e:FuzzParseFlags
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz $${t#*:} ($${t%%:*}) for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) "$${t%%:*}"; \
	done

fuzz-ci:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=20000x

## vulncheck: govulncheck (a go tool dependency) over every package, against VULNDB
VULNDB ?= https://vuln.go.dev
vulncheck:
	$(GO) tool govulncheck -db $(VULNDB) ./...

## vulncheck-ci: the same in make test; where the database cannot be reached at all (a network
## that only reaches the module proxy) it says loudly that nothing was checked instead of failing;
## any finding fails. Point VULNDB at a file:// mirror to check offline.
vulncheck-ci:
	@out=$$($(GO) tool govulncheck -db $(VULNDB) ./... 2>&1); code=$$?; \
	if [ $$code -ne 0 ] && echo "$$out" | grep -q "fetching vulnerabilities"; then \
		echo "govulncheck: NOT CHECKED - vulnerability database $(VULNDB) unreachable ($$(echo "$$out" | tail -1))"; \
	else echo "$$out"; exit $$code; fi

## deploy-check: promtool rule tests, PromQL names against a live /metrics, kustomize and
## compose validation, and the paging proof (real Prometheus and Alertmanager against real
## `e2e serve` instances, ~4 min); deploy/ is its own Go module, whose first build of
## promtool, Prometheus and Alertmanager takes many minutes on a cold cache
deploy-check:
	$(MAKE) -C deploy check

## bench: every benchmark once, with allocation figures
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $(PKGS)

## bench-sched: the scheduler's process CPU per completed run (internal/schedbench): orbital's
## Service, bare time.Ticker goroutines and a model of Segment's original Orbital, as child
## processes alternated in one run, at 10,000 cases @ 1s for 20s and 1,000 cases @ 100ms for
## 20s (SCHED_ROUNDS rounds each; ~1 min per round). Not part of make test (its smoke test is).
SCHED_ROUNDS ?= 5
bench-sched:
	$(GO) run ./internal/schedbench -cases 10000 -period 1s -duration 20s -rounds $(SCHED_ROUNDS)
	$(GO) run ./internal/schedbench -cases 1000 -period 100ms -duration 20s -rounds $(SCHED_ROUNDS)

## cover: race-enabled tests with a coverage profile and summary
cover:
	$(GO) test -race -count=1 -coverprofile=coverage.out $(PKGS)
	$(GO) tool cover -func=coverage.out | tail -1

## mutate: mutation testing with gremlins (a go tool dependency) over the packages where a bug
## costs most; NOT part of make test: it runs a package's tests once per mutant, which takes
## hours on a shared 2-core machine (figures, survivors and timings in TESTING.md).
## MUTATE_PKGS picks packages; MUTATE_WORKERS the parallel mutants (1: the machine is shared);
## MUTATE_FLAGS more gremlins flags (e.g. MUTATE_FLAGS='-E keys\.go' to leave a file out);
## MUTATE_OUT a directory for gremlins' JSON results; MUTATE_TIMEOUT_COEFFICIENT how many times
## the plain test run a mutant may take before it counts as TIMED OUT (a hang, not a survivor).
## Tests run with -count=1 so the timeout is measured on a real run, not a cached one.
## orbital/status and orbital/orbitaltest are left out of ./orbital (not what is measured).
## internal/cluster skips TestThreeReplicas (38 s per mutant) unless MUTATE_FULL=1.
## Do not pass --test-cpu: gremlins v0.6.0 hands "-cpu N" to go test as one argument, the test
## run fails to start and every mutant counts as KILLED.
MUTATE_PKGS ?= ./webhook ./orbital ./examples/pipeline ./internal/cluster
MUTATE_WORKERS ?= 1
MUTATE_TIMEOUT_COEFFICIENT ?= 5
MUTATE_OUT ?=
MUTATE_FULL ?=
MUTATE_FLAGS ?=
mutate:
	@set -e; for p in $(MUTATE_PKGS); do \
		flags=""; goflags="$$GOFLAGS -count=1"; \
		case $$p in \
		./orbital) flags="-E ^status/ -E ^orbitaltest/";; \
		./internal/cluster) [ -n "$(MUTATE_FULL)" ] || goflags="$$goflags -skip=^TestThreeReplicas$$";; \
		esac; \
		if [ -n "$(MUTATE_OUT)" ]; then mkdir -p $(MUTATE_OUT); flags="$$flags -o $(MUTATE_OUT)/$$(basename $$p).json"; fi; \
		echo "== gremlins $$p $$flags GOFLAGS=$$goflags"; start=$$(date +%s); \
		GOFLAGS="$$goflags" nice -n 15 $(GO) tool gremlins unleash --workers $(MUTATE_WORKERS) \
			--timeout-coefficient $(MUTATE_TIMEOUT_COEFFICIENT) $$flags $(MUTATE_FLAGS) $$p; \
		echo "== $$p took $$(( $$(date +%s) - start )) s"; \
	done
