package ocilayout

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// MaxManifestSize bounds a manifest, index or config read from a layout
// being assembled (registries cap manifests at 4 MiB).
const MaxManifestSize = 4 << 20

// Writer assembles a layout in a staging folder beside its destination
// (".NAME.mab-*"): blobs first, then Commit writes index.json and moves
// the layout into place. Close removes what is left; a Writer that is
// closed without Commit leaves the destination as it was.
type Writer struct {
	dest   Destination
	stage  string // the staging folder
	layout string // stage/layout: what becomes the destination
	parts  string // stage/parts: scratch files, never committed
	done   bool
}

// Create makes the staging folder of d. It does not check d again: see
// Destination.Check, which the caller runs before building anything.
func Create(d Destination) (*Writer, error) {
	abs, err := filepath.Abs(d.Path)
	if err != nil {
		return nil, err
	}
	d.Path = abs
	stage, err := os.MkdirTemp(filepath.Dir(abs), "."+filepath.Base(abs)+".mab-*")
	if err != nil {
		return nil, fmt.Errorf("creating a staging folder for %s: %w", d.Path, err)
	}
	w := &Writer{dest: d, stage: stage, layout: filepath.Join(stage, "layout"), parts: filepath.Join(stage, "parts")}
	for _, dir := range []string{filepath.Join(w.layout, "blobs", "sha256"), w.parts} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			os.RemoveAll(stage)
			return nil, fmt.Errorf("creating a staging folder for %s: %w", d.Path, err)
		}
	}
	return w, nil
}

// Destination is where Commit puts the layout (its path made absolute).
func (w *Writer) Destination() Destination { return w.dest }

// Scratch is a folder for temporary files (BuildKit's per-platform
// archives, for one) that Close removes and Commit leaves out.
func (w *Writer) Scratch() string { return w.parts }

// Close removes the staging folder and everything in it.
func (w *Writer) Close() error { return os.RemoveAll(w.stage) }

func (w *Writer) blobPath(h v1.Hash) string {
	return filepath.Join(w.layout, "blobs", h.Algorithm, h.Hex)
}

// Has reports whether the blob h is in the layout already.
func (w *Writer) Has(h v1.Hash) bool {
	_, err := os.Stat(w.blobPath(h))
	return err == nil
}

// PutBlob copies r into the layout as the blob want, refusing content
// whose sha256 is not want (nothing of it is kept then). A blob already
// there is not written again, and r is not read.
func (w *Writer) PutBlob(want v1.Hash, r io.Reader) error {
	if want.Algorithm != "sha256" || len(want.Hex) != 64 {
		return fmt.Errorf("blob %s: only sha256 digests are supported", want)
	}
	if w.Has(want) {
		return nil
	}
	f, err := os.CreateTemp(filepath.Dir(w.blobPath(want)), ".blob-*")
	if err != nil {
		return fmt.Errorf("writing blob %s: %w", want, err)
	}
	defer os.Remove(f.Name()) // nothing left after the rename
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), r); err != nil {
		f.Close()
		return fmt.Errorf("writing blob %s: %w", want, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing blob %s: %w", want, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want.Hex {
		return fmt.Errorf("blob %s: its content has digest sha256:%s", want, got)
	}
	if err := os.Rename(f.Name(), w.blobPath(want)); err != nil {
		return fmt.Errorf("writing blob %s: %w", want, err)
	}
	return nil
}

// PutBytes stores b as a blob and returns its digest.
func (w *Writer) PutBytes(b []byte) (v1.Hash, error) {
	h, _, err := v1.SHA256(bytesReader(b))
	if err != nil {
		return v1.Hash{}, err
	}
	return h, w.PutBlob(h, bytesReader(b))
}

// ReadBlob returns the blob d, which must be in the layout, have d's size
// and be at most MaxManifestSize bytes: a manifest, an index or a config.
func (w *Writer) ReadBlob(d v1.Descriptor) ([]byte, error) {
	if d.Size > MaxManifestSize {
		return nil, fmt.Errorf("blob %s is %d bytes: more than the %d a manifest or config may have", d.Digest, d.Size, MaxManifestSize)
	}
	if d.Digest.Algorithm != "sha256" {
		return nil, fmt.Errorf("blob %s: only sha256 digests are supported", d.Digest)
	}
	b, err := os.ReadFile(w.blobPath(d.Digest))
	if err != nil {
		return nil, fmt.Errorf("reading blob %s: %w", d.Digest, unwrapPath(err))
	}
	if int64(len(b)) != d.Size {
		return nil, fmt.Errorf("blob %s has %d bytes, but its descriptor says %d", d.Digest, len(b), d.Size)
	}
	return b, nil
}

// Commit finishes the layout: index.json lists top (the index) with the
// annotations names (see Names; none for an unnamed image), and docker, when not nil,
// becomes a manifest.json with which `docker load` of a daemon that reads
// no OCI layout loads one platform. Then the layout is moved into place:
// an archive is written to a temporary file in the destination's folder
// and renamed over it; a folder is renamed into place (what was there,
// with Force, is moved aside first and then removed). The staging folder
// is removed.
func (w *Writer) Commit(top v1.Descriptor, names map[string]string, docker *DockerManifest) error {
	if w.done {
		return errors.New("layout already committed")
	}
	if err := w.finish(top, names, docker); err != nil {
		return err
	}
	if w.dest.Tar {
		if err := w.commitTar(); err != nil {
			return fmt.Errorf("writing %s: %w", w.dest.Path, err)
		}
	} else if err := w.commitDir(); err != nil {
		return fmt.Errorf("writing %s: %w", w.dest.Path, err)
	}
	w.done = true
	return w.Close()
}

