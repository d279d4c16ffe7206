package emulation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/mab-build/mab/internal/dockerapi"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// DefaultInstallerImage is the image that the Docker installer runs:
// tonistiigi/binfmt (QEMU 10), pinned by digest so that what gets
// registered in the daemon's kernel cannot change under a moving tag.
const DefaultInstallerImage = "docker.io/tonistiigi/binfmt@sha256:400a4873b838d1b89194d982c45e5fb3cda4593fbfd7e08a02e76b03b21166f0"

// Docker is the Installer of a Docker daemon's kernel, which need not be
// this machine's: it runs the installer image in a container of the daemon
// (privileged; where the daemon cannot grant that, with CAP_SYS_ADMIN and
// unconfined seccomp, AppArmor and /proc paths, which is all a binfmt_misc
// mount and register need), reads its report and removes the container.
type Docker struct {
	// Host is the daemon: unix:///path or tcp://host:port. Empty means
	// $DOCKER_HOST, then the Docker client's default socket; see
	// dockerapi.New for TLS and version negotiation.
	Host string
	// Image is the installer image; empty means DefaultInstallerImage. It
	// must take tonistiigi/binfmt's arguments (--install a,b and
	// --uninstall name), log "installing: <arch> OK" lines on stderr and
	// print {"supported": [...], "emulators": [...]} on stdout. The image is
	// pulled only when the daemon does not have it.
	Image string
}

var _ Installer = Docker{}

// cleanupTimeout bounds the rollback of a failed or interrupted install,
// which runs even after the caller's context is done.
const cleanupTimeout = 60 * time.Second

