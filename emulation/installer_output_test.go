package emulation

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// The files in testdata/binfmt are the stderr and stdout of the real
// installer image, tonistiigi/binfmt, as its cmd/binfmt/main.go writes them
// (github.com/tonistiigi/binfmt, cmd/binfmt/main.go at commit
// e41434fefad6aee7b01fbe5efc1c4b6f6c735fff, last changed in 7a3a1dc3ef28):
//
//   - log.SetFlags(0), so no timestamp prefix;
//   - log.Printf("installing: %s OK", name) or "installing: %s %v" with the
//     error of install(): "qemu-aarch64 already registered" (EEXIST),
//     `cannot register "/usr/bin/qemu-riscv64" to …/register: write …`;
//   - log.Printf("uninstalling: %s OK", name), or "… not found";
//   - a fatal error as log.Printf("error: %+v", err) of a
//     github.com/pkg/errors error: for errors.Wrapf the cause, a newline,
//     the message, then the stack (function, newline, tab, file:line);
//   - on stdout json.MarshalIndent(…, "", "  ") of {"supported": the
//     platforms BuildKit's archutil detects, FormatAll(Normalize(p)), so
//     linux/amd64/v2 appears; "emulators": every enabled entry, null when
//     there is none}, then a newline. binfmt exits 0 even after "error: ".
//
// No registry is reachable where these tests were written, so the files
// are written from that source, not captured from a container; the stack
// frames' runtime lines depend on the Go version of the image and are not
// read by the parser.
func TestParseInstallerOutputGolden(t *testing.T) {
	cases := []struct {
		name string
		want installerOutput
	}{
		{"install-ok", installerOutput{
			Results:   map[string]string{"arm64": "OK", "riscv64": "OK"},
			Supported: []string{"linux/amd64", "linux/amd64/v2", "linux/amd64/v3", "linux/arm64", "linux/riscv64", "linux/386"},
			Emulators: []string{"qemu-aarch64", "qemu-riscv64"},
		}},
		{"install-mixed", installerOutput{
			Results: map[string]string{
				"arm64":   "qemu-aarch64 already registered",
				"riscv64": `cannot register "/usr/bin/qemu-riscv64" to /proc/sys/fs/binfmt_misc/register: write /proc/sys/fs/binfmt_misc/register: no such file or directory`,
			},
			Supported: []string{"linux/amd64", "linux/amd64/v2", "linux/amd64/v3", "linux/arm64", "linux/386"},
			Emulators: []string{"python3.11", "qemu-aarch64"},
		}},
		{"uninstall", installerOutput{
			Results:   map[string]string{"qemu-aarch64": "OK", "qemu-riscv64": "not found"},
			Supported: []string{"linux/amd64", "linux/amd64/v2", "linux/amd64/v3", "linux/386"},
		}},
		{"mount-error", installerOutput{
			Results: map[string]string{},
			Fatal:   "cannot mount binfmt_misc filesystem at /proc/sys/fs/binfmt_misc: operation not permitted",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stdout := readGolden(t, c.name+".stdout")
			stderr := readGolden(t, c.name+".stderr")
			got, err := parseInstallerOutput(stdout, stderr)
			if (err != nil) != (len(stdout) == 0) {
				t.Errorf("JSON error %v for stdout %q", err, stdout)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("parsed\n got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

// TestParseInstallerOutputStandIn: the end-to-end tests' stand-in
// (internal/testenv/binfmt) logs a fatal error on one line, without a stack.
func TestParseInstallerOutputStandIn(t *testing.T) {
	got, _ := parseInstallerOutput(nil, []byte("uninstalling: qemu-riscv64 OK\nerror: cannot mount binfmt_misc filesystem at /m: operation not permitted\n"))
	if got.Fatal != "cannot mount binfmt_misc filesystem at /m: operation not permitted" || got.Results["qemu-riscv64"] != "OK" {
		t.Errorf("parsed %+v", got)
	}
}

func readGolden(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "binfmt", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
