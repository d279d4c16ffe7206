package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
	// StageBuilt: every platform solved and pushed by digest; no tag
	// written (a Docker daemon's builder pushes under the arch tags). The
	// last stage of --no-merge.
	StageBuilt Stage = "built"
	// StageChecked: the index assembled in memory from the pushed digests,
	// each child's config, platform, size and media type read and compared,
	// the size limit kept, and what the final tag held remembered; the
	// final tag untouched.
	StageChecked Stage = "checked"
	// StageWritten: the index was PUT, not yet read back.
	StageWritten Stage = "written"
	// StageConfirmed: the final tag was read back and holds the index;
	// the other tags and the arch tags follow.
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
// last read it ("" when it could not be read). Overwritten says the tag
// was confirmed, and then, read once more after every other tag was
// written, held another writer's index.
type UnconfirmedError struct {
	Final       name.Tag
	Wrote       string
	Holds       string
	Overwritten bool
	Err         error
}

func (e *UnconfirmedError) Error() string {
	if e.Overwritten {
		msg := fmt.Sprintf("%s was overwritten by another writer after mab confirmed it: it now holds %s, not %s", e.Final, e.Holds, e.Wrote)
		if e.Err != nil {
			msg += "; " + e.Err.Error()
		}
		return msg
	}
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
	size     int64
	restored bool
	// held are the tags read back holding the index, the final tag first.
	held []name.Tag
	// overwritten is what the final tag held at the last read, when that
	// was another writer's index.
	overwritten string
}

// registry is the publishing client: the plan's options, then the runner's.
func (r Runner) registry(p *Plan) *merge.Client {
	opts := append([]merge.Option{merge.WithInsecure(p.Insecure), merge.WithInsecureRegistries(p.InsecureRegistries...)}, p.Registry...)
	return merge.New(append(opts, r.Registry...)...)
}

