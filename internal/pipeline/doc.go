// Package pipeline turns the flags of `mab build` into a Plan and runs it,
// one file per stage:
//
//	plan.go       flags → Plan: platforms, tags, context, options; dials nothing
//	route.go      each platform to a builder: the first answering node named for it
//	              (--node, a buildx://NAME instance), else a native one
//	preflight.go  can each builder run its platforms (and the local kernel too)
//	emulators.go  which installer serves a builder, for --install-emulators
//	build.go      one solve per platform, all builders at once
//	publish.go    merge of the digests into the final tag, read-back; --load
//	run.go        the order of the stages, the Builder interface, the Runner
//	report.go     the summary and the metadata file
//	dryrun.go     the plan as a table, nothing built
//
// and, for `mab merge --from-metadata`, frommetadata.go: the sources that a
// metadata file of mab or of docker buildx records.
//
// It owns the order of the steps and the rules that span them (nothing is
// dialled before the plan is valid; the final tag is written only when every
// platform succeeded). It does not talk to BuildKit, the kernel or a
// registry itself: the builder, emulation and merge packages do, behind the
// Runner's fields, so the rules are tested with fake builders and an
// in-process registry.
package pipeline
