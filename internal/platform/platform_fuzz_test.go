package platform

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse holds Parse to its contract for any string: an error is one
// line and wraps ErrInvalid; a platform it returns prints, with FormatAll,
// as a string that parses to the same Key, and prints, with Format, as a
// string that parses.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"linux/amd64", "linux/arm64", "linux/aarch64", "linux/arm", "linux/arm/v7", "linux/arm/v6",
		"linux/arm64/v8", "arm64", "x86_64", "riscv64", "linux", "linux/", "/amd64", "",
		"windows(10.0.17763)/amd64", "windows(10.0.17763+win32k)/amd64", "LINUX/AMD64",
		"linux/amd64/v3", "linux/sparc99", "plan10/amd64", "foo/bar/baz/qux", "linux/arm/v9",
		"linux/\n", "darwin/arm64", "linux/386", "i386", "armhf", "armel", "linux/arm64/v9",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			checkErr(t, s, err)
			return
		}
		key := Key(p)
		again, err := Parse(FormatAll(p))
		if err != nil {
			t.Fatalf("Parse(%q) = %s, and Parse(FormatAll) = %v", s, key, err)
		}
		if Key(again) != key {
			t.Fatalf("Parse(%q) has key %s; reparsed from %q it has %s", s, key, FormatAll(p), Key(again))
		}
		if _, err := Parse(Format(p)); err != nil {
			t.Fatalf("Parse(%q) = %s, and Parse(Format) = %v", s, key, err)
		}
	})
}

// FuzzParseList holds ParseList to its contract for any two flag values:
// an error is one line and wraps ErrInvalid; the platforms it returns have
// distinct keys, each as Parse gives it.
func FuzzParseList(f *testing.F) {
	f.Add("linux/amd64,linux/arm64", "linux/arm/v7")
	f.Add("linux/arm64,linux/aarch64", "")
	f.Add("linux/arm", "linux/arm/v7")
	f.Add(" , ,linux/riscv64 ,", "arm64/v8")
	f.Add("windows(10.0.17763)/amd64,windows/amd64", "linux/amd64")
	f.Add("linux/amd64,linux/x86_64", "linux/amd65")
	f.Fuzz(func(t *testing.T, a, b string) {
		got, err := ParseList([]string{a, b})
		if err != nil {
			checkErr(t, a+" "+b, err)
			return
		}
		seen := map[string]bool{}
		for _, p := range got {
			k := Key(p)
			if seen[k] {
				t.Fatalf("ParseList(%q, %q) lists %s twice", a, b, k)
			}
			seen[k] = true
			q, err := Parse(FormatAll(p))
			if err != nil || Key(q) != k {
				t.Fatalf("ParseList(%q, %q) gave %s, which Parse reads as %s, %v", a, b, k, Key(q), err)
			}
		}
	})
}

func checkErr(t *testing.T, in string, err error) {
	t.Helper()
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("%q: error %v does not wrap ErrInvalid", in, err)
	}
	if strings.ContainsAny(err.Error(), "\r\n") {
		t.Fatalf("%q: error has several lines: %q", in, err)
	}
}
