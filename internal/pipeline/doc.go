// Package pipeline turns the flags of `mab build` into a Plan and runs it:
// preflight against the builder, one solve per platform, merge of the
// digests into one index, and a read-back of the final tag.
//
// It owns the order of the steps and the rules that span them (nothing is
// dialled before the plan is valid; the final tag is written only when every
// platform succeeded). It does not talk to BuildKit, the kernel or a
// registry itself: the builder, emulation and merge packages do.
package pipeline
