package emulation

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// DefaultInstallerImage is the image that the Docker installer runs:
// tonistiigi/binfmt (QEMU 10), pinned by digest so that what gets
// registered in the daemon's kernel cannot change under a moving tag.
const DefaultInstallerImage = "docker.io/tonistiigi/binfmt@sha256:400a4873b838d1b89194d982c45e5fb3cda4593fbfd7e08a02e76b03b21166f0"

// DefaultDockerHost is the daemon's socket when DOCKER_HOST is not set.
const DefaultDockerHost = "unix:///var/run/docker.sock"

// DockerOptions configures InstallDocker and UninstallDocker.
type DockerOptions struct {
	// Host is the daemon: unix:///path or tcp://host:port. Empty means
	// $DOCKER_HOST, then DefaultDockerHost. TLS is used when
	// $DOCKER_TLS_VERIFY or $DOCKER_CERT_PATH is set, as the Docker CLI does;
	// the API version is negotiated (Engine API 1.40 and newer).
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
	defer d.api.Close()
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
		return nil, fmt.Errorf("installing through Docker at %s: %w", d.api.DaemonHost(), errors.Join(failed...))
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
	defer d.api.Close()
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

// docker runs installer containers through a daemon's Engine API.
type docker struct {
	api *client.Client
}

// dialDocker connects to the daemon at host (see DockerOptions.Host) and
// negotiates the API version with a ping.
func dialDocker(ctx context.Context, host string) (*docker, error) {
	if host == "" {
		host = os.Getenv("DOCKER_HOST")
	}
	if host == "" {
		host = DefaultDockerHost
	}
	if scheme, _, _ := strings.Cut(host, "://"); scheme != "unix" && scheme != "tcp" {
		return nil, fmt.Errorf("DOCKER_HOST %q: mab reaches Docker through unix:// or tcp:// only", host)
	}
	opts := []client.Opt{client.FromEnv, client.WithHost(host)}
	if os.Getenv("DOCKER_TLS_VERIFY") != "" && os.Getenv("DOCKER_CERT_PATH") == "" {
		home, _ := os.UserHomeDir()
		dir := filepath.Join(home, ".docker")
		opts = append(opts, client.WithTLSClientConfig(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")))
	}
	api, err := client.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("invalid DOCKER_HOST %q: %w", host, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := api.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		api.Close()
		return nil, fmt.Errorf("Docker daemon unreachable at %s: %v: start dockerd, or set DOCKER_HOST", host, dialError(err))
	}
	return &docker{api: api}, nil
}

// dialError is the network error under the client's wording, which
// repeats the host, or the daemon's answer to the ping.
func dialError(err error) error {
	var op *net.OpError
	if errors.As(err, &op) {
		return op
	}
	return wrapDaemon(err)
}

// daemonError is an Engine API error without the client's "Error response
// from daemon: " prefix: mab's messages name the step themselves.
type daemonError struct{ err error }

func (e daemonError) Error() string {
	return strings.TrimPrefix(e.err.Error(), "Error response from daemon: ")
}

func (e daemonError) Unwrap() error { return e.err }

// ensureImage pulls ref unless the daemon has it already.
func (d *docker) ensureImage(ctx context.Context, ref string) error {
	_, err := d.api.ImageInspect(ctx, ref)
	if err == nil || !cerrdefs.IsNotFound(err) {
		return wrapDaemon(err)
	}
	const hint = "pass --image with an image the daemon has, e.g. one loaded with `docker load`"
	resp, err := d.api.ImagePull(ctx, ref, client.ImagePullOptions{})
	if err != nil {
		return fmt.Errorf("pulling installer image %s: %w (%s)", ref, wrapDaemon(err), hint)
	}
	defer resp.Close()
	for msg, err := range resp.JSONMessages(ctx) {
		if err != nil {
			return fmt.Errorf("pulling installer image %s: %w", ref, err)
		}
		if msg.Error != nil {
			return fmt.Errorf("pulling installer image %s: %s (%s)", ref, msg.Error.Message, hint)
		}
	}
	return nil
}

func wrapDaemon(err error) error {
	if err == nil {
		return nil
	}
	return daemonError{err}
}

// hostConfigs are tried in order: privileged, then the capabilities that a
// binfmt_misc mount and register need, for daemons that cannot grant every
// capability (rootless setups, sandboxes with a reduced bounding set).
var hostConfigs = []container.HostConfig{
	{Privileged: true},
	{
		CapAdd:      []string{"SYS_ADMIN"},
		SecurityOpt: []string{"seccomp=unconfined", "apparmor=unconfined", "label=disable"},
		// The API form of the CLI's --security-opt systempaths=unconfined:
		// /proc/sys writable, nothing masked.
		MaskedPaths:   []string{},
		ReadonlyPaths: []string{},
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
		created, err := d.api.ContainerCreate(ctx, client.ContainerCreateOptions{
			Config: &container.Config{
				Image: image, Cmd: args, Labels: map[string]string{"org.mab-build.role": "binfmt-installer"},
			},
			HostConfig: &hc,
		})
		if err != nil {
			return nil, fmt.Errorf("creating the installer container from %s: %w", image, wrapDaemon(err))
		}
		if _, err = d.api.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err == nil {
			id = created.ID
			break
		}
		d.remove(created.ID)
		startErrs = append(startErrs, fmt.Sprintf("%s: %v", []string{"privileged", "with CAP_SYS_ADMIN"}[i], wrapDaemon(err)))
	}
	if id == "" {
		return nil, fmt.Errorf("starting the installer container: %s", strings.Join(startErrs, "; "))
	}
	defer d.remove(id)

	var status int64
	wait := d.api.ContainerWait(ctx, id, client.ContainerWaitOptions{})
	select {
	case res := <-wait.Result:
		status = res.StatusCode
	case err := <-wait.Error:
		return nil, fmt.Errorf("waiting for the installer container: %w", wrapDaemon(err))
	}
	logs, err := d.api.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return nil, fmt.Errorf("reading the installer's output: %w", wrapDaemon(err))
	}
	defer logs.Close()
	var stdout, stderr bytes.Buffer
	if _, err := stdcopy.StdCopy(&stdout, &stderr, logs); err != nil {
		return nil, fmt.Errorf("reading the installer's output: %w", err)
	}
	results := map[string]string{}
	var fatal string
	sc := bufio.NewScanner(&stderr)
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
	if fatal != "" || status != 0 {
		return nil, fmt.Errorf("installer %s exited %d: %s", image, status, firstNonEmpty(fatal, lastLine(stderr.Bytes())))
	}
	if err := json.Unmarshal(stdout.Bytes(), rep); err != nil {
		return nil, fmt.Errorf("installer %s printed no status JSON: %w", image, err)
	}
	return results, nil
}

// remove deletes a container, even when ctx was cancelled.
func (d *docker) remove(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d.api.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true})
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
