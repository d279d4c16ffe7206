package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/mab-build/mab/builder"
	"github.com/mab-build/mab/internal/buildertest"
	"github.com/mab-build/mab/internal/pipeline"
	"github.com/mab-build/mab/internal/testenv"
	"github.com/rogpeppe/go-internal/testscript"
)

// The scripts in testdata/script are mab's README run as a user runs it:
// one script per README section, each README command with its exact
// stdout, stderr and exit code checked. The test binary doubles as the
// `mab` command (testscript.Main), with mab's real main.
//
// Every script gets, in its environment:
//
//   - REG and REG2: two of go-containerregistry's in-process registries
//     behind a token server (see countingRegistry), fresh for the script.
//     README's registry.example.com is $REG, its other.example.com,
//     mirror.example.com and staging.example.com are $REG2 (see
//     readme_test.go). REG_LAN is $REG on a non-loopback address of this
//     machine (plain HTTP there needs --insecure-registry); the [lan]
//     condition says whether there is one.
//   - MAB_FAKE_BUILDERS: the fake BuildKit of internal/buildertest,
//     fake://buildkit running linux/amd64 natively and linux/arm64 and
//     linux/arm/v7 (and linux/386) emulated, discovered when no builder is
//     named. MAB_FAKE_FAIL makes platforms fail, MAB_FAKE_TOOK gives the
//     durations they report.
//   - E2E_*: the end-to-end environment's variables, for the scripts under
//     the [e2e] condition, which is false only under -short (without
//     -short the environment must be up, as for internal/e2e).
//
// Commands of their own: `setvar NAME` sets NAME to the last command's
// stdout, trimmed (see setvar for more); `requests REG REGEXP N` counts the
// requests a registry answered; `sha256 stdout DIGEST` checks raw bytes;
// `refused REGEXP` checks a refusal as README's "Refused input" describes
// it.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"mab": scriptMain})
}

// fakeAddr is the fake builder every script has unless it says otherwise.
const fakeAddr = "fake://buildkit"

// scriptMain is mab's main, with the fake builders that the script's
// environment names (buildertest.EnvBuilders) in the runner: an address
// that is not a fake's is dialled for real.
func scriptMain() {
	fakes, first, err := buildertest.FromEnv(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "script test:", err)
		os.Exit(2)
	}
	if fakes != nil {
		runner.Dial = func(ctx context.Context, addr string, tls builder.TLS) (pipeline.Builder, error) {
			if f, ok := fakes[addr]; ok {
				return f, nil
			}
			c, err := builder.Dial(ctx, addr, tls)
			if err != nil {
				return nil, err
			}
			return c, nil
		}
		runner.Discover = func(context.Context) (string, error) { return first, nil }
	}
	main()
}

// e2eVars are the end-to-end environment's, given to scripts as E2E_NAME.
var e2eVars = map[string]func(testenv.Env) string{
	"BUILDKIT_HOST":      func(e testenv.Env) string { return e.BuildkitHost },
	"REGISTRY":           func(e testenv.Env) string { return e.Registry },
	"NODE":               func(e testenv.Env) string { return e.Node },
	"DOCKER_HOST":        func(e testenv.Env) string { return e.DockerHost },
	"AUTH_REGISTRY":      func(e testenv.Env) string { return e.AuthRegistry },
	"AUTH_PASSWORD_FILE": func(e testenv.Env) string { return e.AuthPasswordFile },
	"ROOT":               func(e testenv.Env) string { return e.Root },
}

func TestScripts(t *testing.T) {
	var env *testenv.Env
	if !testing.Short() {
		e := testenv.Get(t)
		env = &e
	}
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(e *testscript.Env) error {
			for _, name := range []string{"REG", "REG2"} {
				r := newCountingRegistry()
				e.Defer(r.Close)
				e.Setenv(name, r.host)
				e.Setenv(name+"_LAN", r.lan)
				e.Values[name] = r
			}
			e.Setenv(buildertest.EnvBuilders, fakeAddr+"=linux/amd64,linux/386,linux/arm64,linux/arm/v7")
			e.Setenv("HOME", e.WorkDir+"/home")
			e.Setenv("DOCKER_CONFIG", e.WorkDir+"/home/.docker")
			e.Setenv("XDG_STATE_HOME", e.WorkDir+"/home/.local/state")
			if env != nil {
				for k, get := range e2eVars {
					e.Setenv("E2E_"+k, get(*env))
				}
			}
			return nil
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "e2e":
				return env != nil, nil
			case "lan":
				return lanIP() != "", nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"setvar":   setvar,
			"requests": requests,
			"sha256":   sha256sum,
			"refused":  refused,
		},
	})
}

// setvar NAME sets NAME to the last command's stdout without its
// surrounding space; setvar NAME stdout|stderr REGEXP to the first group
// of REGEXP's first match there.
func setvar(ts *testscript.TestScript, neg bool, args []string) {
	switch {
	case !neg && len(args) == 1:
		ts.Setenv(args[0], strings.TrimSpace(ts.ReadFile("stdout")))
	case !neg && len(args) == 3:
		m := regexp.MustCompile(args[2]).FindStringSubmatch(ts.ReadFile(args[1]))
		if len(m) < 2 {
			ts.Fatalf("no match for %q in %s", args[2], args[1])
		}
		ts.Setenv(args[0], m[1])
	default:
		ts.Fatalf("usage: setvar NAME [stdout|stderr REGEXP]")
	}
}

