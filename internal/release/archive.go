package main

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"
)

// archiveFile is one file to put into an archive.
type archiveFile struct {
	Name string      // name inside the archive's top folder
	Path string      // where it is on disk
	Mode os.FileMode // 0o755 for the binary
}

// writeArchive writes files under the folder top/ into dest: a zip when
// dest ends in .zip, else a tar.gz. Owners, and times (all set to mtime),
// are fixed, so equal inputs give equal archives.
func writeArchive(dest, top string, files []archiveFile, mtime time.Time) (err error) {
	f, err := os.Create(dest)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	if strings.HasSuffix(dest, ".zip") {
		return writeZip(f, top, files, mtime)
	}
	return writeTarGz(f, top, files, mtime)
}

func writeTarGz(w io.Writer, top string, files []archiveFile, mtime time.Time) error {
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: top + "/", Mode: 0o755, ModTime: mtime, Format: tar.FormatPAX}); err != nil {
		return err
	}
	for _, file := range files {
		b, err := os.ReadFile(file.Path)
		if err != nil {
			return err
		}
		h := &tar.Header{Typeflag: tar.TypeReg, Name: path.Join(top, file.Name), Mode: int64(file.Mode), Size: int64(len(b)), ModTime: mtime, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(b); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

func writeZip(w io.Writer, top string, files []archiveFile, mtime time.Time) error {
	zw := zip.NewWriter(w)
	dir := &zip.FileHeader{Name: top + "/", Modified: mtime}
	dir.SetMode(os.ModeDir | 0o755)
	if _, err := zw.CreateHeader(dir); err != nil {
		return err
	}
	for _, file := range files {
		b, err := os.ReadFile(file.Path)
		if err != nil {
			return err
		}
		h := &zip.FileHeader{Name: path.Join(top, file.Name), Method: zip.Deflate, Modified: mtime}
		h.SetMode(file.Mode)
		fw, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		if _, err := fw.Write(b); err != nil {
			return fmt.Errorf("%s: %w", file.Name, err)
		}
	}
	return zw.Close()
}
