// Package ocilayout writes OCI image layouts (image-spec's image-layout:
// oci-layout, index.json and blobs/sha256/…), as one tar archive or as a
// folder, holding one multi-platform index: what `mab build --output
// type=oci` and `mab save` write.
//
// A layout is assembled in a staging folder beside its destination and
// moved into place only when complete, so a reader sees the earlier file
// (or nothing) or the whole new one. Blobs come from BuildKit's
// per-platform OCI archives (AddArchive) or from a registry (AddIndex);
// every blob is checked against its digest as it is written.
//
// It owns the layout and the index inside it (descriptor fields as the
// merge package sets them: platform from each image's config,
// attestation manifests kept after the images they describe). It does not
// talk to BuildKit, registries or Docker.
package ocilayout
