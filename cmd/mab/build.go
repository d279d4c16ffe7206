package main

import (
	"fmt"
	"os"

	"github.com/mab-build/mab/builder"
	"github.com/mab-build/mab/internal/pipeline"
	"github.com/spf13/cobra"
)

func newBuildCmd() *cobra.Command {
	var o pipeline.Options
	var plain plainHTTPFlags
	cmd := &cobra.Command{
		Use:   "build [flags] CONTEXT",
		Short: "Build, push and merge one image per platform (or write them into one OCI archive)",
		Long: `Build the Dockerfile once per platform through BuildKit, push each platform
by digest, merge them into one index under TAG, read TAG back to verify it,
and then write the arch tags (TAG-amd64, TAG-arm64, TAG-armv7), each
pointing at what its platform pushed. A failed platform or merge leaves no
new tag at all. (The Docker daemon's builder, --builder docker, cannot push
by digest: it pushes each platform under its arch tag during the build.)

-t may be repeated: the first tag is written and read back first (arch
tags are derived from it); the children are copied beforehand into the
repository of every other tag, and each other tag then gets the same
index, read back. A failure on another tag after the first is confirmed
exits 3, naming the tags that hold the index and those that failed.

After every tag is written, the first is read once more: if another
writer replaced the index meanwhile, mab exits 4 and prints no digest.

--push-by-digest writes no arch tags. --no-merge (a matrix job) writes no
index and no final tag: each platform is pushed, and, without
--push-by-digest, tagged once every platform succeeded; stdout is one
digest per platform in --platform order, for ` + "`mab merge`" + `.

--output type=oci,dest=app.tar writes every platform into one OCI index
inside one archive (tar=false: an OCI layout folder) and pushes nothing:
no registry is needed, and -t is optional (it names the image inside, as
io.containerd.image.name and org.opencontainers.image.ref.name). skopeo
copy oci-archive:app.tar, ctr images import --all-platforms and docker
load read it; the archive also has a manifest.json for one platform (the
host's, or --load-platform's), which is what docker load of the classic
image store takes. The archive is written to a temporary file beside it
and renamed; an existing one is refused unless --force. The index digest
is printed on stdout.

--load loads the image into the Docker daemon of $DOCKER_HOST and says in
one line which image store the daemon has: with the containerd image store
(dockerd 24 and later, "containerd-snapshotter": true), the whole index;
with the classic store, the host's platform, or --load-platform's.

Every check that needs no daemon runs first: platforms, the tags, the arch
tags, the context, the Dockerfile and --metadata-file. The final tag is
written only when every platform succeeded and the index passed every
check; a failed read-back puts the earlier index back. The final digest is
printed on stdout; progress and the summary go to stderr.

The summary's MODE is decided by what ran, from the build steps BuildKit
reports: native (the builder runs the platform), cross (it does not, but
every RUN ran on the builder's own platform, as in a stage FROM
--platform=$BUILDPLATFORM), emulated (at least one RUN ran under QEMU);
EMULATED is the time of those RUN steps, and a hint names the slowest
with their Dockerfile line. --dry-run can only say native or not.
SOURCE_DATE_EPOCH (or --source-date-epoch) makes digests reproducible: it
is passed as a build argument and file times in new layers are rewritten
to it, so two --no-cache builds of one commit, with base images pinned by
digest, give one index digest. --compression zstd|estargz (with
--force-compression for the base layers too) applies to every platform;
Docker before 23 cannot pull zstd layers.

Exit codes: 0 done; 1 failed, the final tag as it was; 3 the final tag is
published (or the --output archive written) but a later step (another
tag, the arch tags, --load, --metadata-file) failed; 4 the final tag was written and could be neither
confirmed nor put back, or was overwritten by another writer after mab
confirmed it (the message says what it holds); 130 a second Ctrl-C. The
first Ctrl-C stops the solves; a write already under way is finished and
read back.`,
		Example: `  # three platforms into a registry
  mab build --platform linux/amd64,linux/arm64,linux/arm/v7 -t registry.example.com/app:1.4 .

  # one index under several tags, one of them in another repository
  mab build --platform linux/amd64,linux/arm64 -t reg/app:1.4 -t reg/app:latest -t reg/mirror/app:1.4 .

  # no arch tags: the platforms are reachable through the index only
  mab build --push-by-digest --platform linux/amd64,linux/arm64 -t reg/app:1.4 .

  # a CI matrix job: one platform, pushed by digest, nothing tagged; then one merge
  mab build --no-merge --push-by-digest --metadata-file arm64.json --platform linux/arm64 -t reg/app .
  mab merge -t reg/app:1.4 reg/app@sha256:… reg/app@sha256:…

  # a plain-HTTP registry on the network, and a base image argument
  mab build --insecure-registry 10.0.0.5:5000 --platform linux/amd64,linux/arm64 \
    --build-arg BASE=10.0.0.5:5000/busybox:latest -t 10.0.0.5:5000/hello:dev examples/hello

  # another BuildKit, with TLS; or the Docker daemon's own BuildKit
  mab build --builder tcp://buildkit.internal:1234 --tlscacert ca.pem --tlscert cert.pem --tlskey key.pem \
    --platform linux/arm64 -t reg/app:1 .
  mab build --builder docker --platform linux/amd64,linux/arm64 -t reg/app:1 .

  # arm64 on a native arm64 BuildKit, the rest here under emulation
  mab build --node linux/arm64=tcp://arm-host:1234 --platform linux/amd64,linux/arm64 -t reg/app:1 .

  # per-architecture registry cache, secrets, metadata for CI
  mab build --platform linux/amd64,linux/arm64 -t reg/app:1 \
    --cache-from type=registry,ref=reg/app:cache-{arch} --cache-to type=registry,ref=reg/app:cache-{arch},mode=max \
    --secret id=npmrc,src=$HOME/.npmrc --metadata-file build.json .

  # annotations: the index, the arm64 manifest only, each image's entry in the index
  mab build --platform linux/amd64,linux/arm64 -t reg/app:1 --annotation index:org.opencontainers.image.source=https://example.com/app \
    --annotation 'manifest[linux/arm64]:com.example.arch=arm64' --annotation manifest-descriptor:com.example.d=1 .

  # reproducible: the same commit gives the same index digest
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) mab build --platform linux/amd64,linux/arm64 -t reg/app:1 .

  # zstd layers, base layers recompressed too (Docker 23 or later to pull them)
  mab build --compression zstd --compression-level 19 --force-compression --platform linux/amd64,linux/arm64 -t reg/app:1 .

  # install missing QEMU handlers first (needs root on the builder's host)
  sudo mab build --install-emulators --platform linux/amd64,linux/riscv64 -t reg/app:1 .

  # every platform into one OCI archive, no registry; then into a registry with skopeo
  mab build --platform linux/amd64,linux/arm64,linux/arm/v7 --output type=oci,dest=app.tar -t app:1.4 .
  skopeo copy --all oci-archive:app.tar docker://registry.example.com/app:1.4

  # an OCI layout folder, replacing the one of the last build
  mab build --platform linux/amd64,linux/arm64 --output type=oci,dest=app-layout,tar=false --force .

  # into the local Docker daemon: the whole index (containerd store) or the arm64 image (classic store)
  mab build --platform linux/amd64,linux/arm64 -t reg/app:1 --load --load-platform linux/arm64 .
  # which RUN steps ran under QEMU, and for how long
  mab build --metadata-file build.json --platform linux/amd64,linux/arm64 -t reg/app:1 .
  jq '.platforms[] | {platform, mode, emulatedSeconds, emulatedSteps}' build.json

  # what would happen, without building
  mab build --dry-run --platform linux/amd64,linux/arm64,linux/arm/v7 -t reg/app:1 .`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.ContextDir = args[0]
			var dropped []string
			o.BuildArgs, dropped = pipeline.ResolveBuildArgs(o.BuildArgs, os.LookupEnv)
			for _, k := range dropped {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: --build-arg %s: %s is not set in the environment, so it is not passed (as docker build does): the Dockerfile's default applies\n", k, k)
			}
			if err := plain.check(); err != nil {
				return err
			}
			o.Insecure, o.InsecureRegistries, o.Registry = plain.all, plain.hosts, plain.options()
			if addr := builder.Address(o.Builder, os.Getenv); addr != "" {
				if err := builder.CheckAddress(addr); err != nil {
					return err
				}
			}
			plan, err := pipeline.NewPlan(o, os.Getenv)
			if err != nil {
				return err
			}
			r := runner
			r.OnStage = stage.set
			if plan.DryRun {
				return advise(r.DryRun(cmd.Context(), plan, cmd.OutOrStdout()), "build")
			}
			res, err := r.Run(cmd.Context(), plan, cmd.ErrOrStderr())
			if res != nil {
				// Published, even if a later step failed: what the tag
				// holds, or each platform's digest with --no-merge.
				for _, d := range res.Digests() {
					fmt.Fprintln(cmd.OutOrStdout(), d)
				}
			}
			return advise(err, "build")
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.Platforms, "platform", nil, "platforms to build, comma-separated or repeated (linux/amd64,linux/arm64,linux/arm/v7)")
	f.StringArrayVarP(&o.Tags, "tag", "t", nil, "final tag, REGISTRY/REPO:TAG; repeat for more tags of the same index (the first is written and verified first; arch tags derive from it)")
	f.StringVarP(&o.Dockerfile, "file", "f", "", "Dockerfile (default CONTEXT/Dockerfile)")
	f.StringArrayVar(&o.BuildArgs, "build-arg", nil, "build argument KEY=VALUE (KEY alone takes the value from the environment; dropped, with a warning, when the environment does not set KEY)")
	f.StringVar(&o.Builder, "builder", "", "BuildKit address: unix://, tcp://, ssh://, docker-container://, kube-pod://, docker, buildx://NAME (default $BUILDKIT_HOST, then see `mab builder`)")
	plain.add(f)
	f.StringVar(&o.Progress, "progress", "auto", "progress output: auto, plain, tty, quiet or rawjson")
	f.StringVar(&o.Suffix, "suffix", "", "arch tag template (default "+pipeline.DefaultSuffix+"; fields .Tag .OS .Arch .Variant); not with --push-by-digest")
	f.BoolVar(&o.PushByDigest, "push-by-digest", false, "write no arch tags: each platform only by digest (not with --suffix, nor with --builder docker, which pushes by tag)")
	f.BoolVar(&o.NoMerge, "no-merge", false, "matrix mode: push each platform, write no index and no final tag; print each platform's digest (one -t; not with --load)")
	f.StringVar(&o.Target, "target", "", "build this stage of the Dockerfile")
	f.StringArrayVar(&o.Labels, "label", nil, "image config label KEY=VALUE")
	f.StringArrayVar(&o.Annotations, "annotation", nil, "annotation [TYPE[PLATFORM],…:]KEY=VALUE, TYPE manifest (the default), index or manifest-descriptor, as in buildx")
	f.StringArrayVar(&o.Secrets, "secret", nil, "secret for RUN --mount=type=secret: id=ID,src=FILE or id=ID,env=VAR")
	f.StringArrayVar(&o.SSH, "ssh", nil, "SSH agent for RUN --mount=type=ssh: default or ID=SOCKET|KEY")
	f.BoolVar(&o.NoCache, "no-cache", false, "do not use the build cache")
	f.BoolVar(&o.Pull, "pull", false, "always resolve base images anew")
	f.StringArrayVar(&o.CacheFrom, "cache-from", nil, "cache source, e.g. type=registry,ref=REPO:cache-{arch} ({arch} is amd64, arm64, armv7…)")
	f.StringArrayVar(&o.CacheTo, "cache-to", nil, "cache destination, e.g. type=registry,ref=REPO:cache-{arch},mode=max")
	f.StringVar(&o.Provenance, "provenance", "", "provenance attestation: true, false or mode=min|max (default off)")
	f.StringVar(&o.SBOM, "sbom", "", "SBOM attestation: true, false or generator=IMAGE (default off)")
	f.StringVar(&o.MetadataFile, "metadata-file", "", "write the result as JSON to this file: stage, digest, tags, per platform ref, digest, arch tag, duration, mode, emulated time and steps; buildx's containerimage.digest and image.name")
	f.BoolVar(&o.Load, "load", false, "load into the Docker daemon ($DOCKER_HOST) under the final tag: the whole index with its containerd image store, else the host's platform (or --load-platform's); says which store it has")
	f.StringVar(&o.LoadPlatform, "load-platform", "", "the platform --load loads into a daemon with the classic image store (default: the host's)")
	f.StringVarP(&o.Output, "output", "o", "", "type=oci,dest=FILE[,tar=false]: every platform into one OCI index in an archive (tar=false: a layout folder DEST), nothing pushed; -t optional")
	f.BoolVar(&o.Force, "force", false, "replace what is at the --output destination")
	f.IntVar(&o.Parallel, "parallel", 0, "at most this many solves at once (default 0: all)")
	f.BoolVar(&o.DryRun, "dry-run", false, "print the plan (tags, what is published, platforms, arch tags, builders, native or not: cross or emulated is decided by what runs) and stop")
	f.StringArrayVar(&o.Nodes, "node", nil, "send a platform to its own BuildKit: PLATFORM=ENDPOINT[,cacert=FILE,cert=FILE,key=FILE,servername=NAME] (TLS of that tcp:// node; repeat a platform for failover: the first node that answers builds; also $MAB_NODES)")
	f.StringVar(&o.TLS.CACert, "tlscacert", "", "CA certificate of a tcp:// builder")
	f.StringVar(&o.TLS.Cert, "tlscert", "", "client certificate for a tcp:// builder")
	f.StringVar(&o.TLS.Key, "tlskey", "", "client key for a tcp:// builder")
	f.StringVar(&o.TLS.ServerName, "tlsservername", "", "server name expected in a tcp:// builder's certificate")
	f.StringVar(&o.Emulators.Image, "emulator-image", "", "installer image for --install-emulators through Docker (default: tonistiigi/binfmt pinned by digest)")
	f.BoolVar(&o.Emulators.Install, "install-emulators", false, "install the QEMU handlers of platforms the builder cannot run (host or Docker installer, chosen from --builder), then check again")
	f.StringVar(&o.SourceDateEpoch, "source-date-epoch", "", "timestamp in seconds since 1970 for reproducible digests: the build arg SOURCE_DATE_EPOCH and file times rewritten to it in new layers (default $SOURCE_DATE_EPOCH)")
	f.StringVar(&o.Compression, "compression", "", "layer compression of every platform: gzip (the default), zstd or estargz (zstd and estargz imply --oci-mediatypes; Docker before 23 cannot pull zstd layers)")
	f.StringVar(&o.CompressionLevel, "compression-level", "", "compression level: 0-9 for gzip and estargz, 1-22 for zstd")
	f.BoolVar(&o.ForceCompression, "force-compression", false, "recompress the layers of base images too, so every layer has the --compression asked for")
	f.StringVar(&o.OCIMediaTypes, "oci-mediatypes", "", "OCI media types for manifests and layers (true or false; default BuildKit's)")
	f.Lookup("oci-mediatypes").NoOptDefVal = "true"
	_ = cmd.MarkFlagRequired("platform")
	return cmd
}
