package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/yggrdb/yggr"
	"github.com/yggrdb/yggr/concurrency"
	"github.com/yggrdb/yggr/httpapi"
)

// Exit codes. Scripts may rely on them.
const (
	exitOK          = 0 // success
	exitError       = 1 // any other error (including a failed compare)
	exitUsage       = 2 // bad command line or invalid input
	exitNotFound    = 3 // the key, member or lease does not exist (a lease also when revoked or expired)
	exitUnavailable = 4 // no leader, busy, no endpoint answered, timed out, a write's outcome is unknown, the node's disk failed, or a lock was lost
)

// usageError is a bad command line found after parsing.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// notFoundError is a not-found error with a message of its own; it
// matches yggr.ErrNotFound.
type notFoundError string

func (e notFoundError) Error() string { return string(e) }

// Is makes a notFoundError match yggr.ErrNotFound.
func (e notFoundError) Is(target error) bool { return target == yggr.ErrNotFound }

// errCompareFailed: a cas or txn compare did not hold.
var errCompareFailed = errors.New("compare failed")

// exitCode maps an error to the process exit code.
func exitCode(err error) int {
	var ue usageError
	var ce commandExit
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ce):
		return ce.code
	case errors.Is(err, concurrency.ErrLockLost): // also when its lease is not found
		return exitUnavailable
	case errors.As(err, &ue), errors.Is(err, yggr.ErrInvalid), errors.Is(err, yggr.ErrConfig):
		return exitUsage
	case errors.Is(err, yggr.ErrNotFound), errors.Is(err, yggr.ErrLeaseNotFound):
		return exitNotFound
	case errors.Is(err, httpapi.ErrUnavailable), errors.Is(err, yggr.ErrNoLeader),
		errors.Is(err, yggr.ErrNotLeader), errors.Is(err, yggr.ErrBusy),
		errors.Is(err, yggr.ErrClosed), errors.Is(err, yggr.ErrDropped), errors.Is(err, yggr.ErrNoSpace), errors.Is(err, yggr.ErrStorage),
		errors.Is(err, yggr.ErrTimeout), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, yggr.ErrUnknownOutcome):
		return exitUnavailable
	}
	return exitError
}
