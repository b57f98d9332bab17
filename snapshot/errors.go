package snapshot

import "errors"

// Errors returned by the store. Match them with errors.Is: the returned
// errors wrap them with the file or snapshot concerned.
var (
	// ErrNotFound: no complete snapshot with the requested term and index.
	ErrNotFound = errors.New("snapshot: not found")
	// ErrCorrupt: a file of a snapshot (or of a partial receive) is
	// damaged, truncated or inconsistent with its manifest, or received
	// data contradicts the announced metadata. The error names the file.
	ErrCorrupt = errors.New("snapshot: corrupt")
	// ErrOffsetMismatch: Receiver.WriteAt was called at an offset other
	// than Receiver.Offset(); nothing was written.
	ErrOffsetMismatch = errors.New("snapshot: offset mismatch")
	// ErrClosed: the Writer, Reader or Receiver was already committed,
	// aborted, closed or superseded.
	ErrClosed = errors.New("snapshot: closed")
)
