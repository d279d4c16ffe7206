package builder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/mab-build/mab/internal/dockerapi"
	dockerclient "github.com/moby/moby/client"
)

// DockerStore is what the Docker daemon of $DOCKER_HOST keeps images in.
type DockerStore struct {
	// Containerd says the daemon uses the containerd image store
	// (dockerd 24 and later with the containerd-snapshotter feature): it
	// holds an index with every platform under one name. Otherwise the
	// classic store holds one image, of one platform, per name.
	Containerd bool
	// Driver is the storage driver or snapshotter; Version the daemon's.
	Driver, Version string
}

// String says in a few words which store it is.
func (s DockerStore) String() string {
	if s.Containerd {
		return fmt.Sprintf("Docker %s has the containerd image store (%s)", s.Version, s.Driver)
	}
	return fmt.Sprintf("Docker %s has the classic image store (%s)", s.Version, s.Driver)
}

// containerdDriverType is the DriverStatus value by which dockerd's /info
// says that the containerd image store is on.
const containerdDriverType = "io.containerd.snapshotter.v1"

// InspectDocker asks the Docker daemon of $DOCKER_HOST which image store
// it uses.
func InspectDocker(ctx context.Context) (DockerStore, error) {
	api, err := dockerapi.New(ctx, "")
	if err != nil {
		return DockerStore{}, err
	}
	defer api.Close()
	res, err := api.Info(ctx, dockerclient.InfoOptions{})
	if err != nil {
		return DockerStore{}, fmt.Errorf("asking the Docker daemon for its image store: %w", err)
	}
	return storeOf(res.Info.ServerVersion, res.Info.Driver, res.Info.DriverStatus), nil
}

// storeOf reads the store from /info's fields.
func storeOf(version, driver string, status [][2]string) DockerStore {
	s := DockerStore{Driver: driver, Version: version}
	for _, kv := range status {
		if kv[0] == "driver-type" && kv[1] == containerdDriverType {
			s.Containerd = true
		}
	}
	return s
}

// LoadArchive sends the tar stream r (an OCI archive, or one with a
// manifest.json for daemons that read no OCI layout) to `docker load` of
// the daemon of $DOCKER_HOST, and returns the names the daemon reports as
// loaded.
func LoadArchive(ctx context.Context, r io.Reader) ([]string, error) {
	api, err := dockerapi.New(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("loading into Docker: %w", err)
	}
	defer api.Close()
	resp, err := api.ImageLoad(ctx, r, dockerclient.ImageLoadWithQuiet(true))
	if err != nil {
		return nil, fmt.Errorf("loading into Docker: %w", err)
	}
	defer resp.Close()
	return loadReply(resp)
}

// loadReply reads the JSON messages of a load: an error message is the
// load's failure; "Loaded image: NAME" lines name what was loaded.
func loadReply(r io.Reader) ([]string, error) {
	dec := json.NewDecoder(r)
	var loaded []string
	for {
		var msg struct {
			Stream string `json:"stream"`
			Error  string `json:"error"`
		}
		err := dec.Decode(&msg)
		if errors.Is(err, io.EOF) {
			return loaded, nil
		}
		if err != nil {
			return nil, fmt.Errorf("loading into Docker: reading the reply: %w", err)
		}
		if msg.Error != "" {
			return nil, fmt.Errorf("loading into Docker: %s", firstLine(errors.New(msg.Error)))
		}
		for _, line := range strings.Split(msg.Stream, "\n") {
			for _, prefix := range []string{"Loaded image: ", "Loaded image ID: "} {
				if n, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok {
					loaded = append(loaded, n)
				}
			}
		}
	}
}
