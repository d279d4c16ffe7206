// Command release writes mab's release artifacts, what `make release`
// runs: one static binary per platform (CGO_ENABLED=0, -trimpath, version,
// commit and date stamped at link time), one archive each with README.md
// and LICENSE (tar.gz; zip for Windows), an SPDX SBOM of the Go modules
// linked into the binaries, and checksums.txt (sha256, as `sha256sum -c`
// reads it).
//
//	go run ./internal/release -o dist
//	go run ./internal/release -o /tmp/arm -platforms linux/arm64,linux/arm/v7
//
// The version is `git describe --tags --always --dirty` (a modified tree
// stamps -dirty), the commit `git rev-parse HEAD`, and the date
// $SOURCE_DATE_EPOCH, else the commit's time for a clean tree, else now.
// The archives' file times are that date, so two runs on one clean commit
// give the same archives. The output folder must not exist or be empty;
// everything is written beside it first and moved into place at the end,
// so a failed run leaves nothing half-written.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
)

func main() {
	var o options
	flag.StringVar(&o.out, "o", "dist", "output folder (must not exist, or be empty)")
	flag.StringVar(&o.root, "root", ".", "mab's source tree")
	platforms := flag.String("platforms", strings.Join(targetNames(defaultTargets), ","), "comma-separated platforms to build")
	flag.Parse()
	if flag.NArg() > 0 {
		fail(fmt.Errorf("unexpected arguments %q", flag.Args()))
	}
	ts, err := parseTargets(*platforms)
	if err != nil {
		fail(err)
	}
	o.targets = ts
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "release: "+strings.ReplaceAll(err.Error(), "\n", "; "))
	os.Exit(1)
}
