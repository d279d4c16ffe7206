package builder

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/filesync"
)

// Archives are what a Request with ArchiveDir gets instead of a push:
// each solve exports its image as an OCI archive (BuildKit's oci
// exporter) that BuildKit sends back through the session, written to
// ArchivePath(ArchiveDir, digest). Every solve of a session has one
// exporter, number 0, so one file target serves them all; the archives
// are told apart by the image digest the exporter sends with each.

// ArchivePath is the file in dir that holds the archive of the image
// digest once its solve succeeded.
func ArchivePath(dir, digest string) string {
	return filepath.Join(dir, strings.ReplaceAll(digest, ":", "-")+".tar")
}

// archiveExport is the exporter of one target when the request asks for
// archives: an OCI archive sent to the client (the session's file
// target), named when the target has a name.
func archiveExport(attrs map[string]string) bkclient.ExportEntry {
	attrs["tar"] = "true"
	return bkclient.ExportEntry{Type: bkclient.ExporterOCI, Attrs: attrs}
}

// attachArchives lets BuildKit send each solve's archive to dir through
// sess. It must be called before the session runs.
func attachArchives(sess *session.Session, dir string) {
	sess.Allow(filesync.NewFSSyncTarget(filesync.WithFSSync(0, func(md map[string]string) (io.WriteCloser, error) {
		return openArchive(dir, md)
	})))
}

// openArchive opens the file of one transfer: a temporary file, renamed
// to its ArchivePath when BuildKit closes it, so a file under that name
// is whole.
func openArchive(dir string, md map[string]string) (io.WriteCloser, error) {
	digest := md[exptypes.ExporterImageDigestKey]
	if !strings.HasPrefix(digest, "sha256:") || strings.ContainsAny(digest, `/\`) {
		return nil, fmt.Errorf("BuildKit sent an archive without a valid image digest (%q)", digest)
	}
	f, err := os.CreateTemp(dir, ".archive-*")
	if err != nil {
		return nil, fmt.Errorf("receiving the archive of %s: %w", digest, err)
	}
	return &archiveFile{File: f, final: ArchivePath(dir, digest)}, nil
}

type archiveFile struct {
	*os.File
	final string
}

func (a *archiveFile) Close() error {
	if err := a.File.Close(); err != nil {
		os.Remove(a.Name())
		return err
	}
	if err := os.Rename(a.Name(), a.final); err != nil {
		return errors.Join(err, os.Remove(a.Name()))
	}
	return nil
}

// checkArchives refuses archives from a Docker daemon's BuildKit, whose
// images go to the daemon's store.
func (c *Client) checkArchives(req Request) error {
	if req.ArchiveDir != "" && c.docker != nil {
		return fmt.Errorf("the builder %s keeps images in the Docker daemon and cannot send OCI archives", c.addr)
	}
	return nil
}
