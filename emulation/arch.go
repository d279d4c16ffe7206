package emulation

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/mab-build/mab/internal/platform"
)

// Arch is one architecture that QEMU can emulate.
type Arch struct {
	// Name is the GOARCH/OCI name: arm64, arm, riscv64.
	Name string
	// QEMU is QEMU's name for it: the binary is qemu-<QEMU>-static and
	// mab's binfmt entry is qemu-<QEMU>.
	QEMU string
	// Platforms are the OCI platforms it runs.
	Platforms []string
	// Magic and Mask select its ELF executables: the first bytes of the
	// file, ANDed with Mask, must equal Magic. The values are the ones
	// published in QEMU's scripts/qemu-binfmt-conf.sh.
	Magic, Mask []byte
}

// Entry is the name of the binfmt_misc entry mab registers for a.
func (a Arch) Entry() string { return "qemu-" + a.QEMU }

// Interpreter is the file name of the static QEMU user-mode emulator.
func (a Arch) Interpreter() string { return "qemu-" + a.QEMU + "-static" }

// The ELF header fields that tell architectures apart: class (32/64-bit)
// at byte 4, data (endianness) at 5, e_machine at 18-19 in the file's
// byte order. The masks ignore the ABI version and let ET_DYN match ET_EXEC.
var (
	mask64LE    = hexBytes("ffffffffffffff00fffffffffffffffffeffffff")
	maskX86     = hexBytes("fffffffffffefe00fffffffffffffffffeffffff")
	maskBE      = hexBytes("ffffffffffffff00fffffffffffffffffffeffff")
	maskPPC64LE = hexBytes("ffffffffffffff00fffffffffffffffffeffff00")
)

// Arches is every architecture mab knows, in the order status lists them.
var Arches = []Arch{
	{Name: "amd64", QEMU: "x86_64", Platforms: []string{"linux/amd64"},
		Magic: hexBytes("7f454c4602010100000000000000000002003e00"), Mask: maskX86},
	{Name: "386", QEMU: "i386", Platforms: []string{"linux/386"},
		Magic: hexBytes("7f454c4601010100000000000000000002000300"), Mask: maskX86},
	{Name: "arm64", QEMU: "aarch64", Platforms: []string{"linux/arm64"},
		Magic: hexBytes("7f454c460201010000000000000000000200b700"), Mask: mask64LE},
	{Name: "arm", QEMU: "arm", Platforms: []string{"linux/arm/v7", "linux/arm/v6"},
		Magic: hexBytes("7f454c4601010100000000000000000002002800"), Mask: mask64LE},
	{Name: "riscv64", QEMU: "riscv64", Platforms: []string{"linux/riscv64"},
		Magic: hexBytes("7f454c460201010000000000000000000200f300"), Mask: mask64LE},
	{Name: "ppc64le", QEMU: "ppc64le", Platforms: []string{"linux/ppc64le"},
		Magic: hexBytes("7f454c4602010100000000000000000002001500"), Mask: maskPPC64LE},
	{Name: "s390x", QEMU: "s390x", Platforms: []string{"linux/s390x"},
		Magic: hexBytes("7f454c4602020100000000000000000000020016"), Mask: maskBE},
	{Name: "mips64le", QEMU: "mips64el", Platforms: []string{"linux/mips64le"},
		Magic: hexBytes("7f454c4602010100000000000000000002000800"), Mask: mask64LE},
	{Name: "mips64", QEMU: "mips64", Platforms: []string{"linux/mips64"},
		Magic: hexBytes("7f454c4602020100000000000000000000020008"), Mask: maskBE},
	{Name: "loong64", QEMU: "loongarch64", Platforms: []string{"linux/loong64"},
		Magic: hexBytes("7f454c4602010100000000000000000002000201"), Mask: mask64LE},
}

// Lookup finds an architecture by its GOARCH name, its QEMU name or a
// platform it serves (linux/arm/v7, aarch64 and arm64 all find arm64).
func Lookup(name string) (Arch, error) {
	n := strings.ToLower(strings.TrimPrefix(name, "linux/"))
	for _, a := range Arches {
		if n == a.Name || n == a.QEMU || slices.Contains(a.Platforms, "linux/"+n) {
			return a, nil
		}
	}
	return Arch{}, fmt.Errorf("unknown architecture %q (known: %s)", name, strings.Join(Names(), ", "))
}

// Names lists the GOARCH names of Arches.
func Names() []string {
	var out []string
	for _, a := range Arches {
		out = append(out, a.Name)
	}
	return out
}

// Native reports whether this machine runs a's programs without
// emulation: whether platform.Native says so of the host's platform and
// one of a's platforms (386 on amd64, arm on arm64). A 32-bit
// architecture also needs the kernel's compat support, which only a probe
// can tell; Host.Install probes before it skips one.
func (a Arch) Native() bool {
	host := platform.Host()
	for _, s := range a.Platforms {
		if p, err := platform.Parse(s); err == nil && platform.Native(host, p) {
			return true
		}
	}
	return false
}

// Matches reports whether the ELF header hdr is an executable of a.
func (a Arch) Matches(hdr []byte) bool {
	if len(hdr) < len(a.Magic) {
		return false
	}
	for i := range a.Magic {
		if hdr[i]&a.Mask[i] != a.Magic[i]&a.Mask[i] {
			return false
		}
	}
	return true
}

func hexBytes(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}