// refused REGEXP checks that the last command was refused as README's
// "Refused input" says: nothing on stdout, one line on stderr, starting
// "mab: " and matching REGEXP. (The exit code is checked by `! exec`.)
func refused(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: refused REGEXP")
	}
	if out := ts.ReadFile("stdout"); out != "" {
		ts.Fatalf("stdout is not empty: %q", out)
	}
	stderr := ts.ReadFile("stderr")
	if strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "mab: ") {
		ts.Fatalf("stderr is not one line starting \"mab: \": %q", stderr)
	}
	if !regexp.MustCompile("(?m)" + args[0]).MatchString(stderr) {
		ts.Fatalf("stderr %q does not match %q", stderr, args[0])
	}
}

// sha256 FILE DIGEST checks that FILE (stdout, say) hashes to DIGEST,
// byte for byte.
func sha256sum(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: sha256 FILE DIGEST")
	}
	got := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(ts.ReadFile(args[0]))))
	if (got == args[1]) == neg {
		ts.Fatalf("%s hashes to %s, want %s%s", args[0], got, map[bool]string{true: "not "}[neg], args[1])
	}
}

// requests REG|REG2 REGEXP N checks that the registry answered N
// requests whose "METHOD PATH" matches REGEXP since the script began or since the last
// check, and starts counting anew; `requests REG` only starts anew.
func requests(ts *testscript.TestScript, neg bool, args []string) {
	if neg || (len(args) != 1 && len(args) != 3) {
		ts.Fatalf("usage: requests REG|REG2 [REGEXP N]")
	}
	r, ok := ts.Value(args[0]).(*countingRegistry)
	if !ok {
		ts.Fatalf("no registry %s", args[0])
	}
	if len(args) == 1 {
		r.take()
		return
	}
	want, err := strconv.Atoi(args[2])
	if err != nil {
		ts.Fatalf("count %q: %v", args[2], err)
	}
	re, err := regexp.Compile(args[1])
	if err != nil {
		ts.Fatalf("%v", err)
	}
	log := r.take()
	got := 0
	for _, l := range log {
		if re.MatchString(l) {
			got++
		}
	}
	if got != want {
		ts.Fatalf("%s answered %d requests %q, want %d; every request since the last check:\n%s", args[0], got, args[1], want, strings.Join(log, "\n"))
	}
}

// countingRegistry is an in-process registry behind a token server of its
// own (GET /token, the realm its 401s name): every request but the token's
// needs the bearer token, as on Docker Hub or GHCR. The token server
// checks the credentials it is given (scriptUser, scriptPassword). It logs each request
// as "METHOD PATH", and those of the fake BuildKit as "builder METHOD
// PATH".
type countingRegistry struct {
	*httptest.Server
	// host is the registry on loopback; lan on another address of this
	// machine, "" when it has none.
	host, lan string
	mu        sync.Mutex
	log       []string
}

func newCountingRegistry() *countingRegistry {
	c := &countingRegistry{}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	c.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		line := r.Method + " " + r.URL.Path
		if strings.Contains(r.UserAgent(), buildertest.UserAgent) {
			// The fake BuildKit's push: BuildKit's own session, not mab's.
			line = "builder " + line
		}
		c.mu.Lock()
		c.log = append(c.log, line)
		c.mu.Unlock()
		switch {
		case r.URL.Path == "/token":
			if user, password, ok := r.BasicAuth(); ok && (user != scriptUser || password != scriptPassword) {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"token": %q}`, scriptToken)
		case r.Header.Get("Authorization") != "Bearer "+scriptToken:
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="http://%s/token",service="script"`, r.Host))
			w.WriteHeader(http.StatusUnauthorized)
		default:
			reg.ServeHTTP(w, r)
		}
	}))
	// Every interface, so that REG_LAN reaches it too.
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		panic(err)
	}
	c.Listener = l
	c.Start()
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	c.URL = "http://127.0.0.1:" + port
	c.host = "127.0.0.1:" + port
	if ip := lanIP(); ip != "" {
		c.lan = net.JoinHostPort(ip, port)
	}
	return c
}

// lanIP is an IPv4 address of this machine that is not loopback, "" when
// it has none.
func lanIP() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP.String()
		}
	}
	return ""
}

// scriptToken is the bearer token that the script registries hand out to
// anyone who asks, as a registry does for anonymous pulls, and demand.
const scriptToken = "script-token"

// scriptUser and scriptPassword are the only credentials the token server
// accepts (a request without credentials is anonymous, and gets the
// token): README's ci-bot, whose password the login scripts keep in
// password.txt. Any other user or password is answered 401, as a
// registry refuses a wrong login.
const (
	scriptUser     = "ci-bot"
	scriptPassword = "ci-bot-pa55word"
)

// take returns the log and empties it.
func (c *countingRegistry) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.log
	c.log = nil
	return l
}
