package merge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"
)

// retrying is the transport under authentication: it refuses plain HTTP
// where the Client was not made WithInsecure, and retries what a registry
// or the network may fix by itself (408, 429, 5xx, dropped connections).
//
// Why not go-containerregistry's own retries (transport.NewRetry, tuned by
// remote.WithRetryBackoff): they wait a fixed backoff (1s then 3s, three
// tries by default) and never read Retry-After, so a registry that
// rate-limits with 429 and says how long to wait is asked again too soon,
// and the attempts run out while the limit still holds. They are not
// stacked on mab's: go-containerregistry wraps no retries around the
// *transport.Wrapper mab hands it (see session.go), so every attempt goes
// through here, once.
type retrying struct {
	inner    http.RoundTripper
	insecure bool
	attempts int
	backoff  time.Duration
	maxWait  time.Duration
}

// RoundTrip implements http.RoundTripper.
func (t *retrying) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !t.insecure && !isLoopback(req.URL.Hostname()) {
		return nil, fmt.Errorf("%w to %s (not a loopback registry)", ErrPlainHTTP, req.URL.Host)
	}
	for attempt := 1; ; attempt++ {
		resp, err := t.inner.RoundTrip(req)
		wait, again := t.retryAfter(req, resp, err, attempt)
		if !again {
			return resp, err
		}
		if resp != nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		if err := sleep(req.Context(), wait); err != nil {
			return nil, err
		}
		if req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, fmt.Errorf("replaying request body: %w", err)
			}
			req = req.Clone(req.Context())
			req.Body = body
		}
	}
}

// retryAfter says whether the outcome of attempt is worth another one,
// and how long to wait before it.
func (t *retrying) retryAfter(req *http.Request, resp *http.Response, err error, attempt int) (time.Duration, bool) {
	if attempt >= t.attempts || req.Context().Err() != nil || !replayable(req) {
		return 0, false
	}
	backoff := t.backoff << (attempt - 1)
	if err != nil {
		return backoff, dropped(err)
	}
	switch code := resp.StatusCode; {
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests, code >= 500 && code != http.StatusNotImplemented && code != http.StatusHTTPVersionNotSupported:
	default:
		return 0, false
	}
	if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
		return d, d <= t.maxWait
	}
	return backoff, true
}

// parseRetryAfter reads a Retry-After value: seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(at.Sub(now), 0), true
	}
	return 0, false
}

// replayable reports whether req can be sent again: no body, or one that
// GetBody recreates (manifests are; streamed blob chunks are not).
func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// dropped reports whether err is a connection that broke or timed out, as
// opposed to one that could not be made (refused, no such host).
func dropped(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
