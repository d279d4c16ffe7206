package builder

// BuildKit's connection helpers register their URL schemes when imported:
// ssh://, docker-container://, kube-pod://, podman-container:// and
// nerdctl-container:// then work in Dial like unix:// and tcp://.
import (
	_ "github.com/moby/buildkit/client/connhelper/dockercontainer"
	_ "github.com/moby/buildkit/client/connhelper/kubepod"
	_ "github.com/moby/buildkit/client/connhelper/nerdctlcontainer"
	_ "github.com/moby/buildkit/client/connhelper/podmancontainer"
	_ "github.com/moby/buildkit/client/connhelper/ssh"
)