// Stream finishes the layout as Commit does and writes it as a tar
// stream to out instead of moving it into place (for `docker load`).
func (w *Writer) Stream(top v1.Descriptor, names map[string]string, docker *DockerManifest, out io.Writer) error {
	if err := w.finish(top, names, docker); err != nil {
		return err
	}
	return writeTar(w.layout, out)
}

// finish writes oci-layout, index.json and manifest.json.
func (w *Writer) finish(top v1.Descriptor, names map[string]string, docker *DockerManifest) error {
	if !w.Has(top.Digest) {
		return fmt.Errorf("the index %s is not in the layout", top.Digest)
	}
	top.Annotations = nil
	if len(names) > 0 {
		top.Annotations = names
	}
	files := map[string]any{
		"oci-layout": map[string]string{"imageLayoutVersion": "1.0.0"},
		"index.json": v1.IndexManifest{SchemaVersion: 2, MediaType: "application/vnd.oci.image.index.v1+json", Manifests: []v1.Descriptor{top}},
	}
	if docker != nil {
		files["manifest.json"] = []*DockerManifest{docker}
	}
	for n, v := range files {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encoding %s: %w", n, err)
		}
		if err := os.WriteFile(filepath.Join(w.layout, n), b, 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", n, err)
		}
	}
	return nil
}

// exists refuses a destination that appeared after Check, unless Force.
func (w *Writer) exists() (bool, error) {
	_, err := os.Lstat(w.dest.Path)
	switch {
	case os.IsNotExist(err):
		return false, nil
	case err != nil:
		return false, err
	case !w.dest.Force:
		return true, fmt.Errorf("%w: %s appeared meanwhile (--force replaces it)", ErrExists, w.dest.Path)
	}
	return true, nil
}

func (w *Writer) commitTar() error {
	f, err := os.CreateTemp(filepath.Dir(w.dest.Path), "."+filepath.Base(w.dest.Path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // nothing left after the rename
	if err := writeTar(w.layout, f); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if _, err := w.exists(); err != nil {
		return err
	}
	return os.Rename(f.Name(), w.dest.Path)
}

func (w *Writer) commitDir() error {
	there, err := w.exists()
	if err != nil {
		return err
	}
	if err := os.Chmod(w.layout, 0o755); err != nil {
		return err
	}
	if !there {
		return os.Rename(w.layout, w.dest.Path)
	}
	old := filepath.Join(w.stage, "replaced")
	if err := os.Rename(w.dest.Path, old); err != nil {
		return err
	}
	if err := os.Rename(w.layout, w.dest.Path); err != nil {
		// Put the earlier folder back: the destination stays as it was.
		return errors.Join(err, os.Rename(old, w.dest.Path))
	}
	return nil
}

// epoch is the modification time of every entry of an archive: the same
// layout gives the same archive, byte for byte.
var epoch = time.Unix(0, 0).UTC()

// WriteFolder writes the layout folder dir as a tar stream to out, as
// an archive of it is written (see writeTar).
func WriteFolder(dir string, out io.Writer) error {
	if _, err := os.Stat(filepath.Join(dir, "index.json")); err != nil {
		return fmt.Errorf("%s is not an OCI layout: %w", dir, err)
	}
	return writeTar(dir, out)
}

// writeTar writes the layout at root as a tar stream: oci-layout,
// index.json, manifest.json (when there is one), then the blobs in digest
// order, each entry owned by root with a fixed time, so the same layout
// gives the same bytes.
func writeTar(root string, out io.Writer) error {
	tw := tar.NewWriter(out)
	var names []string
	for _, n := range []string{"oci-layout", "index.json", "manifest.json"} {
		if _, err := os.Stat(filepath.Join(root, n)); err == nil {
			names = append(names, n)
		}
	}
	var blobs []string
	err := filepath.WalkDir(filepath.Join(root, "blobs"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if filepath.Base(rel)[0] == '.' {
			return nil // a blob being written, never committed
		}
		if d.IsDir() {
			rel += "/"
		}
		blobs = append(blobs, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return err
	}
	slices.Sort(blobs)
	for _, n := range append(names, blobs...) {
		if err := addEntry(tw, root, n); err != nil {
			return err
		}
	}
	return tw.Close()
}

func addEntry(tw *tar.Writer, root, name string) error {
	h := &tar.Header{Name: name, ModTime: epoch, Mode: 0o644, Typeflag: tar.TypeReg}
	if name[len(name)-1] == '/' {
		h.Typeflag, h.Mode = tar.TypeDir, 0o755
		return tw.WriteHeader(h)
	}
	f, err := os.Open(filepath.Join(root, filepath.FromSlash(name)))
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	h.Size = st.Size()
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}
