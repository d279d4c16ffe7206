package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// stamp is what the binaries are stamped with at link time.
type stamp struct {
	Version, Commit string
	Date            time.Time
}

// ldflags are the linker flags that set cmd/mab's version, commit and date.
func (s stamp) ldflags() string {
	return fmt.Sprintf("-s -w -X main.version=%s -X main.commit=%s -X main.date=%s", s.Version, s.Commit, s.Date.UTC().Format(time.RFC3339))
}

// stampFromGit reads the version and commit of the tree at root from git.
// The date is $SOURCE_DATE_EPOCH when set, else the commit's time for a
// clean tree, else now (a modified tree is not that commit).
func stampFromGit(ctx context.Context, root string, now time.Time) (stamp, error) {
	var s stamp
	var err error
	if s.Version, err = git(ctx, root, "describe", "--tags", "--always", "--dirty"); err != nil {
		return s, err
	}
	if s.Commit, err = git(ctx, root, "rev-parse", "HEAD"); err != nil {
		return s, err
	}
	if strings.ContainsAny(s.Version, " '\"") {
		return s, fmt.Errorf("git describe gave %q: not a version to stamp", s.Version)
	}
	if epoch := os.Getenv("SOURCE_DATE_EPOCH"); epoch != "" {
		sec, err := strconv.ParseInt(epoch, 10, 64)
		if err != nil {
			return s, fmt.Errorf("SOURCE_DATE_EPOCH=%q: not seconds since 1970", epoch)
		}
		s.Date = time.Unix(sec, 0).UTC()
		return s, nil
	}
	if strings.HasSuffix(s.Version, "-dirty") {
		s.Date = now.UTC().Truncate(time.Second)
		return s, nil
	}
	ct, err := git(ctx, root, "log", "-1", "--format=%ct", "HEAD")
	if err != nil {
		return s, err
	}
	sec, err := strconv.ParseInt(ct, 10, 64)
	if err != nil {
		return s, fmt.Errorf("reading the commit time: %q: %w", ct, err)
	}
	s.Date = time.Unix(sec, 0).UTC()
	return s, nil
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ": " + strings.TrimSpace(string(ee.Stderr))
		}
		return "", fmt.Errorf("git %s: %w%s", strings.Join(args, " "), err, stderr)
	}
	return strings.TrimSpace(string(out)), nil
}
