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
// ':' cannot end a field. The kernel takes the line's first character as
// the delimiter and unescapes only magic and mask, so when interpreter
// holds a ':' another delimiter that no field holds is used; an
// interpreter that holds every candidate, a newline or NUL, or a line
// longer than the kernel takes, is an error wrapping ErrRegisterLine.
func RegisterLine(a Arch, interpreter, flags string) (string, error) {
	return registerLine(a.Entry(), "", a.Magic, a.Mask, interpreter, flags)
}

// delimiters are the candidates for a register line's delimiter, in the
// order they are tried. None is a hexadecimal digit, 'x' or '\\', which the
// escaped magic and mask are made of, nor a letter of the flags.
const delimiters = ":|#!,;@%+=~^"

// maxRegisterLine is the longest line the kernel's register file takes
// (MAX_REGISTER_LENGTH in fs/binfmt_misc.c).
const maxRegisterLine = 1920

// registerLine assembles a register line for type M (magic) with the
// first delimiter that appears in none of the fields that cannot be
// escaped (name, offset, interpreter, flags).
func registerLine(name, offset string, magic, mask []byte, interpreter, flags string) (string, error) {
	switch {
	case name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\n\x00"):
		return "", fmt.Errorf("%w: entry name %q", ErrRegisterLine, name)
	case interpreter == "" || strings.ContainsAny(interpreter, "\n\x00"):
		return "", fmt.Errorf("%w: interpreter %q", ErrRegisterLine, interpreter)
	case strings.Trim(flags, "POCF") != "":
		return "", fmt.Errorf("%w: flags %q (want letters of POCF)", ErrRegisterLine, flags)
	}
	for _, d := range delimiters {
		if strings.ContainsRune(name+offset+interpreter, d) {
			continue
		}
		del := string(d)
		line := del + strings.Join([]string{name, "M", offset, escape(magic), escape(mask), interpreter, flags}, del)
		if len(line) > maxRegisterLine {
			return "", fmt.Errorf("%w: %d bytes, the kernel takes at most %d", ErrRegisterLine, len(line), maxRegisterLine)
		}
		return line, nil
	}
	return "", fmt.Errorf("%w: interpreter %q holds every delimiter mab can use (%s)", ErrRegisterLine, interpreter, delimiters)
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
func (e Entry) line() (string, error) {
	flags := strings.NewReplacer("O", "").Replace(e.Flags)
	if strings.Contains(e.Flags, "O") && !strings.Contains(e.Flags, "C") {
		flags += "O"
	}
	return registerLine(e.Name, strconv.Itoa(e.Offset), e.Magic, e.Mask, e.Interpreter, flags)
}
