package merge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// retrying is the transport under authentication: it refuses plain HTTP
// to registries the Client was not allowed to speak it to, applies the
// timeouts of each attempt (see timeout.go) and the read limits (see
// limit.go), and retries what a registry or the network may fix by itself
// (408, 429, 5xx, dropped connections, timeouts).
//
// Why not go-containerregistry's own retries (transport.NewRetry, tuned by
// remote.WithRetryBackoff): they wait a fixed backoff (1s then 3s, three
// tries by default) and never read Retry-After, so a registry that
// rate-limits with 429 and says how long to wait is asked again too soon,
// and the attempts run out while the limit still holds. They are not
// stacked on mab's: go-containerregistry wraps no retrying transport around
// the *transport.Wrapper mab hands it (see session.go), and its writer's
// retry of a whole upload is given the predicate restartable, which
// allows it only for what this transport could not retry itself.
type retrying struct {
	inner    http.RoundTripper
	plain    plainHTTP
	attempts int
	backoff  time.Duration
	maxWait  time.Duration
	idle     time.Duration
	deadline time.Duration
}

// RoundTrip implements http.RoundTripper.
func (t *retrying) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !t.plain.allows(req.URL) {
		return nil, &PlainHTTPError{Host: req.URL.Host}
	}
	for attempt := 1; ; attempt++ {
		resp, err := t.once(req, attempt)
		if rh := (tls.RecordHeaderError{}); err != nil && errors.As(err, &rh) && string(rh.RecordHeader[:]) == "HTTP/" {
			// An HTTPS request answered in plain HTTP (what net/http's
			// client calls ErrSchemeMismatch).
			return nil, &PlainHTTPError{Host: req.URL.Host, Only: true}
		}
		wait, again, err := t.retryAfter(req, resp, err, attempt)
		if !again {
			if err != nil {
				return nil, err
			}
			return limitBody(req, resp)
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

// once is one attempt of req, under its timeouts. A timeout is returned as
// a *TimeoutError.
func (t *retrying) once(req *http.Request, attempts int) (*http.Response, error) {
	r, a := t.startAttempt(req)
	resp, err := t.inner.RoundTrip(r)
	if err != nil {
		a.stop()
		if te := a.timedOut(req, attempts); te != nil {
			return nil, te
		}
		return nil, err
	}
	return a.finish(req, resp, attempts), nil
}

// retryAfter says whether the outcome of attempt is worth another one, and
// how long to wait before it. When it is not, it returns the outcome to
// hand back: a Retry-After longer than the Client waits becomes a
// *RetryAfterError, and an outcome that another attempt might have fixed
// but req's body cannot be sent again is marked for restartable.
func (t *retrying) retryAfter(req *http.Request, resp *http.Response, err error, attempt int) (time.Duration, bool, error) {
	backoff := t.backoff << (attempt - 1)
	if err != nil {
		var te *TimeoutError
		switch {
		case req.Context().Err() != nil || (!dropped(err) && !errors.As(err, &te)):
			return 0, false, err
		case !replayable(req):
			return 0, false, &notReplayedError{err}
		case attempt >= t.attempts:
			return 0, false, err
		}
		return backoff, true, nil
	}
	if !retryable(resp.StatusCode) || req.Context().Err() != nil {
		return 0, false, nil
	}
	if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
		if d > t.maxWait {
			resp.Body.Close()
			return 0, false, &RetryAfterError{Registry: req.URL.Host, Request: req.Method + " " + req.URL.Path, StatusCode: resp.StatusCode, RetryAfter: resp.Header.Get("Retry-After"), Wait: d, MaxWait: t.maxWait}
		}
		backoff = d
	}
	switch {
	case !replayable(req):
		resp.Request = markNotReplayed(cmpRequest(resp.Request, req))
		return 0, false, nil
	case attempt >= t.attempts:
		return 0, false, nil
	}
	return backoff, true, nil
}

// retryable reports whether a response with code may be answered
// differently if asked again.
func retryable(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests ||
		code >= 500 && code != http.StatusNotImplemented && code != http.StatusHTTPVersionNotSupported
}

// RetryAfterError is a registry that answered 429 or 503 (or another
// status worth a retry) with a Retry-After longer than the Client waits
// (see WithRetry): mab does not wait that long, and says so.
type RetryAfterError struct {
	// Registry is the host (and port) that answered.
	Registry string
	// Request is the method and path, e.g. "PUT /v2/app/manifests/1.4".
	Request string
	// StatusCode is the status of the answer, usually 429 or 503.
	StatusCode int
	// RetryAfter is the header as the registry sent it.
	RetryAfter string
	// Wait is how long the registry asked to wait; MaxWait is the longest
	// the Client waits.
	Wait, MaxWait time.Duration
}

// Error implements error.
func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("registry %s answered %s with %d %s and asked to wait %s (Retry-After: %s) before trying again, longer than the %v mab waits",
		e.Registry, e.Request, e.StatusCode, http.StatusText(e.StatusCode), formatWait(e.Wait), Printable(e.RetryAfter), e.MaxWait)
}

