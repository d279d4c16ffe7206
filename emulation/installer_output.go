package emulation

import (
	"bufio"
	"bytes"
	"encoding/json"
	"slices"
	"strings"
)

// installerOutput is what an installer container (tonistiigi/binfmt's
// cmd/binfmt, or a program that talks like it) printed.
type installerOutput struct {
	// Results maps each name of an "installing: NAME RESULT" or
	// "uninstalling: NAME RESULT" line of stderr to RESULT: "OK", or why
	// not ("qemu-aarch64 already registered", "not found", …).
	Results map[string]string
	// Fatal is the error that stopped the installer ("error: …" on
	// stderr), with the stack trace that pkg/errors' %+v appends left out.
	Fatal string
	// Supported are the platforms the kernel runs afterwards and Emulators
	// its enabled binfmt_misc entries: the JSON printed on stdout.
	Supported []string `json:"supported"`
	Emulators []string `json:"emulators"`
}

// parseInstallerOutput reads an installer's stderr and stdout. The error
// is that of the stdout JSON; Results and Fatal are filled in any case.
//
// tonistiigi/binfmt logs without timestamps (log.SetFlags(0)) one line per
// name, and on a fatal error "error: %+v" of a github.com/pkg/errors error:
// the message lines (for errors.Wrapf, the cause first, then the message),
// then the stack, each frame a function line followed by a tab-indented
// file:line. Fatal is the message lines in reading order of the error
// ("cannot mount …: operation not permitted").
func parseInstallerOutput(stdout, stderr []byte) (installerOutput, error) {
	out := installerOutput{Results: map[string]string{}}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(stderr))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		for _, verb := range []string{"installing: ", "uninstalling: "} {
			if rest, ok := strings.CutPrefix(line, verb); ok {
				name, res, _ := strings.Cut(rest, " ")
				out.Results[name] = res
			}
		}
		rest, ok := strings.CutPrefix(line, "error: ")
		if !ok || out.Fatal != "" {
			continue
		}
		msg := []string{rest}
		for j := i + 1; j < len(lines) && !stackFrame(lines, j) && !logLine(lines[j]); j++ {
			msg = append(msg, strings.TrimSpace(lines[j]))
		}
		slices.Reverse(msg)
		out.Fatal = strings.Join(msg, ": ")
	}
	return out, json.Unmarshal(stdout, &out)
}

// stackFrame reports whether lines[i] starts a frame of a pkg/errors stack
// trace (a function, then its tab-indented file:line), or is inside one.
func stackFrame(lines []string, i int) bool {
	if strings.HasPrefix(lines[i], "\t") {
		return true
	}
	return i+1 < len(lines) && strings.HasPrefix(lines[i+1], "\t")
}

// logLine reports whether line is one of the installer's own log lines,
// which end the message of an error before it.
func logLine(line string) bool {
	for _, p := range []string{"installing: ", "uninstalling: ", "error: "} {
		if strings.HasPrefix(line, p) {
			return true
		}
	}
	return false
}
