package builder

import (
	"errors"
	"strings"
	"testing"

	"github.com/mab-build/mab/internal/platform"
)

// FuzzParseNodes holds ParseNodes to its contract for two --node flags and
// a $MAB_NODES value: never a panic; an error of one line that wraps
// ErrInvalidNode; no endpoint twice for one platform, and an address each.
func FuzzParseNodes(f *testing.F) {
	f.Add("linux/aarch64=tcp://arm:1234", "linux/riscv64=tcp://rv:1", "linux/arm/v7=ssh://pi@rpi; linux/arm64=tcp://other:1")
	f.Add("linux/arm64=a", "linux/aarch64=b", "")
	f.Add("linux/arm64", "", "linux/arm64=a linux/arm64=b")
	f.Add("linux/=tcp://x", "linux/amd65=tcp://x", "novalue")
	f.Add("arm64=tcp://a:1", "linux/arm64/v8=tcp://b:1", "linux/arm64=x\tlinux/arm=y\nlinux/arm/v7=z")
	f.Add("windows(10.0.17763)/amd64=tcp://w:1", "windows/amd64=tcp://v:1", "")
	f.Fuzz(func(t *testing.T, flag1, flag2, env string) {
		nodes, err := ParseNodes([]string{flag1, flag2}, env)
		if err != nil {
			if !errors.Is(err, ErrInvalidNode) {
				t.Fatalf("error %v does not wrap ErrInvalidNode", err)
			}
			oneLine(t, err)
			return
		}
		seen := map[string]bool{}
		for _, n := range nodes {
			k := platform.Key(n.Platform)
			if seen[k+"="+n.Address] {
				t.Fatalf("platform %s has endpoint %s twice: %v", k, n.Address, nodes)
			}
			seen[k+"="+n.Address] = true
			if n.Address == "" {
				t.Fatalf("node of %s has no address", k)
			}
		}
	})
}

// FuzzParseCache holds ParseCacheFrom and ParseCacheTo to their contract:
// never a panic; an error of one line that wraps ErrInvalidOption; a cache
// with a type other than local, and a registry cache with a ref.
func FuzzParseCache(f *testing.F) {
	for _, s := range []string{
		"", " ", "r/cache:{arch}", "type=registry,ref=r/c:1,mode=max", "ref=r/c", "type=local,src=/tmp",
		"type=registry", "type=gha,scope=x", "TYPE=local", `type=registry,"ref=a,b"`, "a,b", "type=inline", "=", "type=",
		"type=registry,ref=\"r\nc\"", "mode=max", "type=s3,bucket=b,region=r",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, parse := range []func(string) (Cache, error){ParseCacheFrom, ParseCacheTo} {
			c, err := parse(s)
			if err != nil {
				if !errors.Is(err, ErrInvalidOption) {
					t.Fatalf("%q: error %v does not wrap ErrInvalidOption", s, err)
				}
				oneLine(t, err)
				continue
			}
			if c.Type == "" || c.Type == "local" {
				t.Fatalf("%q: accepted as a cache of type %q", s, c.Type)
			}
			if c.Type == "registry" && c.Attrs["ref"] == "" {
				t.Fatalf("%q: a registry cache without a ref", s)
			}
		}
	})
}

// FuzzParseSecret holds ParseSecret to its contract: never a panic, an
// error of one line, and a secret with an ID and exactly one of a file and
// an environment variable.
func FuzzParseSecret(f *testing.F) {
	for _, s := range []string{
		"id=a,src=/etc/hostname", "id=a,env=PATH", "id=a,type=env,src=PATH", "id=a,type=file,source=/etc/hostname",
		"id=a", "src=/etc/hostname", "id=a,src=/nope", "id=a,env=MAB_FUZZ_UNSET", "bogus", "id=a,x=y", `"id=a,src=/x`, "",
		"id=a\nb,src=/nope", "ID=a,SRC=/etc/hostname",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sec, err := ParseSecret(s)
		if err != nil {
			oneLine(t, err)
			return
		}
		if sec.ID == "" || (sec.FilePath == "") == (sec.Env == "") {
			t.Fatalf("%q: secret %+v", s, sec)
		}
	})
}

// FuzzParseSSH holds ParseSSH to its contract: never a panic, an error of
// one line, and an agent with an ID and at least one socket or key.
func FuzzParseSSH(f *testing.F) {
	for _, s := range []string{"default", "default=/run/agent.sock", "id=/a,/b", "id=raw=true", "id=/a,raw=true", "id=/a,/b,raw=true", "id=raw=maybe", "", "=x", "a\nb=raw=x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		conf, err := ParseSSH(s)
		if err != nil {
			oneLine(t, err)
			return
		}
		if conf.ID == "" || len(conf.Paths) == 0 {
			t.Fatalf("%q: agent %+v", s, conf)
		}
	})
}

func oneLine(t *testing.T, err error) {
	t.Helper()
	if strings.ContainsAny(err.Error(), "\r\n") {
		t.Fatalf("error has several lines: %q", err)
	}
}
