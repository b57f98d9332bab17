// Package yggr is a tiny, replicated, ordered key-value database: the
// SQLite of Raft. An application links it and opens a database:
//
//	db, err := yggr.Open("data", nil) // a single-node database, no network
//	err = db.Put(ctx, []byte("k"), []byte("v"))
//	v, err := db.Get(ctx, []byte("k"))
//
// or a member of a cluster:
//
//	db, err := yggr.Open("data/n1",
//		[]string{"n1=10.0.0.1:7071", "n2=10.0.0.2:7071", "n3=10.0.0.3:7071"},
//		yggr.WithID("n1"), yggr.WithClusterSecret(secret))
//
// Writes go through Raft: Put returns once the write is committed on a
// majority and applied. Reads are linearizable by default (ReadIndex: no log
// write, no fsync); Lease reads skip the round trip when WithLeaseReads is
// set; Stale reads are served from the local copy at once. Any node accepts
// any request: a follower forwards writes to the leader and asks the leader
// for a read index.
//
// # Caveats
//
// The state machine is an in-memory B-tree: the whole dataset must fit in
// memory. Byte slices passed in are not retained; byte slices returned are
// owned by the caller. Lease reads assume clocks whose rates differ by less
// than the configured drift margin (see engine.Config.LeaseTicks).
package yggr

import (
	"errors"

	"github.com/yggrdb/yggr/internal/node"
)

// Errors. Messages start with "yggr: ".
var (
	ErrNotFound = errors.New("yggr: not found")
	// ErrNotLeader matches a *NotLeaderError.
	ErrNotLeader = node.ErrNotLeader
	ErrNoLeader  = node.ErrNoLeader
	ErrBusy      = node.ErrBusy
	ErrClosed    = node.ErrClosed
	ErrTimeout   = node.ErrTimeout
	ErrCorrupt   = node.ErrCorrupt
	// ErrDropped: a leadership change dropped the write before it
	// committed; it was not applied and may be retried.
	ErrDropped = node.ErrDropped
	// ErrUnknownOutcome: the write may or may not have been applied (for
	// example the leader it was forwarded to stopped mid-request); read
	// before retrying a write that is not idempotent.
	ErrUnknownOutcome = node.ErrUnknownOutcome
	ErrMembership     = node.ErrMembership
	ErrTransfer       = node.ErrTransfer
	// ErrNoSpace: the leader's disk has less free space than its reserve
	// (WithDiskReserve); the write was not applied. Reads go on, and writes
	// are accepted again once space is freed.
	ErrNoSpace = node.ErrNoSpace
	// ErrStorage: this node's disk failed (a write or sync returned an
	// error, or a file failed verification) and the node stopped: it
	// answers no request until restarted; the others go on. A write in
	// flight when it stopped may still commit through them. The error
	// says which file and operation failed (see docs/disk-faults.md).
	ErrStorage  = node.ErrStorage
	ErrTooLarge = errors.New("yggr: too large")
	// ErrInvalid: an argument, or an option given to Open, makes no sense;
	// the error says which and why.
	ErrInvalid = errors.New("yggr: invalid argument")
	// ErrLeaseDisabled: a Lease read on a database opened without
	// WithLeaseReads.
	ErrLeaseDisabled = errors.New("yggr: lease reads are not enabled on this node")
	// ErrConfig: Open was given a contradictory or incomplete configuration.
	ErrConfig = errors.New("yggr: bad configuration")
)

// NotLeaderError says which node leads; it matches ErrNotLeader.
//
//	type NotLeaderError struct {
//		Leader string // the leader's ID ("" when unknown), as an engine.NodeID
//		Addr   string // its peer address, when known
//	}
type NotLeaderError = node.NotLeaderError

// StorageError is the failure that stopped a node (see ErrStorage): which
// file and operation failed, and how. It matches ErrStorage.
//
//	type StorageError struct {
//		Err error // the storage failure; Unwrap returns it
//	}
type StorageError = node.StorageError

// sentinelError is an error with a message of its own that matches
// several sentinels (ErrInvalid and ErrLeaseTTL, say) while keeping one
// prefix, where "%w: %w" would repeat it.
type sentinelError struct {
	msg  string
	errs []error
}

func (e *sentinelError) Error() string   { return e.msg }
func (e *sentinelError) Unwrap() []error { return e.errs }