// formatWait prints d in seconds (as Retry-After gives it) and, when long,
// as a duration too.
func formatWait(d time.Duration) string {
	if d == math.MaxInt64 {
		return "longer than 292 years"
	}
	s := fmt.Sprintf("%ds", int64(d/time.Second))
	if d >= time.Minute {
		s += " (" + d.Round(time.Second).String() + ")"
	}
	return s
}

// parseRetryAfter reads a Retry-After value: seconds or an HTTP date. A
// number of seconds too large for a time.Duration is the longest one.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if strings.Trim(v, "0123456789") == "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil || s > uint64(math.MaxInt64/int64(time.Second)) {
			return math.MaxInt64, true
		}
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

// notReplayedError is a failure this transport would have retried but for
// a request body it cannot send again (a streamed blob upload).
type notReplayedError struct{ err error }

func (e *notReplayedError) Error() string { return e.err.Error() }
func (e *notReplayedError) Unwrap() error { return e.err }

// notReplayedKey marks the request of a response this transport would
// have retried but for its body; go-containerregistry keeps that request
// in its *transport.Error.
type notReplayedKey struct{}

func markNotReplayed(req *http.Request) *http.Request {
	return req.WithContext(context.WithValue(req.Context(), notReplayedKey{}, true))
}

func cmpRequest(a, b *http.Request) *http.Request {
	if a != nil {
		return a
	}
	return b
}

// restartable is the predicate of go-containerregistry's retry of a whole
// operation (remote.WithRetryPredicate). Its writer restarts a blob upload
// or a manifest PUT when the predicate says so. Every request whose body
// can be sent again was already tried as often as the Client allows here,
// so a second round would multiply the attempts (5 became 10); only a
// failure of a streamed upload, which this transport cannot replay, is
// worth restarting the upload from its beginning.
func restartable(err error) bool {
	var nr *notReplayedError
	if errors.As(err, &nr) {
		return true
	}
	var te *transport.Error
	return errors.As(err, &te) && te.Request != nil && te.Request.Context().Value(notReplayedKey{}) != nil
}

// plainHTTP is who a Client may speak plain HTTP to: loopback registries
// always, every registry when all, and the hosts listed.
type plainHTTP struct {
	all   bool
	hosts []string // HOST or HOST:PORT
}

// allows reports whether plain HTTP to u's host is allowed.
func (p plainHTTP) allows(u *url.URL) bool {
	return p.all || PlainHTTPAllowed(u.Host, p.hosts...)
}

// PlainHTTPAllowed reports whether a Client made with
// WithInsecureRegistries(hosts...) (and without WithInsecure) speaks plain
// HTTP to registry, a HOST or HOST:PORT as in a reference: when it is on
// loopback, or listed — a listed HOST on every port, a listed HOST:PORT
// on that port only. Host names compare without regard to case. A program
// uses it to decide which references to parse with name.Insecure, so that
// it and the Client follow one rule.
func PlainHTTPAllowed(registry string, hosts ...string) bool {
	u := &url.URL{Host: strings.ToLower(registry)}
	host := u.Hostname()
	if isLoopback(host) {
		return true
	}
	for _, h := range hosts {
		e := &url.URL{Host: strings.ToLower(h)}
		if e.Host == u.Host || (e.Port() == "" && e.Hostname() == host) {
			return true
		}
	}
	return false
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
