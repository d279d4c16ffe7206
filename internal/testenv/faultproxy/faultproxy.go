// Package faultproxy is a registry proxy for tests that injects faults: in
// front of a real registry, on 127.0.0.1, it answers chosen requests with
// an error status, a 429 with Retry-After, a hang, a dropped connection or
// altered bytes, each for a bounded number of requests, and passes the
// rest through. It logs every request.
//
//	p := faultproxy.New(upstream)
//	defer p.Close()
//	p.Add(faultproxy.Rule{Method: "PUT", Path: `/manifests/1\.4$`, Times: 2, Fault: faultproxy.Status(500)})
//	// reference images at p.Host() instead of upstream
package faultproxy

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Fault is what the proxy does with a request that a rule matches.
type Fault struct {
	name   string
	status int
	header http.Header
	hang   bool
	drop   bool
	alter  func([]byte) []byte
}

// String names the fault, as the request log shows it.
func (f Fault) String() string { return f.name }

// Status answers with code and a registry-style error body.
func Status(code int) Fault {
	return Fault{name: fmt.Sprint(code), status: code}
}

// RetryAfter answers with code (429 or 503) and a Retry-After header of
// after, as sent (seconds or an HTTP date).
func RetryAfter(code int, after string) Fault {
	return Fault{name: fmt.Sprintf("%d Retry-After: %s", code, after), status: code, header: http.Header{"Retry-After": {after}}}
}

// Hang accepts the request and never answers, until the client gives up
// or the proxy is closed.
func Hang() Fault { return Fault{name: "hang", hang: true} }

// Drop closes the connection without answering.
func Drop() Fault { return Fault{name: "drop", drop: true} }

// Alter passes the request through and serves the upstream's answer with
// its body changed by f (Content-Length fixed, Docker-Content-Digest
// removed, as a lying registry or a corrupting proxy would).
func Alter(f func(body []byte) []byte) Fault { return Fault{name: "alter", alter: f} }

// Rule matches requests by method and path and applies its fault to the
// first Times of them; later ones pass through.
type Rule struct {
	// Method is the HTTP method to match; "" matches any.
	Method string
	// Path is a regular expression the request path must match; "" matches any.
	Path string
	// After is how many matching requests pass through before the fault
	// applies (a read that must succeed before the one that fails).
	After int
	// Times is how many matching requests get the fault; 0 means every one.
	Times int
	// Fault is what to do with them.
	Fault Fault
}

// Request is one request the proxy saw, and what it did with it.
type Request struct {
	Method, Path string
	// Fault is the fault applied, "" when passed through.
	Fault string
	Time  time.Time
}

// Proxy is a fault-injecting proxy in front of one registry.
type Proxy struct {
	srv      *httptest.Server
	upstream *url.URL
	done     chan struct{}

	mu    sync.Mutex
	rules []*rule
	log   []Request
}

type rule struct {
	Rule
	path   *regexp.Regexp
	used   int
	passed int
}

// New starts a proxy on 127.0.0.1 in front of upstream, a host:port or a
// URL (http:// when no scheme is given). It panics on a malformed upstream.
func New(upstream string) *Proxy {
	if !strings.Contains(upstream, "://") {
		upstream = "http://" + upstream
	}
	u, err := url.Parse(upstream)
	if err != nil {
		panic(fmt.Sprintf("faultproxy: upstream %q: %v", upstream, err))
	}
	p := &Proxy{upstream: u, done: make(chan struct{})}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	return p
}

// Host is the proxy's host:port, to use in references.
func (p *Proxy) Host() string { return strings.TrimPrefix(p.srv.URL, "http://") }

// URL is the proxy's base URL.
func (p *Proxy) URL() string { return p.srv.URL }

// Add adds rules; the first rule that matches a request and has faults
// left applies. It panics on an invalid Path.
func (p *Proxy) Add(rules ...Rule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range rules {
		p.rules = append(p.rules, &rule{Rule: r, path: regexp.MustCompile(r.Path)})
	}
}

// Reset removes every rule and clears the log.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules, p.log = nil, nil
}

// Requests returns the log of requests so far, in order.
func (p *Proxy) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Request(nil), p.log...)
}

// Count returns how many logged requests had method ("" for any) and a
// path matching the regular expression path.
func (p *Proxy) Count(method, path string) int {
	re := regexp.MustCompile(path)
	n := 0
	for _, r := range p.Requests() {
		if (method == "" || r.Method == method) && re.MatchString(r.Path) {
			n++
		}
	}
	return n
}

// Close releases hanging requests and stops the proxy.
func (p *Proxy) Close() {
	close(p.done)
	p.srv.CloseClientConnections()
	p.srv.Close()
}

// match returns the fault for r and logs it.
func (p *Proxy) match(r *http.Request) *Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	entry := Request{Method: r.Method, Path: r.URL.Path, Time: time.Now()}
	var f *Fault
	for _, ru := range p.rules {
		if (ru.Method == "" || ru.Method == r.Method) && ru.path.MatchString(r.URL.Path) && (ru.Times == 0 || ru.used < ru.Times) {
			if ru.passed < ru.After {
				ru.passed++
				break
			}
			ru.used++
			f = &ru.Fault
			entry.Fault = f.name
			break
		}
	}
	p.log = append(p.log, entry)
	return f
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	f := p.match(r)
	switch {
	case f == nil:
		p.forward(nil).ServeHTTP(w, r)
	case f.hang:
		select {
		case <-r.Context().Done():
		case <-p.done:
		}
	case f.drop:
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
	case f.alter != nil:
		p.forward(f.alter).ServeHTTP(w, r)
	default:
		io.Copy(io.Discard, r.Body)
		for k, v := range f.header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.status)
		if r.Method != http.MethodHead {
			fmt.Fprintf(w, `{"errors":[{"code":"UNKNOWN","message":"faultproxy: injected %d"}]}`, f.status)
		}
	}
}

// forward passes a request to the upstream, its answer's body changed by
// alter when not nil. The upstream sees the proxy's Host, so the URLs it
// builds lead back through the proxy.
func (p *Proxy) forward(alter func([]byte) []byte) http.Handler {
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(p.upstream)
			pr.Out.Host = pr.In.Host
		},
	}
	if alter != nil {
		rp.ModifyResponse = func(resp *http.Response) error {
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return err
			}
			body = alter(body)
			resp.Body = io.NopCloser(bytes.NewReader(body))
			resp.ContentLength = int64(len(body))
			resp.Header.Set("Content-Length", fmt.Sprint(len(body)))
			resp.Header.Del("Docker-Content-Digest")
			return nil
		}
	}
	return rp
}
