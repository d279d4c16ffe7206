package ocilayout

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrExists is wrapped by Destination.Check's error when something is at
// the destination and Force is not set.
var ErrExists = errors.New("destination exists")

// Destination is where a layout goes.
type Destination struct {
	// Path is the archive file, or the layout folder when Tar is false.
	Path string
	// Tar writes one tar archive at Path; false writes a layout folder.
	Tar bool
	// Force replaces what is at Path: a file by a file, a folder by a
	// folder (never one by the other).
	Force bool
}

// Kind is "OCI archive" or "OCI layout folder", for messages.
func (d Destination) Kind() string {
	if d.Tar {
		return "OCI archive"
	}
	return "OCI layout folder"
}

// Check refuses, before anything is built, a destination that could not
// be written: a missing parent folder or one that refuses a new file
// (read-only, /proc), something already there (unless Force), and a file
// where a folder is wanted or the reverse.
func (d Destination) Check() error {
	if d.Path == "" {
		return errors.New("no destination given")
	}
	if st, err := os.Lstat(d.Path); err == nil {
		switch {
		case d.Tar && st.IsDir():
			return fmt.Errorf("%s is a directory: an archive is one file (tar=false writes a layout folder)", d.Path)
		case !d.Tar && !st.IsDir():
			return fmt.Errorf("%s exists and is not a directory: a layout folder goes there with tar=false", d.Path)
		case !d.Force:
			return fmt.Errorf("%w: %s exists (--force replaces it)", ErrExists, d.Path)
		}
	} else if !os.IsNotExist(err) {
		return fmt.Errorf("%s: %w", d.Path, unwrapPath(err))
	}
	dir := filepath.Dir(d.Path)
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("folder %s of %s: %w", dir, d.Path, unwrapPath(err))
	}
	if !st.IsDir() {
		return fmt.Errorf("%s: %s is not a directory", d.Path, dir)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(d.Path)+".*")
	if err != nil {
		return fmt.Errorf("%s: cannot create a file in %s: %w", d.Path, dir, unwrapPath(err))
	}
	f.Close()
	return os.Remove(f.Name())
}

// unwrapPath drops the path from an *os.PathError: the caller names it.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
