package emulation

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DefaultInstallerImage is the image that the Docker installer runs:
// tonistiigi/binfmt (QEMU 10), pinned by digest so that what gets
// registered in the daemon's kernel cannot change under a moving tag.
const DefaultInstallerImage = "docker.io/tonistiigi/binfmt@sha256:400a4873b838d1b89194d982c45e5fb3cda4593fbfd7e08a02e76b03b21166f0"

// DefaultDockerHost is the daemon's socket when DOCKER_HOST is not set.
const DefaultDockerHost = "unix:///var/run/docker.sock"

// maxDockerAPI is the newest Engine API version mab speaks; the calls it
// makes (ping, image inspect and pull, container create, start, wait, logs,
// remove) are the same from 1.24 to today.
const maxDockerAPI = "1.47"

// DockerOptions configures InstallDocker and UninstallDocker.
type DockerOptions struct {
	// Host is the daemon: unix:///path or tcp://host:port. Empty means
	// $DOCKER_HOST, then DefaultDockerHost. TLS is used when
	// $DOCKER_TLS_VERIFY or $DOCKER_CERT_PATH is set, as the Docker CLI does.
	Host string
	// Image is the installer image; empty means DefaultInstallerImage. It
	// must take tonistiigi/binfmt's arguments (--install a,b and
	// --uninstall name), log "installing: <arch> OK" lines on stderr and
	// print {"supported": [...], "emulators": [...]} on stdout.
	Image string
}

// DockerReport is what the installer container reported.
type DockerReport struct {
	// Outcomes has one row per requested architecture.
	Outcomes []Outcome
	// Supported are the platforms the daemon's kernel runs afterwards;
	// Emulators the enabled binfmt_misc entries.
	Supported []string `json:"supported"`
	Emulators []string `json:"emulators"`
}

// InstallDocker registers QEMU handlers for arches in the kernel of the
// Docker daemon, which need not be this machine's: it runs the installer
// image in a container (privileged; where the daemon cannot grant that, with
// CAP_SYS_ADMIN and unconfined seccomp, AppArmor and /proc paths, which is
// all a binfmt_misc mount and register need), reads its report, and removes
// the container. An architecture that the installer did not make runnable
// is an error; handlers it registered in the same call are then removed
// again, so a failure leaves the kernel as it was.
func InstallDocker(ctx context.Context, arches []Arch, opt DockerOptions) (*DockerReport, error) {
	var names []string
	for _, a := range arches {
		if !a.Native() {
			names = append(names, a.Name)
		}
	}
	d, err := dialDocker(ctx, opt.Host)
	if err != nil {
		return nil, err
	}
	rep := &DockerReport{}
	var results map[string]string
	if len(names) > 0 {
		if results, err = d.runInstaller(ctx, opt.image(), []string{"--install", strings.Join(names, ",")}, rep); err != nil {
			return nil, err
		}
	}
	var failed []error
	var added []string
	for _, a := range arches {
		o := Outcome{Arch: a.Name, Interpreter: "(in " + opt.image() + ")"}
		res := results[a.Name]
		switch {
		case a.Native():
			o.Action, o.Interpreter = "native", ""
		case res == "OK":
			o.Action = "installed"
			added = append(added, a.Entry())
		case strings.Contains(res, "already registered"):
			o.Action = "already installed"
		case res == "":
			failed = append(failed, fmt.Errorf("%s: the installer image reported nothing for it", a.Name))
			continue
		default:
			failed = append(failed, fmt.Errorf("%s: %s", a.Name, res))
			continue
		}
		if !a.Native() && !anyIn(a.Platforms, rep.Supported) {
			failed = append(failed, fmt.Errorf("%s: registered, but the daemon's kernel still does not run it (it supports %s)", a.Name, strings.Join(rep.Supported, ", ")))
			continue
		}
		rep.Outcomes = append(rep.Outcomes, o)
	}
	if len(failed) > 0 {
		if len(added) > 0 {
			var undo DockerReport
			if _, err := d.runInstaller(ctx, opt.image(), []string{"--uninstall", strings.Join(added, ",")}, &undo); err != nil {
				failed = append(failed, fmt.Errorf("removing the handlers installed meanwhile: %w", err))
			}
		}
		return nil, fmt.Errorf("installing through Docker at %s: %w", d.host, errors.Join(failed...))
	}
	return rep, nil
}

// UninstallDocker removes mab's handlers (qemu-<arch>) for arches from the
// kernel of the Docker daemon through the installer image.
func UninstallDocker(ctx context.Context, arches []Arch, opt DockerOptions) (*DockerReport, error) {
	var names []string
	for _, a := range arches {
		names = append(names, a.Entry())
	}
	d, err := dialDocker(ctx, opt.Host)
	if err != nil {
		return nil, err
	}
	rep := &DockerReport{}
	results, err := d.runInstaller(ctx, opt.image(), []string{"--uninstall", strings.Join(names, ",")}, rep)
	if err != nil {
		return nil, err
	}
	for _, a := range arches {
		if results[a.Entry()] == "OK" {
			rep.Outcomes = append(rep.Outcomes, Outcome{Arch: a.Name, Action: "removed " + a.Entry()})
		}
	}
	return rep, nil
}

