package merge

import (
	"bytes"
	"io"

	"github.com/google/go-containerregistry/pkg/v1/types"
)

// rawManifest is a manifest mab wrote byte for byte; remote.Put sends it as
// it is, with its media type as Content-Type.
type rawManifest struct {
	raw       []byte
	mediaType types.MediaType
}

func (r rawManifest) RawManifest() ([]byte, error)        { return r.raw, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return r.mediaType, nil }

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
