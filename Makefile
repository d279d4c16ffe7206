# mab's build, tests and demo. `make test` is what CI runs.
SHELL := /bin/bash
GO ?= go
ENV_FILE := .e2e/env
REGISTRY = $$MAB_TEST_REGISTRY
STATICCHECK_VERSION := v0.8.2

.PHONY: build unit test e2e-up e2e-down demo bench lint clean
.PHONY: release image image-context

# What `mab version` says: git's description of the tree (-dirty when
# modified), the commit, and the build time. go build stamps vcs.* into the
# build info too (-buildvcs=true), which `go version -m bin/mab` shows; it
# cannot in a `git worktree`, where the linked values still stamp.
MAB_VERSION = $$(git describe --tags --always --dirty)
MAB_COMMIT = $$(git rev-parse HEAD)
MAB_DATE = $$(date -u +%Y-%m-%dT%H:%M:%SZ)

build: ## build bin/mab, stamped with its version and commit
	$(GO) build -buildvcs=true -ldflags "-X main.version=$(MAB_VERSION) -X main.commit=$(MAB_COMMIT) -X main.date=$(MAB_DATE)" -o bin/mab ./cmd/mab

release: ## dist/: static binaries for 7 platforms, one archive each, checksums.txt and an SPDX SBOM
	rm -rf dist
	$(GO) run ./internal/release -o dist

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

bench: e2e-up ## benchmarks (figures in README.md): unit ones, then whole builds, the matrix merge and the real project, 5 samples each
	$(GO) test -short -run '^$$' -bench . -benchmem ./...
	source $(ENV_FILE) && $(GO) test -run '^$$' -bench 'Build|MatrixMerge|RealProject|BigContext|Copy' -benchtime 1x -count 5 -timeout 180m ./internal/e2e | tee .e2e/bench.txt
	bash internal/testenv/medians.sh .e2e/bench.txt

# mab's own image (Dockerfile), built by mab for three platforms into the
# environment's registry ($MAB_TEST_REGISTRY/mab:dev, or IMAGE=REF), then read back.
# The context is a copy of the checkout with vendor/ and the host's CA bundle.
IMAGE ?= $(REGISTRY)/mab:dev
IMAGE_PLATFORMS := linux/amd64,linux/arm64,linux/arm/v7
IMAGE_CONTEXT := .e2e/image-context
IMAGE_VERSION = $$(git describe --tags --always --dirty 2>/dev/null || echo dev)
image: e2e-up build image-context ## mab's own 3-platform image, cross-compiled, built by mab into the environment's registry and verified
	source $(ENV_FILE) && \
	  ./bin/mab build --insecure --progress plain --platform $(IMAGE_PLATFORMS) \
	    --build-arg GO_IMAGE=$(REGISTRY)/golang:local \
	    --build-arg VERSION=$(IMAGE_VERSION) --build-arg COMMIT=$$(git rev-parse HEAD) --build-arg DATE=$$(date -u +%Y-%m-%dT%H:%M:%SZ) \
	    -t "$(IMAGE)" $(IMAGE_CONTEXT) && \
	  ./bin/mab inspect --insecure --verify "$(IMAGE)"

image-context: ## the build context of make image: the checkout's files, vendor/ and the host's CA bundle, in .e2e/image-context
	rm -rf $(IMAGE_CONTEXT) && mkdir -p $(IMAGE_CONTEXT)
	git ls-files -z --cached --others --exclude-standard | tar --null --ignore-failed-read -T - -cf - | tar -xf - -C $(IMAGE_CONTEXT)
	cd $(IMAGE_CONTEXT) && $(GO) mod vendor
	cp /etc/ssl/certs/ca-certificates.crt $(IMAGE_CONTEXT)/

clean:
	rm -rf bin
