// Package builder drives BuildKit for mab: it dials an endpoint, asks its
// workers which platforms they run, and builds one Dockerfile once per
// platform through the built-in dockerfile.v0 frontend, every solve in one
// shared session so the context is sent once. Each solve pushes its image
// under its own arch tag and reports the digest from the exporter response.
//
// It knows nothing of registries beyond the names it hands to BuildKit, and
// nothing of binfmt_misc: the merge and emulation packages own those.
package builder
