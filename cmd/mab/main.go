// Command mab turns one Dockerfile into one multi-architecture image tag.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"github.com/mab-build/mab/internal/pipeline"
)

// Exit codes, as README's "What mab guarantees" documents them.
const (
	// exitFailed: the command failed; the final tag is as it was before
	// (never written, or put back).
	exitFailed = 1
	// exitPublished: the final tag is published and confirmed; a later
	// step (--load, the metadata file) failed.
	exitPublished = 3
	// exitUnconfirmed: the final tag was written and could be neither
	// confirmed nor put back; the message says what it holds.
	exitUnconfirmed = 4
	// exitInterrupted: a second Ctrl-C (or SIGTERM) quit at once.
	exitInterrupted = 130
)

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "mab: %s: stopping (send it again to quit at once)\n", s)
		cancel()
		<-sigs
		fmt.Fprintf(os.Stderr, "mab: quit at once %s\n", stage.describe())
		os.Exit(exitInterrupted)
	}()
	err := NewRootCmd().ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mab: "+pipeline.OneLine(err))
		os.Exit(exitCode(err))
	}
}

// exitCode is the documented exit code of err.
func exitCode(err error) int {
	var published *pipeline.PublishedError
	var unconfirmed *pipeline.UnconfirmedError
	var tags *tagsError
	var written *pipeline.WrittenError
	switch {
	case errors.As(err, &unconfirmed):
		return exitUnconfirmed
	case errors.As(err, &published), errors.As(err, &tags), errors.As(err, &written):
		return exitPublished
	}
	return exitFailed
}

// stage is how far the running build got, for the line a second Ctrl-C
// prints: signals are the process's, so this is too.
var stage stageTracker

type stageTracker struct{ v atomic.Value }

func (t *stageTracker) set(s pipeline.Stage) { t.v.Store(s) }

func (t *stageTracker) describe() string {
	s, _ := t.v.Load().(pipeline.Stage)
	switch s {
	case "":
		return "(no build was under way)"
	case pipeline.StageWritten:
		return "after writing the final tag and before reading it back: it may hold the new, unconfirmed index"
	case pipeline.StageConfirmed:
		return "after the final tag was published and confirmed"
	case pipeline.StageSaved:
		return "after the --output archive or folder was written"
	}
	return "at stage " + string(s) + ": the final tag was not written"
}
