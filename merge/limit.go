package merge

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// The read limits. Every response body mab reads passes through limitBody,
// in the transport, so no read of a manifest, an index, a config, a token
// or an error body can be larger than these, whichever function of
// go-containerregistry makes it (its own limit is 100 MiB).
const (
	// MaxManifestSize is the largest manifest or index mab reads or writes
	// (4 MiB), the limit registries apply to what they accept.
	MaxManifestSize = 4 << 20
	// MaxConfigSize is the largest image config mab reads (8 MiB). A config
	// lists the image's history and environment; BuildKit's are a few KiB.
	MaxConfigSize = 8 << 20
)

// blobLimitKey marks a context whose blob reads are configs, limited to the
// value's size. Calls that read only manifests and configs (Assemble,
// Verify, Inspect, the reads of Merge) carry it; the copying of layers
// does not.
type blobLimitKey struct{}

// configsOnly returns ctx with blob reads limited to MaxConfigSize.
func configsOnly(ctx context.Context) context.Context {
	return context.WithValue(ctx, blobLimitKey{}, int64(MaxConfigSize))
}

// readLimit is the largest body mab reads in answer to req, and what the
// body is, for the error; 0 means no limit (a layer being copied).
func readLimit(req *http.Request) (int64, string) {
	if isBlobTransfer(req) {
		if n, ok := req.Context().Value(blobLimitKey{}).(int64); ok {
			return n, "config"
		}
		return 0, ""
	}
	if strings.Contains(req.URL.Path, "/manifests/") {
		return MaxManifestSize, "manifest"
	}
	return MaxManifestSize, "response"
}

// TooLargeError is a manifest, index or config over mab's read limit (see
// MaxManifestSize, MaxConfigSize), or an index mab would write over
// MaxManifestSize. It matches ErrTooLarge.
type TooLargeError struct {
	// What is "manifest", "config", "index" or "response".
	What string
	// Where is the registry and path it was read from, or the tag an
	// index was for.
	Where string
	// Size is the size declared or read so far (at least Limit+1), -1 when unknown.
	Size int64
	// Limit is the limit it is over, in bytes.
	Limit int64
}

// Error implements error.
func (e *TooLargeError) Error() string {
	size := "more than"
	if e.Size >= 0 {
		size = fmt.Sprintf("%d bytes,", e.Size)
	}
	return fmt.Sprintf("%v: %s at %s is %s over the limit of %d bytes", ErrTooLarge, e.What, Printable(e.Where), size, e.Limit)
}

// Unwrap lets errors.Is find ErrTooLarge.
func (e *TooLargeError) Unwrap() error { return ErrTooLarge }

// limitBody refuses resp when it declares a body over req's limit, and
// otherwise makes its body fail with a *TooLargeError at the first byte
// over it.
func limitBody(req *http.Request, resp *http.Response) (*http.Response, error) {
	limit, what := readLimit(req)
	if limit <= 0 {
		return resp, nil
	}
	where := req.URL.Host + req.URL.Path
	if resp.ContentLength > limit {
		resp.Body.Close()
		return nil, &TooLargeError{What: what, Where: where, Size: resp.ContentLength, Limit: limit}
	}
	resp.Body = &limitedBody{ReadCloser: resp.Body, left: limit, err: &TooLargeError{What: what, Where: where, Size: -1, Limit: limit}}
	return resp, nil
}

// limitedBody reads at most left bytes, then fails with err.
type limitedBody struct {
	io.ReadCloser
	left int64
	err  error
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, b.err
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n + int(b.left), b.err
	}
	return n, err
}
