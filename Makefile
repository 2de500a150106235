# orbital — perpetual end-to-end tests for event pipelines.
# `make run` starts the service on the embedded default; `make test` is what CI runs.

GO       ?= go
PKGS     ?= ./...
BENCHTIME ?= 1s

.PHONY: run test vet fmt-check lint unit deploy-check bench cover

## run: the main job — the e2e service on the embedded default (no Kafka, no config)
run:
	$(GO) run ./cmd/e2e serve

## test: vet, gofmt check, staticcheck, the race-enabled test suite and the deploy/ checks
test: vet fmt-check lint unit deploy-check

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

lint:
	$(GO) tool staticcheck $(PKGS)

unit:
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

## deploy-check: promtool rule tests, PromQL names against a live /metrics, kustomize and
## compose validation (deploy/ is its own Go module; the first build takes a few minutes)
deploy-check:
	$(MAKE) -C deploy check

## bench: every benchmark once, with allocation figures
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $(PKGS)

## cover: race-enabled tests with a coverage profile and summary
cover:
	$(GO) test -race -count=1 -coverprofile=coverage.out $(PKGS)
	$(GO) tool cover -func=coverage.out | tail -1
