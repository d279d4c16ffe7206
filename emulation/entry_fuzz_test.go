package emulation

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
)

// FuzzEntryLine parses arbitrary content of a binfmt_misc entry file and
// writes the register line that would restore it (Entry.line, what
// Host.Install's undo writes). Invariants: no panic; when the name,
// interpreter and flags hold no ':' and the entry is one the kernel could
// show, the kernel's reading of the line (kernelSplit) gives back the
// entry's name, offset, magic, mask, interpreter and flags, whatever
// delimiter line chose (an interpreter with ':' gets another one); a
// line that cannot be written is refused with ErrRegisterLine.
func FuzzEntryLine(f *testing.F) {
	f.Add("qemu-aarch64", []byte(aarch64Entry))
	f.Add("qemu-aarch64", []byte(strings.Replace(aarch64Entry, "enabled", "disabled", 1)))
	f.Add("qemu-arm", []byte("enabled\ninterpreter /usr/bin/qemu-arm\nflags: \noffset 0\nmagic 7f454c4601\nmask ffffffff00\n"))
	f.Add("qemu-aarch64", []byte("enabled\ninterpreter /opt/a:b/qemu\nflags: F\noffset 0\nmagic 7f\nmask ff\n"))
	f.Add("x", []byte("enabled\ninterpreter /q\nflags: O\noffset 3\nmagic 3a3a\nmask\n"))
	f.Add("a:b", []byte("enabled\ninterpreter /q\nflags: PF\noffset 0\nmagic 7f\n"))
	f.Add("x", []byte("bogus\n"))
	f.Add("x", []byte("enabled\nmagic zz\n"))
	f.Add("x", []byte("enabled\noffset -1\ninterpreter /q\nmagic 7f\n"))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		e, err := ParseEntry(name, data)
		if err != nil {
			return
		}
		line, err := e.line()
		if err != nil {
			if !errors.Is(err, ErrRegisterLine) {
				t.Fatalf("entry %+v: %v does not wrap ErrRegisterLine", e, err)
			}
			return
		}
		got, err := kernelSplit(line)
		if !registrable(e) {
			return
		}
		if err != nil {
			t.Fatalf("line %q of entry %+v: the kernel would refuse it: %v", line, e, err)
		}
		want := kernelEntry{e.Name, e.Offset, e.Magic, e.Mask, e.Interpreter, canonicalFlags(e.Flags)}
		if !got.equal(want) {
			t.Fatalf("line %q of entry %+v reads back as %+v", line, e, got)
		}
	})
}

// kernelEntry are the fields of a register line as the kernel reads them.
type kernelEntry struct {
	name        string
	offset      int
	magic, mask []byte
	interpreter string
	flags       string
}

func (k kernelEntry) equal(o kernelEntry) bool {
	return k.name == o.name && k.offset == o.offset && bytes.Equal(k.magic, o.magic) && bytes.Equal(k.mask, o.mask) &&
		k.interpreter == o.interpreter && k.flags == o.flags
}

// kernelSplit reads a register line of type M as fs/binfmt_misc.c's
// create_entry does: the first byte is the delimiter; the name, the type
// and the offset end at the next one; magic and mask end at the next one
// that is not inside a \xHH escape; the interpreter at the next one; the
// flags are letters of POCF up to the end (one trailing newline allowed).
func kernelSplit(line string) (kernelEntry, error) {
	var k kernelEntry
	if len(line) < 2 {
		return k, errors.New("too short")
	}
	del, p := line[0], line[1:]
	field := func() (string, bool) {
		i := strings.IndexByte(p, del)
		if i < 0 {
			return "", false
		}
		s := p[:i]
		p = p[i+1:]
		return s, true
	}
	escaped := func() ([]byte, error) {
		var out []byte
		for i := 0; ; i++ {
			if i >= len(p) || p[i] == 0 {
				return nil, errors.New("unterminated magic or mask")
			}
			switch {
			case p[i] == del:
				p = p[i+1:]
				return out, nil
			case p[i] == '\\' && i+3 < len(p) && p[i+1] == 'x':
				v, err := strconv.ParseUint(p[i+2:i+4], 16, 8)
				if err != nil {
					return nil, errors.New("bad escape")
				}
				out = append(out, byte(v))
				i += 3
			default:
				out = append(out, p[i])
			}
		}
	}
	var ok bool
	if k.name, ok = field(); !ok || k.name == "" || strings.ContainsAny(k.name, "/\x00") || k.name == "." || k.name == ".." {
		return k, errors.New("bad name")
	}
	if typ, ok := field(); !ok || typ != "M" {
		return k, errors.New("bad type")
	}
	off, ok := field()
	if !ok {
		return k, errors.New("no offset")
	}
	if off != "" {
		n, err := strconv.ParseUint(off, 10, 31)
		if err != nil {
			return k, errors.New("bad offset")
		}
		k.offset = int(n)
	}
	var err error
	if k.magic, err = escaped(); err != nil {
		return k, err
	}
	if k.mask, err = escaped(); err != nil {
		return k, err
	}
	if k.interpreter, ok = field(); !ok || k.interpreter == "" || strings.ContainsRune(k.interpreter, 0) {
		return k, errors.New("bad interpreter")
	}
	flags := strings.TrimSuffix(p, "\n")
	if strings.Trim(flags, "POCF") != "" {
		return k, errors.New("bad flags")
	}
	k.flags = flags
	return k, nil
}

// registrable reports whether the kernel could show e (and so whether its
// line must be accepted): a name, an interpreter, an offset inside the
// 256 bytes the kernel reads, flags of POCF, no NUL.
func registrable(e Entry) bool {
	return e.Name != "" && !strings.ContainsAny(e.Name, "/\x00") && e.Name != "." && e.Name != ".." &&
		e.Interpreter != "" && !strings.ContainsRune(e.Interpreter, 0) &&
		e.Offset >= 0 && e.Offset < 256 && strings.Trim(e.Flags, "POCF") == ""
}

// canonicalFlags is flags as line writes them: O dropped where C implies it.
func canonicalFlags(flags string) string {
	out := strings.ReplaceAll(flags, "O", "")
	if strings.Contains(flags, "O") && !strings.Contains(flags, "C") {
		out += "O"
	}
	return out
}
