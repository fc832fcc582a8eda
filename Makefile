# batchwatch: the entry points a developer and CI use.
#
#   make test      everything CI runs: vet, unit and fuzz-seed tests, generated
#                  files up to date, promtool rule tests, end-to-end tests
#   make demo      local control plane, sample workloads, batchwatch and Prometheus
#   make generate  rewrite the rules, PrometheusRule, dashboards and docs/metrics.md

GO ?= go

.PHONY: all build test vet unit generate generate-check test-rules tools e2e bench demo

all: build

build:
	$(GO) build -o bin/batchwatch ./cmd/batchwatch

test: vet unit generate-check test-rules e2e

vet:
	@unformatted="$$(gofmt -l $$(git ls-files '*.go'))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags e2e ./test/...

# Unit tests; the fuzz tests run their seed corpora here.
unit:
	$(GO) test -count=1 ./...

generate:
	$(GO) run ./cmd/batchwatch generate

generate-check:
	$(GO) run ./cmd/batchwatch generate --check

test-rules:
	hack/test-rules.sh

tools:
	hack/tools.sh

e2e: tools
	$(GO) test -count=1 -tags e2e -timeout 40m ./test/e2e/...

bench:
	$(GO) test -run '^$$' -bench BenchmarkScrape -benchtime 5x ./internal/kube

demo: tools build
	$(GO) run -tags e2e ./test/e2e/cmd/demo
