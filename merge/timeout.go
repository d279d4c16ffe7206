package merge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Why two timeouts, and why neither cuts a layer: a registry that accepts
// the connection and never answers must fail the command, but a layer of
// a few GiB may take many minutes to stream, and no deadline fits both.
// So each attempt of each request has:
//
//   - an idle timeout (WithTimeout's idle, 30s by default): the longest the
//     attempt may go without a byte moving — from the request body sent
//     (or the request made) to the response headers, and between reads of
//     the response body. It is the response-header timeout, and it also
//     catches a transfer that stalls halfway. A streamed layer that keeps
//     moving is never cut.
//   - a deadline (WithTimeout's request, 2 minutes by default) for the
//     whole attempt, headers and body, except blob transfers: the requests
//     under /blobs/ other than HEAD, and the redirects they lead to
//     (storage back ends). Manifests, tags, pings and tokens are small and
//     must not take minutes.
//
// A timed-out attempt is retried like a dropped connection; when the
// attempts run out the error is a *TimeoutError naming the registry.

// errIdle and errDeadline are why an attempt's context was cancelled.
var (
	errIdle     = errors.New("idle timeout")
	errDeadline = errors.New("request deadline")
)

// TimeoutError is a registry that did not answer a request in time, on
// every attempt. It matches ErrTimeout.
type TimeoutError struct {
	// Registry is the host (and port) that did not answer.
	Registry string
	// Request is the method and path, e.g. "GET /v2/app/manifests/1.4".
	Request string
	// After is the timeout that expired: the idle timeout when nothing
	// moved, the request deadline otherwise.
	After time.Duration
	// Idle is true when the idle timeout expired (no response headers, or
	// a body that stopped), false when the whole request took too long.
	Idle bool
	// Attempts is how many attempts timed out or failed.
	Attempts int
}

// Error implements error.
func (e *TimeoutError) Error() string {
	what := "did not complete"
	if e.Idle {
		what = "stopped answering"
	}
	return fmt.Sprintf("%v: registry %s %s %s within %v (%d %s)", ErrTimeout, e.Registry, what, e.Request, e.After, e.Attempts, plural(e.Attempts, "attempt"))
}

// Unwrap lets errors.Is find ErrTimeout.
func (e *TimeoutError) Unwrap() error { return ErrTimeout }

// Timeout reports true, as net.Error does for timeouts.
func (e *TimeoutError) Timeout() bool { return true }

func plural(n int, s string) string {
	if n == 1 {
		return s
	}
	return s + "s"
}

// isBlobTransfer reports whether req may move a layer: a blob request
// other than HEAD, or a redirect (registries redirect blob downloads to
// their storage). Those have no deadline, only the idle timeout.
func isBlobTransfer(req *http.Request) bool {
	return req.Response != nil || (req.Method != http.MethodHead && strings.Contains(req.URL.Path, "/blobs/"))
}

// attempt is the timers of one attempt of a request.
type attempt struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	idle   time.Duration
	limit  time.Duration // the deadline, 0 for none

	mu     sync.Mutex
	timers []*time.Timer
}

// startAttempt returns req under a context that idle and limit cancel, with
// its body, if any, resetting the idle timer as it is read.
func (t *retrying) startAttempt(req *http.Request) (*http.Request, *attempt) {
	ctx, cancel := context.WithCancelCause(req.Context())
	a := &attempt{ctx: ctx, cancel: cancel, idle: t.idle}
	if t.deadline > 0 && !isBlobTransfer(req) {
		a.limit = t.deadline
		a.timers = append(a.timers, time.AfterFunc(t.deadline, func() { cancel(errDeadline) }))
	}
	if t.idle > 0 {
		a.timers = append(a.timers, time.AfterFunc(t.idle, func() { cancel(errIdle) }))
	}
	out := req.WithContext(ctx)
	if req.Body != nil && req.Body != http.NoBody {
		out.Body = &progressBody{ReadCloser: req.Body, a: a}
	}
	return out, a
}

// moved resets the idle timer.
func (a *attempt) moved() {
	if a.idle > 0 {
		a.mu.Lock()
		a.timers[len(a.timers)-1].Reset(a.idle)
		a.mu.Unlock()
	}
}

// stop ends the attempt: its timers stop and its context is released.
func (a *attempt) stop() {
	a.mu.Lock()
	for _, t := range a.timers {
		t.Stop()
	}
	a.mu.Unlock()
	a.cancel(nil)
}

// timedOut returns the *TimeoutError for req if a timer of a, and not the
// caller's context, ended the attempt.
func (a *attempt) timedOut(req *http.Request, attempts int) *TimeoutError {
	cause := context.Cause(a.ctx)
	if req.Context().Err() != nil || (cause != errIdle && cause != errDeadline) {
		return nil
	}
	e := &TimeoutError{Registry: req.URL.Host, Request: req.Method + " " + req.URL.Path, After: a.limit, Attempts: attempts}
	if cause == errIdle {
		e.After, e.Idle = a.idle, true
	}
	return e
}

// finish hands resp to the caller with a body that resets the idle timer
// on each read, fails with a *TimeoutError if a timer fires, and ends the
// attempt when read to its end or closed.
func (a *attempt) finish(req *http.Request, resp *http.Response, attempts int) *http.Response {
	a.moved()
	resp.Body = &timedBody{ReadCloser: resp.Body, a: a, req: req, attempts: attempts}
	return resp
}

// progressBody is a request body that resets the idle timer as the
// transport reads it to send it.
type progressBody struct {
	io.ReadCloser
	a *attempt
}

func (b *progressBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.a.moved()
	return n, err
}

// timedBody is a response body under its attempt's timers.
type timedBody struct {
	io.ReadCloser
	a        *attempt
	req      *http.Request
	attempts int
	once     sync.Once
}

func (b *timedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == nil:
		b.a.moved()
	case err == io.EOF:
		b.once.Do(b.a.stop)
	default:
		if te := b.a.timedOut(b.req, b.attempts); te != nil {
			err = te
		}
	}
	return n, err
}

func (b *timedBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.a.stop)
	return err
}