// publish merges the pushed digests (never tags, which another job may
// have moved meanwhile) into the final tag, stage by stage: it assembles
// and checks the index, copies its children into the repository of every
// other tag and remembers what the final tag holds (checked), writes it
// (written) and reads it back (confirmed), on one registry client, so each
// registry is authenticated once. After a failure that follows the write
// it puts the earlier index back when the tag still holds mab's, and
// otherwise says exactly what the tag holds. Once the final tag is
// confirmed, it writes the other tags and the arch tags and reads the
// final tag once more (see finish).
func (r Runner) publish(ctx context.Context, p *Plan, client *merge.Client, outcomes []Outcome, pub *publication) error {
	sources := make([]merge.Source, len(outcomes))
	for i, o := range outcomes {
		sources[i] = merge.Source{Ref: p.Final.Context().Digest(o.Digest)}
	}
	// Every registry once, with every scope the stages below need.
	if err := client.Authorize(ctx, append([]name.Repository{p.Final.Context()}, otherRepositories(p)...), nil); err != nil {
		return fmt.Errorf("%s left unchanged: %w", p.Final, err)
	}
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
	// The likely failures of the other tags (credentials, a registry
	// down) come here, before any tag is written.
	for _, repo := range otherRepositories(p) {
		if _, err := client.CopyTo(ctx, idx, repo); err != nil {
			return fmt.Errorf("%s left unchanged, no tag written: %w", p.Final, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s left unchanged: interrupted before the write: %w", p.Final, err)
	}
	pub.stage, pub.wrote, pub.media, pub.size = StageChecked, idx.Digest, string(idx.MediaType), int64(len(idx.Raw))
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
	pub.stage, pub.held = StageConfirmed, []name.Tag{p.Final}
	r.report(StageConfirmed)
	cancel()
	// A fresh bound for the other tags: they too run to their end.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publishTimeout)
	defer cancel()
	return r.finish(fctx, p, client, idx, outcomes, pub)
}

// otherRepositories are the repositories of the tags after the first that
// are not the first tag's, each once.
func otherRepositories(p *Plan) []name.Repository {
	var out []name.Repository
	seen := map[string]bool{p.Final.Context().Name(): true}
	for _, t := range p.Tags[1:] {
		if !seen[t.Context().Name()] {
			seen[t.Context().Name()] = true
			out = append(out, t.Context())
		}
	}
	return out
}

// finish runs after the final tag is confirmed: it writes idx under every
// other tag, the arch tags (unless --push-by-digest), and reads the final
// tag once more. Another writer's index there is an *UnconfirmedError
// (mab's own writes all came before that writer's, or that writer reports
// the overwrite itself: see README's "What mab guarantees"); a failed
// write is a *PublishedError that names what holds the index and what
// failed.
func (r Runner) finish(ctx context.Context, p *Plan, client *merge.Client, idx *merge.Index, outcomes []Outcome, pub *publication) error {
	var failed []string
	var errs []error
	for _, t := range p.Tags[1:] {
		if err := client.Tag(ctx, idx, t); err != nil {
			failed, errs = append(failed, t.String()), append(errs, err)
			continue
		}
		pub.held = append(pub.held, t)
	}
	var msgs []string
	if len(failed) > 0 {
		held := make([]string, len(pub.held))
		for i, t := range pub.held {
			held[i] = t.String()
		}
		msgs = append(msgs, fmt.Sprintf("the index is under %s and not under %s", strings.Join(held, ", "), strings.Join(failed, ", ")))
	}
	if !p.PushByDigest {
		if err := tagPlatforms(ctx, p, client, outcomes); err != nil {
			msgs, errs = append(msgs, "the arch tags are not all written"), append(errs, err)
		}
	}
	now, err := client.Head(ctx, p.Final)
	var later error
	if len(errs) > 0 {
		later = fmt.Errorf("%s: %w", strings.Join(msgs, "; "), errors.Join(errs...))
	}
	switch {
	case err != nil:
		later = errors.Join(later, fmt.Errorf("reading %s once more: %w", p.Final, err))
	case now != idx.Digest:
		pub.overwritten = now.String()
		// The other writer may have written its arch tags before these:
		// say which this build wrote, so they can be checked.
		var wrote []string
		for i, o := range outcomes {
			if o.Tagged {
				wrote = append(wrote, p.Targets[i].Tag.TagStr())
			}
		}
		if len(wrote) > 0 {
			later = errors.Join(later, fmt.Errorf("this build wrote the arch tags %s before it read the overwrite", strings.Join(wrote, ", ")))
		}
		return &UnconfirmedError{Final: p.Final, Wrote: idx.Digest.String(), Holds: now.String(), Overwritten: true, Err: later}
	}
	if later != nil {
		return &PublishedError{Final: p.Final, Digest: idx.Digest.String(), Err: later}
	}
	return nil
}

// tagPlatforms writes each platform's arch tag, pointing it byte for byte
// at the digest the builder pushed, unless the builder tagged it already
// (a Docker daemon's), and marks the outcome Tagged. It tries every
// platform and returns the failures joined, each naming its tag.
func tagPlatforms(ctx context.Context, p *Plan, client *merge.Client, outcomes []Outcome) error {
	var errs []error
	for i := range outcomes {
		o := &outcomes[i]
		if o.Tagged || o.Err != nil {
			continue
		}
		if err := client.Point(ctx, p.Targets[i].Tag.Context().Digest(o.Digest), p.Targets[i].Tag); err != nil {
			errs = append(errs, err)
			continue
		}
		o.Tagged = true
	}
	return errors.Join(errs...)
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
// the final tag and, when it was written, its arch tag.
func (r Runner) load(ctx context.Context, p *Plan, i int, o Outcome) error {
	src := p.Final.Context().Digest(o.Digest).String()
	tags := []string{p.Final.String()}
	if o.Tagged {
		tags = append(tags, p.Targets[i].Tag.String())
	}
	return r.loadFunc()(ctx, src, tags...)
}
