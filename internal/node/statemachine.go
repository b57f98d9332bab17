package node

import "io"

// StateMachine is the replicated application state. The runtime calls
// Apply and Restore from its apply goroutine only, in log order (and, as
// Start replays the committed log, from Start before that goroutine runs:
// replayLog); Snapshot
// from the same goroutine, and the returned WriterTo from another goroutine
// while later Applies run, so it must capture a point-in-time image (a
// copy-on-write clone) and share nothing mutable with the live state.
type StateMachine interface {
	// Apply applies the command of the committed entry at index and
	// returns its result, which is handed to the proposer. It must be
	// deterministic and must not fail: an invalid command yields a result
	// that says so.
	Apply(index uint64, cmd []byte) []byte
	// Snapshot captures the state as of the last applied entry. It may
	// fail (the runtime retries later).
	Snapshot() (io.WriterTo, error)
	// Restore replaces the whole state with one written by a Snapshot's
	// WriterTo. On error the state must be unchanged.
	Restore(r io.Reader) error
}

// AppliedObserver is implemented by a state machine that wants to know
// when the runtime has applied a batch of entries: AppliedThrough(index)
// follows the Apply calls of every entry up to index (including entries
// that are not commands, which are not passed to Apply), on the apply
// goroutine, before readers waiting for index are released.
type AppliedObserver interface {
	AppliedThrough(index uint64)
}
