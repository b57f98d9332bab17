package node

import (
	"errors"
	"fmt"

	"github.com/yggrdb/yggr/engine"
)

// Errors of the runtime; the root package re-exports them.
var (
	ErrClosed    = errors.New("yggr: closed")
	ErrBusy      = errors.New("yggr: too many pending requests, retry later")
	ErrNotLeader = errors.New("yggr: not the leader")
	ErrNoLeader  = errors.New("yggr: no leader")
	// ErrDropped: the proposal was appended by a leader that lost its
	// leadership before the entry committed, and another leader's entry
	// replaced it: it was not applied.
	ErrDropped = errors.New("yggr: proposal dropped by a leadership change; it was not applied")
	// ErrUnknownOutcome: the proposal's fate cannot be known here (for
	// example a snapshot replaced the log that held it, or the leader a
	// follower forwarded it to closed while it was in flight); it may or
	// may not have been applied.
	ErrUnknownOutcome = errors.New("yggr: proposal outcome unknown; it may or may not have been applied")
	ErrTimeout        = errors.New("yggr: timed out")
	ErrCorrupt        = errors.New("yggr: corrupt data")
	ErrTransfer       = errors.New("yggr: leadership transfer in progress")
	ErrMembership     = errors.New("yggr: membership change refused")
	// ErrNoSpace: the leader's disk has less free space than its reserve
	// (Config.DiskReserve); the write was not applied. Reads go on; writes
	// are accepted again once space is freed.
	ErrNoSpace = errors.New("yggr: not enough free disk space on the leader; the write was not applied")
	// ErrStorage: this node's disk failed (a write or sync returned an
	// error) and the node stopped: it answers no request until restarted.
	// A write in flight when it stopped may still commit through the other
	// nodes; one sent after is not applied here.
	ErrStorage = errors.New("yggr: storage failed; this node stopped")
)

// StorageError is the failure that stopped a node: which file and which
// operation failed, and how. It matches ErrStorage with errors.Is and
// unwraps to the storage error (which may wrap ErrCorrupt, or a syscall
// error such as EIO).
type StorageError struct{ Err error }

func (e *StorageError) Error() string { return ErrStorage.Error() + ": " + e.Err.Error() }

// Unwrap returns the storage error.
func (e *StorageError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrStorage) hold.
func (e *StorageError) Is(target error) bool { return target == ErrStorage }

// NotLeaderError says which node leads, when known. It matches ErrNotLeader
// with errors.Is.
type NotLeaderError struct {
	Leader engine.NodeID
	Addr   string
}

func (e *NotLeaderError) Error() string {
	if e.Leader == "" {
		return "yggr: not the leader (leader unknown)"
	}
	return fmt.Sprintf("yggr: not the leader (leader is %s at %s)", e.Leader, e.Addr)
}

// Is makes errors.Is(err, ErrNotLeader) hold.
func (e *NotLeaderError) Is(target error) bool { return target == ErrNotLeader }

// translate maps an engine rejection to a runtime error.
func (n *Node) translate(err error, leader engine.NodeID) error {
	switch {
	case errors.Is(err, engine.ErrNotLeader):
		return &NotLeaderError{Leader: leader, Addr: n.addrs.get(leader)}
	case errors.Is(err, engine.ErrNoLeader), errors.Is(err, engine.ErrSteppedDown):
		return fmt.Errorf("%w: %v", ErrNoLeader, err)
	case errors.Is(err, engine.ErrBusy):
		return ErrBusy
	case errors.Is(err, engine.ErrTransferInProgress):
		return ErrTransfer
	case errors.Is(err, engine.ErrReadTimeout):
		return fmt.Errorf("%w: %v", ErrTimeout, err)
	case errors.Is(err, engine.ErrConfPending), errors.Is(err, engine.ErrConfNotReady),
		errors.Is(err, engine.ErrConfInvalid), errors.Is(err, engine.ErrLearnerNotCaughtUp):
		// Both wrapped: changeLocal tells ErrConfNotReady apart.
		return fmt.Errorf("%w: %w", ErrMembership, err)
	}
	return err
}
