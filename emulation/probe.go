package emulation

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// probeExit is the exit code of every probe program: a status that a
// crash, a missing interpreter or a shell would not produce by chance.
const probeExit = 42

// probeTimeout bounds one probe: QEMU starts in milliseconds.
const probeTimeout = 10 * time.Second

// probeCode is, per architecture, the machine code of exit(42): set the
// first argument register to 42, the syscall number register to exit's
// number on Linux, and trap into the kernel.
var probeCode = map[string][]byte{
	// mov edi,42; mov eax,60; syscall
	"amd64": {0xbf, 0x2a, 0, 0, 0, 0xb8, 0x3c, 0, 0, 0, 0x0f, 0x05},
	// mov ebx,42; mov eax,1; int 0x80
	"386": {0xbb, 0x2a, 0, 0, 0, 0xb8, 0x01, 0, 0, 0, 0xcd, 0x80},
	// movz x0,#42; movz x8,#93; svc #0
	"arm64": words(binary.LittleEndian, 0xd2800540, 0xd2800ba8, 0xd4000001),
	// mov r0,#42; mov r7,#1; svc #0
	"arm": words(binary.LittleEndian, 0xe3a0002a, 0xe3a07001, 0xef000000),
	// addi a0,zero,42; addi a7,zero,93; ecall
	"riscv64": words(binary.LittleEndian, 0x02a00513, 0x05d00893, 0x00000073),
	// li r3,42; li r0,1; sc
	"ppc64le": words(binary.LittleEndian, 0x3860002a, 0x38000001, 0x44000002),
	// lghi %r2,42; svc 1
	"s390x": {0xa7, 0x29, 0x00, 0x2a, 0x0a, 0x01},
	// addiu a0,zero,42; addiu v0,zero,5058 (n64 exit); syscall
	"mips64le": words(binary.LittleEndian, 0x2404002a, 0x240213c2, 0x0000000c),
	"mips64":   words(binary.BigEndian, 0x2404002a, 0x240213c2, 0x0000000c),
	// addi.d a0,zero,42; addi.d a7,zero,93; syscall 0
	"loong64": words(binary.LittleEndian, 0x02c0a804, 0x02c1740b, 0x002b0000),
}

// probeELF describes the ELF header of each architecture's probe.
var probeELF = map[string]struct {
	class   elf.Class
	order   binary.ByteOrder
	machine elf.Machine
	flags   uint32
}{
	"amd64":    {elf.ELFCLASS64, binary.LittleEndian, elf.EM_X86_64, 0},
	"386":      {elf.ELFCLASS32, binary.LittleEndian, elf.EM_386, 0},
	"arm64":    {elf.ELFCLASS64, binary.LittleEndian, elf.EM_AARCH64, 0},
	"arm":      {elf.ELFCLASS32, binary.LittleEndian, elf.EM_ARM, 0x05000000}, // EABI version 5
	"riscv64":  {elf.ELFCLASS64, binary.LittleEndian, elf.EM_RISCV, 0x5},      // RVC, double-float ABI
	"ppc64le":  {elf.ELFCLASS64, binary.LittleEndian, elf.EM_PPC64, 0x2},      // ELFv2 ABI
	"s390x":    {elf.ELFCLASS64, binary.BigEndian, elf.EM_S390, 0},
	"mips64le": {elf.ELFCLASS64, binary.LittleEndian, elf.EM_MIPS, 0x80000000}, // MIPS64r2
	"mips64":   {elf.ELFCLASS64, binary.BigEndian, elf.EM_MIPS, 0x80000000},
	"loong64":  {elf.ELFCLASS64, binary.LittleEndian, elf.EM_LOONGARCH, 0x43}, // LP64D, object ABI v1
}

func words(order binary.ByteOrder, ws ...uint32) []byte {
	out := make([]byte, 4*len(ws))
	for i, w := range ws {
		order.PutUint32(out[4*i:], w)
	}
	return out
}

