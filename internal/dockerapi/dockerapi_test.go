package dockerapi

import (
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

func TestNewRefusesOtherSchemes(t *testing.T) {
	_, err := New(context.Background(), "ssh://me@host")
	if !errors.Is(err, ErrUnsupportedHost) || !strings.Contains(err.Error(), "unix:// or tcp://") {
		t.Errorf("err = %v", err)
	}
}

func TestNewUnreachableIsOneLineNamingTheHost(t *testing.T) {
	_, err := New(context.Background(), "unix:///nonexistent/docker.sock")
	if !errors.Is(err, ErrUnreachable) || strings.Contains(err.Error(), "\n") ||
		!strings.HasPrefix(err.Error(), "cannot reach the Docker daemon at unix:///nonexistent/docker.sock: ") {
		t.Errorf("err = %v", err)
	}
}

func TestNewHostFromEnvironmentAndNegotiatesVersion(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("API-Version", "1.41")
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	t.Setenv("DOCKER_HOST", "unix://"+sock)
	api, err := New(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer api.Close()
	if api.DaemonHost() != "unix://"+sock || api.ClientVersion() != "1.41" {
		t.Errorf("host %s, version %s; want $DOCKER_HOST and 1.41", api.DaemonHost(), api.ClientVersion())
	}
}
