package emulation

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// Entry is one handler file of binfmt_misc, as the kernel shows it.
type Entry struct {
	Name        string
	Enabled     bool
	Interpreter string
	Flags       string
	Offset      int
	Magic, Mask []byte
}

// FixBinary reports whether the F flag is set: the kernel opens the
// interpreter at registration, so it works inside containers and chroots
// where its path does not exist.
func (e Entry) FixBinary() bool { return strings.Contains(e.Flags, "F") }

// ParseEntry parses the content of /proc/sys/fs/binfmt_misc/<name>:
//
//	enabled
//	interpreter /usr/bin/qemu-aarch64-static
//	flags: OCF
//	offset 0
//	magic 7f454c46...
//	mask ffffffff...
func ParseEntry(name string, data []byte) (Entry, error) {
	e := Entry{Name: name}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) == 0 || lines[0] == "" {
		return e, fmt.Errorf("binfmt_misc entry %s is empty", name)
	}
	switch lines[0] {
	case "enabled":
		e.Enabled = true
	case "disabled":
	default:
		return e, fmt.Errorf("binfmt_misc entry %s: unexpected first line %q", name, lines[0])
	}
	for _, line := range lines[1:] {
		key, val, _ := strings.Cut(line, " ")
		var err error
		switch strings.TrimSuffix(key, ":") {
		case "interpreter":
			e.Interpreter = val
		case "flags":
			e.Flags = val
		case "offset":
			e.Offset, err = strconv.Atoi(val)
		case "magic":
			e.Magic, err = hex.DecodeString(val)
		case "mask":
			e.Mask, err = hex.DecodeString(val)
		}
		if err != nil {
			return e, fmt.Errorf("binfmt_misc entry %s: line %q: %w", name, line, err)
		}
	}
	return e, nil
}

// Serves reports whether e selects a's executables: same offset 0 and the
// same magic under a's mask.
func (e Entry) Serves(a Arch) bool {
	if e.Offset != 0 || len(e.Magic) < len(a.Magic) {
		return false
	}
	for i := range a.Magic {
		if e.Magic[i]&a.Mask[i] != a.Magic[i]&a.Mask[i] {
			return false
		}
	}
	return true
}

// RegisterLine is the line written to binfmt_misc's register file to
// install interpreter for a with flags:
//
//	:qemu-aarch64:M::\x7f\x45...:\xff\xff...:/usr/bin/qemu-aarch64-static:POCF
//
// Every byte of magic and mask is escaped, so a byte that happens to be
// ':' cannot end a field.
func RegisterLine(a Arch, interpreter, flags string) string {
	return fmt.Sprintf(":%s:M::%s:%s:%s:%s", a.Entry(), escape(a.Magic), escape(a.Mask), interpreter, flags)
}

func escape(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		fmt.Fprintf(&sb, "\\x%02x", c)
	}
	return sb.String()
}

// line is the register line that recreates e exactly (name, magic, mask,
// interpreter and flags): what Host.Install's undo registers again. The
// kernel shows the O flag implied by C, so O is dropped.
func (e Entry) line() string {
	flags := strings.NewReplacer("O", "").Replace(e.Flags)
	if strings.Contains(e.Flags, "O") && !strings.Contains(e.Flags, "C") {
		flags += "O"
	}
	return fmt.Sprintf(":%s:M:%d:%s:%s:%s:%s", e.Name, e.Offset, escape(e.Magic), escape(e.Mask), e.Interpreter, flags)
}