// ProbeProgram returns a complete static ELF executable for a, a few
// hundred bytes long, that exits with status 42 and does nothing else.
// It is what Probe runs; tests run it under qemu-<arch>-static directly.
func ProbeProgram(a Arch) ([]byte, error) {
	code, ok := probeCode[a.Name]
	h, ok2 := probeELF[a.Name]
	if !ok || !ok2 {
		return nil, fmt.Errorf("no probe program for %s", a.Name)
	}
	const base = 0x400000
	var buf bytes.Buffer
	ident := [elf.EI_NIDENT]byte{0x7f, 'E', 'L', 'F', byte(h.class), 1, byte(elf.EV_CURRENT)}
	if h.order == binary.BigEndian {
		ident[elf.EI_DATA] = byte(elf.ELFDATA2MSB)
	}
	if h.class == elf.ELFCLASS64 {
		hdrSize, phSize := 64, 56
		total := uint64(hdrSize + phSize + len(code))
		_ = binary.Write(&buf, h.order, elf.Header64{
			Ident: ident, Type: uint16(elf.ET_EXEC), Machine: uint16(h.machine), Version: uint32(elf.EV_CURRENT),
			Entry: base + uint64(hdrSize+phSize), Phoff: uint64(hdrSize), Flags: h.flags,
			Ehsize: uint16(hdrSize), Phentsize: uint16(phSize), Phnum: 1,
		})
		_ = binary.Write(&buf, h.order, elf.Prog64{
			Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_X), Vaddr: base, Paddr: base,
			Filesz: total, Memsz: total, Align: 0x10000,
		})
	} else {
		hdrSize, phSize := 52, 32
		total := uint32(hdrSize + phSize + len(code))
		_ = binary.Write(&buf, h.order, elf.Header32{
			Ident: ident, Type: uint16(elf.ET_EXEC), Machine: uint16(h.machine), Version: uint32(elf.EV_CURRENT),
			Entry: base + uint32(hdrSize+phSize), Phoff: uint32(hdrSize), Flags: h.flags,
			Ehsize: uint16(hdrSize), Phentsize: uint16(phSize), Phnum: 1,
		})
		_ = binary.Write(&buf, h.order, elf.Prog32{
			Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_X), Vaddr: base, Paddr: base,
			Filesz: total, Memsz: total, Align: 0x10000,
		})
	}
	buf.Write(code)
	return buf.Bytes(), nil
}

// Probe really executes a program of architecture a and returns nil when
// it ran and exited as it should. As root it runs the program chrooted in
// an empty folder, as a build container would: a handler without the F flag
// then fails, because its interpreter is not in that root (BuildKit's
// util/archutil checks its workers' platforms the same way). Without root it
// runs the program in place, which cannot tell F from its absence.
//
// The error says what the kernel said: "exec format error" when no handler
// serves a, "no such file or directory" when the handler's interpreter
// cannot be found.
func Probe(ctx context.Context, a Arch) error {
	prog, err := ProbeProgram(a)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "mab-probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "probe")
	if err := os.WriteFile(path, prog, 0o755); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		cmd = exec.CommandContext(ctx, "/probe")
		cmd.SysProcAttr = chrootAttr(dir)
	} else {
		cmd = exec.CommandContext(ctx, path)
	}
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() == probeExit:
		return nil
	case errors.As(err, &exit):
		return fmt.Errorf("%s program exited with %s, want status %d", a.Name, exit.ProcessState, probeExit)
	case err == nil:
		return fmt.Errorf("%s program exited with status 0, want %d", a.Name, probeExit)
	case errors.Is(err, syscall.ENOENT):
		return fmt.Errorf("%s program: %w (the handler's interpreter is not found: it lacks the F flag or does not exist)", a.Name, syscall.ENOENT)
	case errors.Is(err, syscall.ENOEXEC) && a.Native():
		return fmt.Errorf("%s program: %w (this kernel does not run %s programs natively: no compat support)", a.Name, syscall.ENOEXEC, a.Name)
	case errors.Is(err, syscall.ENOEXEC):
		return fmt.Errorf("%s program: %w (no binfmt_misc handler serves it)", a.Name, syscall.ENOEXEC)
	default:
		return fmt.Errorf("%s program: %w", a.Name, err)
	}
}
