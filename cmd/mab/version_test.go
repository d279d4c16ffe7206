package main

import (
	"bytes"
	"encoding/json"
	"reflect"
	"runtime/debug"
	"strings"
	"testing"
)

const rev = "0123456789abcdef0123456789abcdef01234567"

func buildInfo(mainVersion string, settings ...string) *debug.BuildInfo {
	info := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/mab-build/mab", Version: mainVersion},
		Deps:      []*debug.Module{{Path: "github.com/moby/buildkit", Version: "v0.34.2"}},
	}
	for i := 0; i+1 < len(settings); i += 2 {
		info.Settings = append(info.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
	}
	return info
}

// TestVersionFromBuildInfo: without values set at link time, the build
// info gives the version, commit, date and platform, and a modified tree
// stamps -dirty.
func TestVersionFromBuildInfo(t *testing.T) {
	vcs := []string{"vcs", "git", "vcs.revision", rev, "vcs.time", "2026-11-23T11:32:07Z", "GOOS", "linux", "GOARCH", "arm64"}
	for _, c := range []struct {
		name     string
		info     *debug.BuildInfo
		linked   linked
		want     versionInfo
		wantText string
	}{
		{"devel, clean", buildInfo("(devel)", append(vcs, "vcs.modified", "false")...), linked{},
			versionInfo{"(devel)", rev, "2026-11-23T11:32:07Z", "go1.26.8", "v0.34.2", "linux/arm64"}, ""},
		{"devel, modified", buildInfo("(devel)", append(vcs, "vcs.modified", "true")...), linked{},
			versionInfo{"(devel)-dirty", rev, "2026-11-23T11:32:07Z", "go1.26.8", "v0.34.2", "linux/arm64"}, ""},
		{"no main version", buildInfo("", append(vcs, "vcs.modified", "true")...), linked{},
			versionInfo{"(devel)-dirty", rev, "2026-11-23T11:32:07Z", "go1.26.8", "v0.34.2", "linux/arm64"}, ""},
		{"go's pseudo-version says +dirty itself", buildInfo("v0.0.0-20261123113207-0123456789ab+dirty", append(vcs, "vcs.modified", "true")...), linked{},
			versionInfo{"v0.0.0-20261123113207-0123456789ab+dirty", rev, "2026-11-23T11:32:07Z", "go1.26.8", "v0.34.2", "linux/arm64"}, ""},
		{"go install @v1.2.3: no VCS", buildInfo("v1.2.3", "GOOS", "darwin", "GOARCH", "arm64"), linked{},
			versionInfo{"v1.2.3", "", "", "go1.26.8", "v0.34.2", "darwin/arm64"},
			"mab:       v1.2.3\ncommit:    unknown\nbuilt:     unknown\ngo:        go1.26.8\nbuildkit:  v0.34.2 (client)\nplatform:  darwin/arm64\n"},
		{"linked values win", buildInfo("(devel)", append(vcs, "vcs.modified", "true")...), linked{"v1.2.3-4-gabcdef0-dirty", "abcdef0abcdef0abcdef0abcdef0abcdef0abcd", "2026-01-02T03:04:05Z"},
			versionInfo{"v1.2.3-4-gabcdef0-dirty", "abcdef0abcdef0abcdef0abcdef0abcdef0abcd", "2026-01-02T03:04:05Z", "go1.26.8", "v0.34.2", "linux/arm64"}, ""},
		{"arm names its variant", buildInfo("v1.2.3", "GOOS", "linux", "GOARCH", "arm", "GOARM", "7"), linked{},
			versionInfo{"v1.2.3", "", "", "go1.26.8", "v0.34.2", "linux/arm/v7"}, ""},
		{"arm, softfloat", buildInfo("v1.2.3", "GOOS", "linux", "GOARCH", "arm", "GOARM", "6,softfloat"), linked{},
			versionInfo{"v1.2.3", "", "", "go1.26.8", "v0.34.2", "linux/arm/v6"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := versionFrom(c.info, c.linked)
			if got != c.want {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
			if c.wantText == "" {
				return
			}
			var b bytes.Buffer
			if err := writeVersion(&b, "text", got); err != nil {
				t.Fatal(err)
			}
			if b.String() != c.wantText {
				t.Errorf("text:\n%s\nwant:\n%s", b.String(), c.wantText)
			}
		})
	}
}

func TestVersionWithoutBuildInfo(t *testing.T) {
	v := versionFrom(nil, linked{})
	if v.Version != "(devel)" || v.Go == "" || v.Platform == "" || v.BuildKit != "" {
		t.Errorf("%+v", v)
	}
}

// TestVersionJSONKeysAreStable: scripts read these keys; renaming one
// breaks them.
func TestVersionJSONKeysAreStable(t *testing.T) {
	out, _, err := run(t, "version", "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	var keys []string
	for k, v := range m {
		if _, ok := v.(string); !ok {
			t.Errorf("%s = %v, want a string", k, v)
		}
		keys = append(keys, k)
	}
	want := []string{"buildkit", "commit", "date", "go", "platform", "version"}
	if len(keys) != len(want) {
		t.Errorf("keys %v, want %v", keys, want)
	}
	for _, k := range want {
		if _, ok := m[k]; !ok {
			t.Errorf("no key %q in %s", k, out)
		}
	}
	if !strings.HasPrefix(m["buildkit"].(string), "v0.") {
		t.Errorf("buildkit = %v: the test binary links BuildKit's client", m["buildkit"])
	}
	var back versionInfo
	if err := json.Unmarshal([]byte(out), &back); err != nil || reflect.DeepEqual(back, versionInfo{}) {
		t.Errorf("does not decode into versionInfo: %v", err)
	}
}

func TestVersionRefusesUnknownFormat(t *testing.T) {
	out, _, err := run(t, "version", "--format", "yaml")
	if err == nil {
		t.Fatal("accepted --format yaml")
	}
	if out != "" {
		t.Errorf("printed %q before failing", out)
	}
	if msg := err.Error(); msg != `unknown --format "yaml": want text or json` || strings.Contains(msg, "\n") {
		t.Errorf("err = %q, want one line naming the format and the choices", msg)
	}
}
