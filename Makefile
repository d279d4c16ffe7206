# mab's build, tests and demo. `make test` is what CI runs.
SHELL := /bin/bash
GO ?= go
ENV_FILE := .e2e/env
REGISTRY = $$MAB_TEST_REGISTRY
STATICCHECK_VERSION := v0.8.2

.PHONY: build unit test e2e-up e2e-down demo bench lint clean

build: ## build bin/mab
	$(GO) build -o bin/mab ./cmd/mab

unit: ## the unit suite: no daemon, no root
	$(GO) test -short ./...

e2e-up: ## install and start buildkitd, a registry, QEMU handlers and a base image
	bash internal/testenv/up.sh

e2e-down: ## stop what e2e-up started
	bash internal/testenv/down.sh

lint: ## gofmt, go vet and staticcheck (pinned, run through go run): seconds, no daemon
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt -w these files:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

test: e2e-up ## unit and end-to-end tests against the real environment
	source $(ENV_FILE) && $(GO) test -count=1 -timeout 40m ./...

demo: e2e-up build ## build examples/hello for three platforms and inspect it
	source $(ENV_FILE) && ./bin/mab build --insecure --progress plain \
	  --platform linux/amd64,linux/arm64,linux/arm/v7 \
	  --build-arg BASE=$(REGISTRY)/busybox:latest \
	  -t $(REGISTRY)/hello:demo examples/hello && \
	./bin/mab inspect --insecure $(REGISTRY)/hello:demo

bench: e2e-up ## benchmarks (figures in README.md): unit ones, then whole builds and the matrix merge, 5 samples each
	$(GO) test -short -run '^$$' -bench . -benchmem ./...
	source $(ENV_FILE) && $(GO) test -run '^$$' -bench 'Build|MatrixMerge|BigContext' -benchtime 1x -count 5 ./internal/e2e | tee .e2e/bench.txt
	bash internal/testenv/medians.sh .e2e/bench.txt

clean:
	rm -rf bin