func (o DockerOptions) image() string {
	if o.Image == "" {
		return DefaultInstallerImage
	}
	return o.Image
}

func anyIn(want, have []string) bool {
	for _, w := range want {
		for _, h := range have {
			if w == h {
				return true
			}
		}
	}
	return false
}

// docker is a minimal Engine API client over the daemon's socket.
type docker struct {
	host    string
	base    string // http://docker or https://host:port
	version string
	hc      *http.Client
}

func dialDocker(ctx context.Context, host string) (*docker, error) {
	if host == "" {
		host = os.Getenv("DOCKER_HOST")
	}
	if host == "" {
		host = DefaultDockerHost
	}
	d := &docker{host: host}
	tr := &http.Transport{}
	switch u, err := url.Parse(host); {
	case err != nil:
		return nil, fmt.Errorf("invalid DOCKER_HOST %q: %w", host, err)
	case u.Scheme == "unix":
		path := u.Path
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		}
		d.base = "http://docker"
	case u.Scheme == "tcp":
		d.base = "http://" + u.Host
		if os.Getenv("DOCKER_TLS_VERIFY") != "" || os.Getenv("DOCKER_CERT_PATH") != "" {
			cfg, err := dockerTLS()
			if err != nil {
				return nil, err
			}
			tr.TLSClientConfig = cfg
			d.base = "https://" + u.Host
		}
	default:
		return nil, fmt.Errorf("DOCKER_HOST %q: mab reaches Docker through unix:// or tcp:// only", host)
	}
	d.hc = &http.Client{Transport: tr}

	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(pctx, http.MethodGet, d.base+"/_ping", nil)
	resp, err := d.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("Docker daemon unreachable at %s: %v: start dockerd, or set DOCKER_HOST", host, unwrapURLError(err))
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("Docker daemon at %s answered %s to a ping", host, resp.Status)
	}
	d.version = maxDockerAPI
	if v := resp.Header.Get("API-Version"); v != "" && versionLess(v, maxDockerAPI) {
		d.version = v
	}
	return d, nil
}

func dockerTLS() (*tls.Config, error) {
	dir := os.Getenv("DOCKER_CERT_PATH")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".docker")
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		return nil, fmt.Errorf("loading Docker TLS client certificate from %s: %w", dir, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if ca, err := os.ReadFile(filepath.Join(dir, "ca.pem")); err == nil {
		cfg.RootCAs = x509.NewCertPool()
		cfg.RootCAs.AppendCertsFromPEM(ca)
	}
	return cfg, nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// versionLess compares API versions "1.41" < "1.47".
func versionLess(a, b string) bool {
	pa, pb := strings.SplitN(a, ".", 2), strings.SplitN(b, ".", 2)
	if len(pa) != 2 || len(pb) != 2 {
		return false
	}
	ma, _ := strconv.Atoi(pa[0])
	mb, _ := strconv.Atoi(pb[0])
	na, _ := strconv.Atoi(pa[1])
	nb, _ := strconv.Atoi(pb[1])
	return ma < mb || ma == mb && na < nb
}

// call sends one API request; out, when not nil, receives the JSON answer.
// An answer of 400 or more is an error carrying the daemon's message.
func (d *docker) call(ctx context.Context, method, path string, query url.Values, in, out any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	u := d.base + "/v" + d.version + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("Docker daemon at %s: %v", d.host, unwrapURLError(err))
	}
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		var e struct{ Message string }
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(b))
		}
		return resp, &apiError{status: resp.StatusCode, msg: e.Message}
	}
	if out != nil {
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return resp, fmt.Errorf("decoding Docker's answer to %s %s: %w", method, path, err)
		}
	}
	return resp, nil
}

type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

// ensureImage pulls ref unless the daemon has it already.
func (d *docker) ensureImage(ctx context.Context, ref string) error {
	_, err := d.call(ctx, http.MethodGet, "/images/"+ref+"/json", nil, nil, &struct{}{})
	var ae *apiError
	if err == nil || !errors.As(err, &ae) || ae.status != http.StatusNotFound {
		return err
	}
	q := url.Values{"fromImage": {ref}}
	if repo, dgst, ok := strings.Cut(ref, "@"); ok {
		q = url.Values{"fromImage": {repo}, "tag": {dgst}}
	}
	resp, err := d.call(ctx, http.MethodPost, "/images/create", q, nil, nil)
	if err != nil {
		return fmt.Errorf("pulling installer image %s: %w (pass --image with an image the daemon has, e.g. one loaded with `docker load`)", ref, err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var msg struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("pulling installer image %s: %w", ref, err)
		}
		if msg.Error != "" {
			return fmt.Errorf("pulling installer image %s: %s (pass --image with an image the daemon has, e.g. one loaded with `docker load`)", ref, msg.Error)
		}
	}
}