// Install registers QEMU handlers for arches in the daemon's kernel (an
// architecture named twice counts once). An architecture native to this
// machine is skipped. One that the installer did not make runnable is an
// error. When the installer fails, is interrupted (ctx done), or leaves an
// architecture unrunnable, the handlers it reported registering in this
// call are removed again, under a context of their own bounded by a
// timeout, so that the kernel is left as it was; what that rollback could
// not do is part of the error.
func (d Docker) Install(ctx context.Context, arches []Arch) ([]Outcome, error) {
	arches = unique(arches)
	var names []string
	for _, a := range arches {
		if !a.Native() {
			names = append(names, a.Name)
		}
	}
	api, err := dockerapi.New(ctx, d.Host)
	if err != nil {
		return nil, err
	}
	defer api.Close()
	var rep installerOutput
	if len(names) > 0 {
		rep, err = runInstaller(ctx, api, d.image(), []string{"--install", strings.Join(names, ",")})
		if err != nil {
			return nil, errors.Join(err, d.rollback(ctx, api, arches, rep))
		}
	}
	var out []Outcome
	var failed []error
	for _, a := range arches {
		o := Outcome{Arch: a.Name, Entry: a.Entry(), Interpreter: "(in " + d.image() + ")"}
		res := rep.Results[a.Name]
		switch {
		case a.Native():
			o = Outcome{Arch: a.Name, Action: ActionNative}
		case res == "OK":
			o.Action = ActionInstalled
		case strings.Contains(res, "already registered"):
			o.Action = ActionAlreadyInstalled
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
		out = append(out, o)
	}
	if len(failed) > 0 {
		failed = append(failed, d.rollback(ctx, api, arches, rep))
		return nil, fmt.Errorf("installing through Docker at %s: %w", api.DaemonHost(), errors.Join(failed...))
	}
	return out, nil
}

// rollback removes the handlers that rep, the installer's report, says it
// registered ("OK"), even when ctx is done: under context.WithoutCancel
// with cleanupTimeout. It returns nil when there was nothing to remove or
// everything was removed.
func (d Docker) rollback(ctx context.Context, api *client.Client, arches []Arch, rep installerOutput) error {
	var added []string
	for _, a := range arches {
		if rep.Results[a.Name] == "OK" {
			added = append(added, a.Entry())
		}
	}
	if len(added) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	un, err := runInstaller(ctx, api, d.image(), []string{"--uninstall", strings.Join(added, ",")})
	if err != nil {
		return fmt.Errorf("removing the handlers installed meanwhile (%s): %w", strings.Join(added, ", "), err)
	}
	var left []string
	for _, e := range added {
		if un.Results[e] != "OK" {
			left = append(left, e+": "+firstNonEmpty(un.Results[e], "no report"))
		}
	}
	if len(left) > 0 {
		return fmt.Errorf("removing the handlers installed meanwhile: %s", strings.Join(left, "; "))
	}
	return nil
}

// Uninstall removes the handlers named qemu-<arch> for arches from the
// daemon's kernel through the installer image, which finds handlers by
// name only and cannot read an entry's magic. The installer then reports
// which platforms the kernel still runs: when ownOnly is false and an
// architecture is still run there (by a handler of another name, or
// natively), Uninstall fails with a *StillServedError naming it and the
// kernel's remaining entries, after reporting what it removed.
func (d Docker) Uninstall(ctx context.Context, arches []Arch, ownOnly bool) ([]Outcome, error) {
	arches = unique(arches)
	var names []string
	for _, a := range arches {
		names = append(names, a.Entry())
	}
	api, err := dockerapi.New(ctx, d.Host)
	if err != nil {
		return nil, err
	}
	defer api.Close()
	rep, err := runInstaller(ctx, api, d.image(), []string{"--uninstall", strings.Join(names, ",")})
	if err != nil {
		return nil, err
	}
	var out []Outcome
	var still []string
	for _, a := range arches {
		if rep.Results[a.Entry()] == "OK" {
			out = append(out, Outcome{Arch: a.Name, Action: ActionRemoved, Entry: a.Entry()})
		}
		if !ownOnly && !a.Native() && anyIn(a.Platforms, rep.Supported) {
			still = append(still, a.Name)
		}
	}
	if len(still) > 0 {
		var others []string
		for _, e := range rep.Emulators {
			if !slices.Contains(names, e) {
				others = append(others, e)
			}
		}
		return out, &StillServedError{Arches: still, Entries: others}
	}
	return out, nil
}

func (d Docker) image() string {
	if d.Image == "" {
		return DefaultInstallerImage
	}
	return d.Image
}

func anyIn(want, have []string) bool {
	for _, w := range want {
		if slices.Contains(have, w) {
			return true
		}
	}
	return false
}

// daemonError is an Engine API error without the client's "Error response
// from daemon: " prefix: the messages here name the step themselves.
type daemonError struct{ err error }

func (e daemonError) Error() string {
	return strings.TrimPrefix(e.err.Error(), "Error response from daemon: ")
}

func (e daemonError) Unwrap() error { return e.err }

// ensureImage pulls ref unless the daemon has it already.
func ensureImage(ctx context.Context, api *client.Client, ref string) error {
	_, err := api.ImageInspect(ctx, ref)
	if err == nil || !cerrdefs.IsNotFound(err) {
		return wrapDaemon(err)
	}
	resp, err := api.ImagePull(ctx, ref, client.ImagePullOptions{})
	if err != nil {
		return &InstallerImageError{Image: ref, Err: wrapDaemon(err)}
	}
	defer resp.Close()
	for msg, err := range resp.JSONMessages(ctx) {
		if err != nil {
			return &InstallerImageError{Image: ref, Err: err}
		}
		if msg.Error != nil {
			return &InstallerImageError{Image: ref, Err: errors.New(msg.Error.Message)}
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

// runInstaller runs image with args in a new container, waits for it,
// parses its output (parseInstallerOutput) and removes the container. The
// output it returns is what the installer reported even when the error is
// not nil, so that a caller can undo what it did: when ctx ends while the
// installer runs, the container is killed first and its log read under a
// context of its own.
func runInstaller(ctx context.Context, api *client.Client, image string, args []string) (installerOutput, error) {
	var none installerOutput
	if err := ensureImage(ctx, api, image); err != nil {
		return none, err
	}
	var id string
	var startErrs []string
	for i, hc := range hostConfigs {
		created, err := api.ContainerCreate(ctx, client.ContainerCreateOptions{
			Config: &container.Config{
				Image: image, Cmd: args, Labels: map[string]string{"org.mab-build.role": "binfmt-installer"},
			},
			HostConfig: &hc,
		})
		if err != nil {
			return none, fmt.Errorf("creating the installer container from %s: %w", image, wrapDaemon(err))
		}
		if _, err = api.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err == nil {
			id = created.ID
			break
		}
		removeContainer(api, created.ID)
		startErrs = append(startErrs, fmt.Sprintf("%s: %v", []string{"privileged", "with CAP_SYS_ADMIN"}[i], wrapDaemon(err)))
	}
	if id == "" {
		return none, fmt.Errorf("starting the installer container: %s", strings.Join(startErrs, "; "))
	}
	defer removeContainer(api, id)

	var status int64
	var waitErr error
	wait := api.ContainerWait(ctx, id, client.ContainerWaitOptions{})
	select {
	case res := <-wait.Result:
		status = res.StatusCode
	case err := <-wait.Error:
		waitErr = fmt.Errorf("waiting for the installer container: %w", wrapDaemon(err))
		if ctx.Err() != nil {
			waitErr = fmt.Errorf("installer %s interrupted: %w", image, ctx.Err())
		}
	}
	// From here on ctx may be done: the log says what the installer did.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if waitErr != nil {
		if _, err := api.ContainerKill(cctx, id, client.ContainerKillOptions{}); err == nil {
			stopped := api.ContainerWait(cctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
			select {
			case <-stopped.Result:
			case <-stopped.Error:
			}
		}
	}
	logs, err := api.ContainerLogs(cctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return none, errors.Join(waitErr, fmt.Errorf("reading the installer's output: %w", wrapDaemon(err)))
	}
	defer logs.Close()
	var stdout, stderr bytes.Buffer
	if _, err := stdcopy.StdCopy(&stdout, &stderr, logs); err != nil {
		return none, errors.Join(waitErr, fmt.Errorf("reading the installer's output: %w", err))
	}
	out, err := parseInstallerOutput(stdout.Bytes(), stderr.Bytes())
	switch {
	case waitErr != nil:
		return out, waitErr
	case out.Fatal != "" || status != 0:
		return out, fmt.Errorf("installer %s exited %d: %s", image, status, firstNonEmpty(out.Fatal, lastLine(stderr.Bytes())))
	case err != nil:
		return out, fmt.Errorf("installer %s printed no status JSON: %w", image, err)
	}
	return out, nil
}

// removeContainer deletes a container, even when ctx was cancelled.
func removeContainer(api *client.Client, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	api.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true})
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
