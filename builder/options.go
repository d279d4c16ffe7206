package builder

import (
	"encoding/csv"
	"fmt"
	"os"
	"strings"

	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/moby/buildkit/session/sshforward/sshprovider"
)

// Secret is a --secret: id=ID,src=FILE or id=ID,env=VAR (buildx's syntax;
// type=file|env is accepted too). Its value never leaves this process
// except to the solve that mounts it.
type Secret = secretsprovider.Source

// SSH is an --ssh: "default" (the agent of $SSH_AUTH_SOCK) or
// ID=SOCKET_OR_KEY[,SOCKET_OR_KEY...].
type SSH = sshprovider.AgentConfig

// Cache is a --cache-from or --cache-to entry: type=registry,ref=…,mode=max
// or a bare reference (then type=registry). "{arch}" in any value is
// replaced per platform by its architecture and variant (arm64, armv7).
type Cache = bkclient.CacheOptionsEntry

// ParseSecret parses one --secret.
func ParseSecret(s string) (Secret, error) {
	fields, err := csvFields(s)
	if err != nil {
		return Secret{}, fmt.Errorf("invalid --secret %q: %w", s, err)
	}
	var sec Secret
	var typ string
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return Secret{}, fmt.Errorf("invalid --secret %q: %q is not KEY=VALUE", s, f)
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
			return Secret{}, fmt.Errorf("invalid --secret %q: unknown key %q (want id, src, env, type)", s, k)
		}
	}
	if typ == "env" && sec.Env == "" {
		sec.Env, sec.FilePath = sec.FilePath, ""
	}
	if sec.ID == "" {
		return Secret{}, fmt.Errorf("invalid --secret %q: id is required", s)
	}
	switch {
	case sec.FilePath != "":
		if _, err := os.Stat(sec.FilePath); err != nil {
			return Secret{}, fmt.Errorf("--secret %s: %w", sec.ID, err)
		}
	case sec.Env != "":
		if _, ok := os.LookupEnv(sec.Env); !ok {
			return Secret{}, fmt.Errorf("--secret %s: environment variable %s is not set", sec.ID, sec.Env)
		}
	default:
		return Secret{}, fmt.Errorf("invalid --secret %q: give src=FILE or env=VAR", s)
	}
	return sec, nil
}

// ParseSSH parses one --ssh.
func ParseSSH(s string) (SSH, error) {
	id, paths, _ := strings.Cut(s, "=")
	if id == "" {
		return SSH{}, fmt.Errorf("invalid --ssh %q: want default or ID=SOCKET|KEY", s)
	}
	conf := SSH{ID: id}
	if paths != "" {
		conf.Paths = strings.Split(paths, ",")
	} else if sock := os.Getenv("SSH_AUTH_SOCK"); sock != "" {
		conf.Paths = []string{sock}
	} else {
		return SSH{}, fmt.Errorf("--ssh %s: SSH_AUTH_SOCK is not set and no socket or key was given", id)
	}
	return conf, nil
}

// ParseCache parses one --cache-from or --cache-to.
func ParseCache(s string) (Cache, error) {
	fields, err := csvFields(s)
	if err != nil {
		return Cache{}, fmt.Errorf("invalid cache option %q: %w", s, err)
	}
	c := Cache{Attrs: map[string]string{}}
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			if len(fields) == 1 {
				return Cache{Type: "registry", Attrs: map[string]string{"ref": f}}, nil
			}
			return Cache{}, fmt.Errorf("invalid cache option %q: %q is not KEY=VALUE", s, f)
		}
		if k == "type" {
			c.Type = v
		} else {
			c.Attrs[k] = v
		}
	}
	if c.Type == "" {
		c.Type = "registry"
	}
	if c.Type == "local" {
		return Cache{}, fmt.Errorf("cache option %q: type=local is not supported; use type=registry,ref=REPO:TAG", s)
	}
	if c.Type == "registry" && c.Attrs["ref"] == "" {
		return Cache{}, fmt.Errorf("invalid cache option %q: type=registry needs ref=REPO:TAG", s)
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

func csvFields(s string) ([]string, error) {
	r := csv.NewReader(strings.NewReader(s))
	r.TrimLeadingSpace = true
	return r.Read()
}
