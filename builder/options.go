package builder

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/cmd/buildctl/build"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/moby/buildkit/session/sshforward/sshprovider"
	"github.com/tonistiigi/go-csvvalue"
)

// ErrInvalidOption is wrapped by the errors of ParseSecret, ParseSSH and
// ParseCache: the value itself is wrong.
var ErrInvalidOption = errors.New("invalid")

// Secret is a secret for RUN --mount=type=secret: id=ID,src=FILE or
// id=ID,env=VAR (buildx's syntax; type=file|env is accepted too). Its value
// never leaves this process except to the solve that mounts it.
type Secret = secretsprovider.Source

// SSH is an SSH agent for RUN --mount=type=ssh: "default" (the agent of
// $SSH_AUTH_SOCK) or ID=SOCKET_OR_KEY[,SOCKET_OR_KEY...].
type SSH = sshprovider.AgentConfig

// Cache is a cache import or export: type=registry,ref=…,mode=max or a
// bare reference (then type=registry). "{arch}" in any value is replaced
// per platform by its architecture and variant (arm64, armv7).
type Cache = client.CacheOptionsEntry

// ParseSecret parses one secret. buildctl's parser is not used: it
// returns a ready session attachable, and mab checks each file or
// variable before any daemon is dialled.
func ParseSecret(s string) (Secret, error) {
	fields, err := csvvalue.Fields(s, nil)
	if err != nil {
		return Secret{}, fmt.Errorf("%w secret %q: %w", ErrInvalidOption, s, err)
	}
	var sec Secret
	var typ string
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return Secret{}, fmt.Errorf("%w secret %q: %q is not KEY=VALUE", ErrInvalidOption, s, f)
		}
		switch strings.ToLower(k) {
		case "id":
			sec.ID = v
		case "src", "source":
			sec.FilePath = v
		case "env":
			sec.Env = v
		case "type":
			typ = v
		default:
			return Secret{}, fmt.Errorf("%w secret %q: unknown key %q (want id, src, env, type)", ErrInvalidOption, s, k)
		}
	}
	if typ == "env" && sec.Env == "" {
		sec.Env, sec.FilePath = sec.FilePath, ""
	}
	if sec.ID == "" {
		return Secret{}, fmt.Errorf("%w secret %q: id is required", ErrInvalidOption, s)
	}
	switch {
	case sec.FilePath != "":
		if _, err := os.Stat(sec.FilePath); err != nil {
			return Secret{}, fmt.Errorf("secret %q: %w", sec.ID, err)
		}
	case sec.Env != "":
		if _, ok := os.LookupEnv(sec.Env); !ok {
			return Secret{}, fmt.Errorf("secret %q: environment variable %q is not set", sec.ID, sec.Env)
		}
	default:
		return Secret{}, fmt.Errorf("%w secret %q: give src=FILE or env=VAR", ErrInvalidOption, s)
	}
	return sec, nil
}

// ParseSSH parses one SSH agent with buildctl's parser (which also knows
// raw=true), and checks that "default" has an agent to forward.
func ParseSSH(s string) (SSH, error) {
	confs, err := build.ParseSSH([]string{s})
	if err != nil {
		return SSH{}, fmt.Errorf("%w ssh %q: %q", ErrInvalidOption, s, err.Error())
	}
	conf := confs[0]
	if conf.ID == "" {
		return SSH{}, fmt.Errorf("%w ssh %q: want default or ID=SOCKET|KEY", ErrInvalidOption, s)
	}
	if len(conf.Paths) == 0 {
		sock := os.Getenv("SSH_AUTH_SOCK")
		if sock == "" {
			return SSH{}, fmt.Errorf("ssh %q: SSH_AUTH_SOCK is not set and no socket or key was given", conf.ID)
		}
		conf.Paths = []string{sock}
	}
	return conf, nil
}

// ParseCacheFrom parses one cache import with buildctl's parser.
func ParseCacheFrom(s string) (Cache, error) { return parseCache(s, build.ParseImportCache) }

// ParseCacheTo parses one cache export with buildctl's parser (mode=min
// unless given).
func ParseCacheTo(s string) (Cache, error) { return parseCache(s, build.ParseExportCache) }

// parseCache reads a bare reference as type=registry itself (buildctl
// would log a deprecation warning for it), and refuses what a shared
// session cannot carry (type=local) or what names no cache (an empty or
// blank value or ref).
func parseCache(s string, parse func([]string) ([]Cache, error)) (Cache, error) {
	in := s
	if s = strings.TrimSpace(s); s == "" {
		return Cache{}, fmt.Errorf("%w cache option %q: empty", ErrInvalidOption, in)
	}
	switch {
	case !strings.Contains(s, "="):
		s = "type=registry,ref=" + s
	case !strings.Contains(s, "type="):
		s = "type=registry," + s
	}
	caches, err := parse([]string{s})
	if err != nil {
		// buildctl's messages repeat the bad field raw: quote them.
		return Cache{}, fmt.Errorf("%w cache option %q: %q", ErrInvalidOption, in, err.Error())
	}
	c := caches[0]
	switch {
	case c.Type == "local":
		return Cache{}, fmt.Errorf("%w cache option %q: type=local is not supported; use type=registry,ref=REPO:TAG", ErrInvalidOption, in)
	case c.Type == "registry" && strings.TrimSpace(c.Attrs["ref"]) == "":
		return Cache{}, fmt.Errorf("%w cache option %q: type=registry needs ref=REPO:TAG", ErrInvalidOption, in)
	}
	return c, nil
}

// expandCache returns entries with "{arch}" replaced by arch in every value.
func expandCache(entries []Cache, arch string, insecure bool) []Cache {
	out := make([]Cache, len(entries))
	for i, e := range entries {
		attrs := make(map[string]string, len(e.Attrs)+1)
		for k, v := range e.Attrs {
			attrs[k] = strings.ReplaceAll(v, "{arch}", arch)
		}
		if insecure && e.Type == "registry" {
			if _, set := attrs["registry.insecure"]; !set {
				attrs["registry.insecure"] = "true"
			}
		}
		out[i] = Cache{Type: e.Type, Attrs: attrs}
	}
	return out
}
