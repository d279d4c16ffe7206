# mab's own image, built by mab: `make image` (see README, "mab's own image").
#
# The Go build runs on the builder's own platform ($BUILDPLATFORM) and
# cross-compiles for each target, so no step of any platform is emulated;
# the final stage is scratch with mab, CA certificates and an empty /tmp.
#
# Go modules: a context with a vendor/ folder (what `make image` makes, from
# the host's module cache, so the build needs no network) is built from it;
# a plain checkout downloads them through the Go module proxy, into a cache
# mount that later builds reuse, as they reuse Go's build cache.
#
# CA certificates: ca-certificates.crt at the top of the context when there
# is one (`make image` copies the host's bundle), else the build image's.

ARG GO_IMAGE=golang:1.26-bookworm

FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
ARG TARGETOS TARGETARCH TARGETVARIANT
ARG VERSION=dev COMMIT=unknown DATE=unknown
# GOCACHE outside /root/.cache/go-build (e.g. /tmp/go-build) compiles
# everything anew, whatever earlier builds left in the cache mount.
ARG GOCACHE=/root/.cache/go-build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    echo "mab: compiling on $(uname -m) for $TARGETOS/$TARGETARCH${TARGETVARIANT:+/$TARGETVARIANT}" && \
    GOCACHE=$GOCACHE CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH GOARM=${TARGETVARIANT#v} \
    go build -trimpath \
      -ldflags "-s -w -X main.version=$VERSION -X main.commit=$COMMIT -X main.date=$DATE" \
      -o /out/mab ./cmd/mab && \
    mkdir -p /out/etc/ssl/certs /out/tmp && chmod 1777 /out/tmp && \
    if [ -f ca-certificates.crt ]; then cp ca-certificates.crt /out/etc/ssl/certs/; \
    else cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/; fi

FROM scratch
COPY --from=build /out/ /
# The Docker config is read from $HOME/.docker (mount it read-only there,
# or pass --config / $DOCKER_CONFIG).
ENV HOME=/root
ENTRYPOINT ["/mab"]