// hostConfigs are tried in order: privileged, then the capabilities that a
// binfmt_misc mount and register need, for daemons that cannot grant every
// capability (rootless setups, sandboxes with a reduced bounding set).
var hostConfigs = []map[string]any{
	{"Privileged": true},
	{
		"CapAdd":      []string{"SYS_ADMIN"},
		"SecurityOpt": []string{"seccomp=unconfined", "apparmor=unconfined", "label=disable"},
		// The API form of the CLI's --security-opt systempaths=unconfined:
		// /proc/sys writable, nothing masked.
		"MaskedPaths":   []string{},
		"ReadonlyPaths": []string{},
	},
}

// runInstaller runs image with args in a new container, waits for it, reads
// its logs into rep and the per-name results of its "installing: NAME
// RESULT" and "uninstalling: NAME RESULT" lines, and removes the container.
func (d *docker) runInstaller(ctx context.Context, image string, args []string, rep *DockerReport) (map[string]string, error) {
	if err := d.ensureImage(ctx, image); err != nil {
		return nil, err
	}
	var id string
	var startErrs []string
	for i, hc := range hostConfigs {
		var created struct{ ID string }
		_, err := d.call(ctx, http.MethodPost, "/containers/create", nil, map[string]any{
			"Image": image, "Cmd": args, "Labels": map[string]string{"org.mab-build.role": "binfmt-installer"},
			"HostConfig": hc,
		}, &created)
		if err != nil {
			return nil, fmt.Errorf("creating the installer container from %s: %w", image, err)
		}
		_, err = d.call(ctx, http.MethodPost, "/containers/"+created.ID+"/start", nil, nil, nil)
		if err == nil {
			id = created.ID
			break
		}
		d.remove(created.ID)
		startErrs = append(startErrs, fmt.Sprintf("%s: %v", []string{"privileged", "with CAP_SYS_ADMIN"}[i], err))
	}
	if id == "" {
		return nil, fmt.Errorf("starting the installer container: %s", strings.Join(startErrs, "; "))
	}
	defer d.remove(id)

	var waited struct{ StatusCode int }
	if _, err := d.call(ctx, http.MethodPost, "/containers/"+id+"/wait", nil, nil, &waited); err != nil {
		return nil, fmt.Errorf("waiting for the installer container: %w", err)
	}
	resp, err := d.call(ctx, http.MethodGet, "/containers/"+id+"/logs", url.Values{"stdout": {"1"}, "stderr": {"1"}}, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("reading the installer's output: %w", err)
	}
	defer resp.Body.Close()
	stdout, stderr, err := demux(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the installer's output: %w", err)
	}
	results := map[string]string{}
	var fatal string
	sc := bufio.NewScanner(bytes.NewReader(stderr))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		for _, verb := range []string{"installing: ", "uninstalling: "} {
			if rest, ok := strings.CutPrefix(line, verb); ok {
				name, res, _ := strings.Cut(rest, " ")
				results[name] = res
			}
		}
		if rest, ok := strings.CutPrefix(line, "error: "); ok && fatal == "" {
			fatal = rest
		}
	}
	if fatal != "" || waited.StatusCode != 0 {
		return nil, fmt.Errorf("installer %s exited %d: %s", image, waited.StatusCode, firstNonEmpty(fatal, lastLine(stderr)))
	}
	if err := json.Unmarshal(stdout, rep); err != nil {
		return nil, fmt.Errorf("installer %s printed no status JSON: %w", image, err)
	}
	return results, nil
}

// remove deletes a container, even when ctx was cancelled.
func (d *docker) remove(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := d.call(ctx, http.MethodDelete, "/containers/"+id, url.Values{"force": {"1"}}, nil, nil)
	if err == nil {
		resp.Body.Close()
	}
}

// demux splits the multiplexed log stream of a container without a TTY:
// frames of an 8-byte header (stream, 0, 0, 0, big-endian size) and data.
func demux(r io.Reader) (stdout, stderr []byte, err error) {
	var out, errb bytes.Buffer
	hdr := make([]byte, 8)
	for {
		if _, err := io.ReadFull(r, hdr); err == io.EOF {
			return out.Bytes(), errb.Bytes(), nil
		} else if err != nil {
			return nil, nil, err
		}
		w := &out
		if hdr[0] == 2 {
			w = &errb
		}
		if _, err := io.CopyN(w, r, int64(binary.BigEndian.Uint32(hdr[4:]))); err != nil {
			return nil, nil, err
		}
	}
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
