package raft

import (
	"context"
	"fmt"
	"io"

	"github.com/yggrdb/yggr"
	"github.com/yggrdb/yggr/internal/opener"
)

// StateMachine is the application's replicated state. The runtime calls
// its methods as the package documentation's contract says: Apply in log
// order from one goroutine, Snapshot between Applies, the returned
// WriterTo concurrently with later Applies, Restore to replace the state.
type StateMachine interface {
	// Apply applies the command of the committed entry at index and
	// returns its result for the proposer. It must be deterministic and
	// cannot fail: a rejected command yields a result that says so.
	Apply(index uint64, cmd []byte) []byte
	// Snapshot captures the state as of the last Apply, cheaply, and
	// returns an image that writes it out from another goroutine. An
	// error abandons this snapshot; the runtime tries again later.
	Snapshot() (io.WriterTo, error)
	// Restore replaces the whole state with one an image wrote. On error
	// the state must be unchanged.
	Restore(r io.Reader) error
}

// replica is what the root package hands over for a node (internal/opener).
type replica interface {
	ID() string
	Propose(ctx context.Context, cmd []byte) ([]byte, uint64, error)
	Read(ctx context.Context, opts []yggr.ReadOption) (uint64, error)
	Status() yggr.Status
	WaitLeader(ctx context.Context) (string, error)
	AddVoter(ctx context.Context, id, addr string) error
	AddLearner(ctx context.Context, id, addr string) error
	Promote(ctx context.Context, id string) error
	RemoveMember(ctx context.Context, id string) error
	TransferLeadership(ctx context.Context, id string) error
	Snapshot(ctx context.Context) (uint64, error)
	Close() error
}

// Node is one running member of a cluster replicating a StateMachine. Its
// methods are safe for concurrent use. Every method that takes a ctx stops
// waiting when ctx ends (yggr.ErrTimeout); a command whose wait ended may
// still be committed and applied.
type Node struct{ r replica }

// Open opens (creating if needed) the node's durable state in dir and
// starts it, restoring sm from the newest snapshot and applying the log
// after it. peers and opts mean what they mean to yggr.Open: no peers is a
// single node without a network; otherwise peers lists every voter of a new
// cluster as "id=host:port" (this node included, named by yggr.WithID),
// secured with yggr.WithClusterSecret or yggr.WithTLS (or, for
// development, yggr.WithInsecure). The identity and initial peers are
// recorded in dir: reopening as another node ID is an error, and peers
// given to a reopen are ignored (logged if they differ), as yggr.Open does.
//
// A directory belongs to one kind of state machine: opening the directory
// of a yggr.DB, or of another application, restores sm from a snapshot it
// cannot read (Restore fails, and so does Open).
func Open(dir string, peers []string, sm StateMachine, opts ...yggr.Option) (*Node, error) {
	if sm == nil {
		return nil, fmt.Errorf("%w: raft.Open: no state machine", yggr.ErrInvalid)
	}
	h, err := opener.Open(dir, peers, sm, opts)
	if err != nil {
		return nil, err
	}
	return &Node{r: h.(replica)}, nil
}

// ID returns this node's ID.
func (n *Node) ID() string { return n.r.ID() }

// Propose replicates cmd and returns the result of Apply on the leader and
// the index of its entry, once the entry is committed (durable on a
// majority) and applied by the leader. Any node accepts it: a follower
// forwards it to the leader, and a node that knows no leader waits for one
// while ctx allows. The caller keeps cmd; the result belongs to the
// caller. It fails with yggr.ErrUnknownOutcome when the command may or may
// not have been committed (the leader was lost with it in flight), with
// yggr.ErrDropped, yggr.ErrBusy or yggr.ErrNoSpace when it was not.
func (n *Node) Propose(ctx context.Context, cmd []byte) (result []byte, index uint64, err error) {
	return n.r.Propose(ctx, cmd)
}

// Read waits until this node's state machine may serve a read at the
// consistency asked for (yggr.WithConsistency; default yggr.Linearizable)
// and returns the index it is served at: the state machine has applied at
// least that index when Read returns, so a read of it then reflects every
// command acknowledged before Read was called (Linearizable: the leader
// confirms its leadership with a heartbeat round; Lease, with
// yggr.WithLeaseReads: the leader answers from its lease, assuming bounded
// clock drift; Stale: at once, from what this node applied).
// yggr.AtLeast(i) also waits until index i is applied here
// (read-your-writes after a Propose that returned i); other read options
// (yggr.ReadRevision) have no effect.
func (n *Node) Read(ctx context.Context, opts ...yggr.ReadOption) (uint64, error) {
	return n.r.Read(ctx, opts)
}

// Status returns this node's view of the cluster: role, term, leader,
// commit and applied indexes, members, and (on the leader) replication.
func (n *Node) Status() yggr.Status { return n.r.Status() }

// WaitLeader blocks until this node knows a leader and returns its ID.
func (n *Node) WaitLeader(ctx context.Context) (string, error) { return n.r.WaitLeader(ctx) }

// AddLearner adds a node that receives the log but does not vote; Promote
// it once it has caught up. addr is its peer address (host:port). The new
// node is opened with yggr.WithJoin.
func (n *Node) AddLearner(ctx context.Context, id, addr string) error {
	return n.r.AddLearner(ctx, id, addr)
}

// AddVoter adds a voter directly. Prefer AddLearner then Promote, which
// keeps the cluster available while the new node catches up.
func (n *Node) AddVoter(ctx context.Context, id, addr string) error {
	return n.r.AddVoter(ctx, id, addr)
}

// Promote makes a learner that has caught up a voter.
func (n *Node) Promote(ctx context.Context, id string) error { return n.r.Promote(ctx, id) }

// RemoveMember removes a voter or learner. A leader that removes itself
// steps down once the change commits.
func (n *Node) RemoveMember(ctx context.Context, id string) error {
	return n.r.RemoveMember(ctx, id)
}

// TransferLeadership hands leadership to the voter id (any up-to-date
// voter if empty) and waits until it leads.
func (n *Node) TransferLeadership(ctx context.Context, id string) error {
	return n.r.TransferLeadership(ctx, id)
}

// Snapshot takes a snapshot of this node's state machine now and returns
// its index (snapshots are also taken automatically as the log grows).
func (n *Node) Snapshot(ctx context.Context) (uint64, error) { return n.r.Snapshot(ctx) }

// Close stops the node: waiting calls fail with yggr.ErrClosed, the
// runtime's goroutines end, and the directory is released. It is safe to
// call more than once.
func (n *Node) Close() error { return n.r.Close() }
