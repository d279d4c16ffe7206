package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/mab-build/mab/merge"
)

// Stage is how far a build got, in the order of mab's publication rules.
// Every stage's outcome goes to the metadata file.
type Stage string

// The stages, in order.
const (
	// StagePlanned: flags, tags, platforms and output destinations checked;
	// nothing built.
	StagePlanned Stage = "planned"
	// StageBuilt: every platform solved and pushed; the final tag untouched.
	StageBuilt Stage = "built"
	// StageChecked: the index assembled in memory from the pushed digests,
	// each child's config, platform, size and media type read and compared,
	// the size limit kept, and what the final tag held remembered; the
	// final tag untouched.
	StageChecked Stage = "checked"
	// StageWritten: the index was PUT, not yet read back.
	StageWritten Stage = "written"
	// StageConfirmed: the final tag was read back and holds the index.
	StageConfirmed Stage = "confirmed"
)

// publishTimeout bounds the write, the read-back and a restore: they run
// under a context that a first Ctrl-C does not cancel, so that mab never
// stops between a write and the check of what it wrote.
const publishTimeout = 2 * time.Minute

// PublishedError is a failure after the final tag was confirmed: the tag
// holds the new index; a later step (--load, the metadata file) failed.
type PublishedError struct {
	Final  name.Tag
	Digest string
	Err    error
}

func (e *PublishedError) Error() string {
	return fmt.Sprintf("%s is published (%s), but then %v", e.Final, e.Digest, e.Err)
}

func (e *PublishedError) Unwrap() error { return e.Err }

// UnconfirmedError is a failure after the index was written that could be
// neither confirmed nor undone: Holds is what the final tag held when mab
// last read it ("" when it could not be read).
type UnconfirmedError struct {
	Final name.Tag
	Wrote string
	Holds string
	Err   error
}

func (e *UnconfirmedError) Error() string {
	holds := "could not be read"
	switch e.Holds {
	case "":
	case e.Wrote:
		holds = "holds the unconfirmed index " + e.Wrote
	default:
		holds = "holds " + e.Holds
	}
	return fmt.Sprintf("%s was written (%s) and %s: %v", e.Final, e.Wrote, holds, e.Err)
}

func (e *UnconfirmedError) Unwrap() error { return e.Err }

// publication is the state of one publish step, for the result.
type publication struct {
	stage    Stage
	before   string  // what the final tag held, "" for nothing
	wrote    v1.Hash // the index assembled, then written
	media    string
	restored bool
}

// publish merges the pushed digests (never the arch tags, which another
// job may have moved meanwhile) into the final tag, stage by stage: it
// assembles and checks the index and remembers what the tag holds
// (checked), writes it (written) and reads it back (confirmed), on one
// registry client, so the target's registry is authenticated once. After a
// failure that follows the write it puts the earlier index back when the
// tag still holds mab's, and otherwise says exactly what the tag holds.
func (r Runner) publish(ctx context.Context, p *Plan, outcomes []Outcome, pub *publication) error {
	sources := make([]merge.Source, len(outcomes))
	for i, o := range outcomes {
		sources[i] = merge.Source{Ref: p.Final.Context().Digest(o.Digest)}
	}
	opts := append([]merge.Option{merge.WithInsecure(p.Insecure), merge.WithInsecureRegistries(p.InsecureRegistries...)}, p.Registry...)
	client := merge.New(append(opts, r.Registry...)...)
	prev, err := client.Snapshot(ctx, p.Final)
	if err != nil {
		return fmt.Errorf("%s left unchanged: %w", p.Final, err)
	}
	if prev.Exists() {
		pub.before = prev.Digest.String()
	}
	idx, err := client.Assemble(ctx, p.Final, sources, p.Annotations.MergeOptions()...)
	if err != nil {
		return fmt.Errorf("%s left unchanged: %w", p.Final, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s left unchanged: interrupted before the write: %w", p.Final, err)
	}
	pub.stage, pub.wrote, pub.media = StageChecked, idx.Digest, string(idx.MediaType)
	r.report(StageChecked)

	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publishTimeout)
	defer cancel()
	r.report(StageWritten)
	if err := client.Write(wctx, idx); err != nil {
		// The PUT may have landed before the error (a lost reply): ask.
		now, herr := client.Head(wctx, p.Final)
		unchanged := (now == v1.Hash{} && pub.before == "") || (now != v1.Hash{} && now.String() == pub.before)
		switch {
		case herr != nil:
			return &UnconfirmedError{Final: p.Final, Wrote: idx.Digest.String(), Err: errors.Join(err, herr)}
		case now == idx.Digest:
			// The write landed and only its reply was lost: read it back.
		case unchanged:
			return fmt.Errorf("%s left unchanged: %w", p.Final, err)
		default:
			return &UnconfirmedError{Final: p.Final, Wrote: idx.Digest.String(), Holds: now.String(), Err: err}
		}
	}
	pub.stage = StageWritten
	if err := client.Verify(wctx, p.Final, idx.Digest); err != nil {
		return r.undo(wctx, client, prev, pub, err)
	}
	pub.stage = StageConfirmed
	r.report(StageConfirmed)
	return nil
}

// undo puts the earlier index back after a failed read-back, if the tag is
// still mab's to put back, and says in one error what the tag holds.
func (r Runner) undo(ctx context.Context, client *merge.Client, prev *merge.Snapshot, pub *publication, cause error) error {
	final := prev.Target
	rerr := client.Restore(ctx, prev, pub.wrote)
	if rerr == nil {
		pub.stage, pub.restored = StageChecked, true
		return fmt.Errorf("%w; put the earlier index %s back under %s", cause, prev.Digest, final)
	}
	now, herr := client.Head(ctx, final)
	holds := ""
	if herr == nil && now != (v1.Hash{}) {
		holds = now.String()
	}
	if !prev.Exists() {
		rerr = errors.New("there was no earlier index to put back")
	}
	return &UnconfirmedError{Final: final, Wrote: pub.wrote.String(), Holds: holds, Err: fmt.Errorf("%w; %w", cause, rerr)}
}

// load pulls the host's platform by digest into the Docker daemon under
// the final tag and its arch tag.
func (r Runner) load(ctx context.Context, p *Plan, i int, digest string) error {
	src := p.Final.Context().Digest(digest).String()
	return r.loadFunc()(ctx, src, p.Final.String(), p.Targets[i].Tag.String())
}
