package yggr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/yggrdb/yggr/engine"
	"github.com/yggrdb/yggr/internal/kv"
	"github.com/yggrdb/yggr/internal/node"
	"github.com/yggrdb/yggr/internal/watch"
	"github.com/yggrdb/yggr/netquic"
)

// AddLearner adds a node that receives the log but does not vote; Promote
// it once it has caught up. addr is its peer address (host:port).
func (db *DB) AddLearner(ctx context.Context, id, addr string) error {
	return db.change(ctx, engine.ConfAddLearner, id, addr)
}

// AddVoter adds a voter directly. Prefer AddLearner then Promote, which
// keeps the cluster available while the new node catches up.
func (db *DB) AddVoter(ctx context.Context, id, addr string) error {
	return db.change(ctx, engine.ConfAddVoter, id, addr)
}

// Promote makes a learner that has caught up a voter.
func (db *DB) Promote(ctx context.Context, id string) error {
	return db.change(ctx, engine.ConfPromote, id, "")
}

// RemoveMember removes a voter or learner. A leader that removes itself
// steps down once the change commits.
func (db *DB) RemoveMember(ctx context.Context, id string) error {
	return db.change(ctx, engine.ConfRemove, id, "")
}

// VerifyPeer checks, before adding it, that the node listening on addr
// is the node id and holds this cluster's peer credentials: a certificate
// from the cluster CA (WithTLS) or derived from the same cluster secret
// (WithClusterSecret). It completes a handshake with it, as the cluster
// would to replicate to it. An insecure cluster (WithInsecure) only checks
// that the node answers as id.
//
// It fails with ErrInvalid when the node does not pass the check (the
// message says why: for example, its certificate is not signed by the
// cluster CA), and with ErrMembership when it cannot be reached (it may not
// listen yet: try again). The HTTP API's join (POST /v1/members) calls it
// whatever its token setting, so that nobody can add a member without the
// cluster's credentials.
func (db *DB) VerifyPeer(ctx context.Context, id, addr string) error {
	if !engine.ValidNodeID(engine.NodeID(id)) {
		return fmt.Errorf("%w: node id %q", ErrInvalid, id)
	}
	if addr == "" {
		return nil // change refuses it, saying why
	}
	p, ok := db.net.(interface {
		Probe(ctx context.Context, id engine.NodeID, addr string) error
	})
	if !ok {
		// No peer listener (change refuses to add members then), or a
		// test network without handshakes.
		return nil
	}
	err := p.Probe(ctx, engine.NodeID(id), addr)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, netquic.ErrProbeUnreachable):
		return fmt.Errorf("%w: cannot reach %s at %s to check its credentials: %v", ErrMembership, id, addr, err)
	case ctx.Err() != nil:
		return err
	}
	return fmt.Errorf("%w: %s does not hold this cluster's credentials (same --cluster-secret, or a certificate from the cluster CA): %v", ErrInvalid, id, err)
}

// change proposes a membership change of the node id (at addr, when it is
// added).
func (r *replica) change(ctx context.Context, op engine.ConfOp, id, addr string) error {
	if !engine.ValidNodeID(engine.NodeID(id)) {
		return fmt.Errorf("%w: node id %q", ErrInvalid, id)
	}
	if (op == engine.ConfAddLearner || op == engine.ConfAddVoter) && addr == "" {
		return fmt.Errorf("%w: adding %s needs its peer address", ErrInvalid, id)
	}
	if (op == engine.ConfAddLearner || op == engine.ConfAddVoter) && r.net == nil {
		// Without a peer listener nothing could reach the new member: a
		// learner would never catch up, and a voter would leave the
		// cluster without a majority.
		return fmt.Errorf("%w: %s has no peer listener, so it cannot add members; open it with its own address as its only peer (\"%s=host:port\") to grow it into a cluster", ErrMembership, r.id, r.id)
	}
	_, err := r.node.ChangeMembership(ctx, engine.ConfChange{Op: op, Node: engine.NodeID(id), Addr: addr})
	return err
}

// TransferLeadership hands leadership to the voter id and waits until it
// leads. With id empty it picks the voter: of those other than the leader,
// the one with the longest log among those that answer within an election
// timeout (see ClusterStatus), or, if none answers, the one the leader
// finds most up to date.
func (db *DB) TransferLeadership(ctx context.Context, id string) error {
	if id == "" {
		id = db.handOffTarget(ctx)
	}
	return db.node.TransferLeadership(ctx, engine.NodeID(id))
}

// Snapshot takes a snapshot of this node's state now (snapshots are also
// taken automatically as the log grows) and returns its index. A node that
// has applied nothing yet (just started, no entry committed since) waits
// for its first entry within ctx, and fails with ErrTimeout if none comes.
func (db *DB) Snapshot(ctx context.Context) (uint64, error) {
	meta, err := db.node.Snapshot(ctx)
	return meta.Index, err
}

// Backup writes a consistent backup of this node's state to w and returns
// the log index it covers. RestoreBackup turns it into a new database.
func (db *DB) Backup(ctx context.Context, w io.Writer) (uint64, error) {
	meta, err := db.node.Backup(ctx, w)
	return meta.Index, err
}

// RestoreBackup creates, in the empty or missing directory dir, a
// single-node database with node ID id holding the state of a backup.
// Open(dir, nil, WithID(id)) then serves it alone, with no peer listener;
// to grow it into a cluster, open it with its own address as its only peer
// (Open(dir, []string{id + "=host:port"}, WithID(id), WithClusterSecret(...)))
// and add members with AddLearner and Promote.
func RestoreBackup(dir, id string, r io.Reader) (uint64, error) {
	if id == "" {
		id = defaultID
	}
	if !engine.ValidNodeID(engine.NodeID(id)) {
		return 0, fmt.Errorf("%w: invalid node id %q", ErrInvalid, id)
	}
	meta, err := node.RestoreBackup(dir, engine.NodeID(id), r, newKVMachine(kv.New(), watch.New(0, watch.Options{})))
	if err != nil {
		return 0, err
	}
	// The node's identity has one record, yggr.json (identity.go): a
	// directory left without it would be refused, so none is left.
	if err := writeIdentity(dir, identity{ID: id, Peers: []string{id + "="}}); err != nil {
		return 0, errors.Join(err, os.RemoveAll(dir))
	}
	return meta.Index, nil
}

// Member is one member of the cluster.
type Member struct {
	ID    string `json:"id"`
	Addr  string `json:"addr"`
	Voter bool   `json:"voter"`
}

// Role is a node's part in the Raft protocol. Its JSON is the role's
// name ("follower", "pre-candidate", "candidate", "leader").
type Role string

// Roles.
const (
	RoleFollower     Role = "follower"
	RolePreCandidate Role = "pre-candidate"
	RoleCandidate    Role = "candidate"
	RoleLeader       Role = "leader"
)

// String returns the role's name.
func (r Role) String() string { return string(r) }

// roleOf names the engine's role.
func roleOf(r engine.Role) Role { return Role(r.String()) }

// Status is a node's view of the cluster.
type Status struct {
	ID            string   `json:"id"`
	Role          Role     `json:"role"`
	Term          uint64   `json:"term"`
	Leader        string   `json:"leader"`
	LeaderAddr    string   `json:"leader_addr"`
	Commit        uint64   `json:"commit"`
	Applied       uint64   `json:"applied"`
	LastIndex     uint64   `json:"last_index"`
	SnapshotIndex uint64   `json:"snapshot_index"`
	Members       []Member `json:"members"`
	// Followers is the leader's view of replication (leader only).
	Followers []FollowerStatus `json:"followers,omitempty"`
	// StorageError, when not empty, says why this node stopped: its disk
	// failed (which file, which operation) and it answers no request until
	// restarted (ErrStorage). The other fields are as they were then.
	StorageError string `json:"storage_error,omitempty"`
	// StorageStalled says that this node's storage write in progress has
	// taken longer than an election timeout: its disk is stalled. A
	// leader in that state stops sending heartbeats, so the others elect
	// a leader without it; it goes on by itself when the write returns.
	StorageStalled bool `json:"storage_stalled,omitempty"`
}

// FollowerStatus is the leader's view of one follower.
type FollowerStatus struct {
	ID      string `json:"id"`
	Match   uint64 `json:"match"`
	Next    uint64 `json:"next"`
	State   string `json:"state"`
	Learner bool   `json:"learner"`
	Active  bool   `json:"active"`
}

// Status returns this node's view of the cluster.
func (db *DB) Status() Status { return db.status() }

// status returns this node's view of the cluster.
func (r *replica) status() Status {
	st := r.node.Status()
	s := Status{
		ID: string(st.ID), Role: roleOf(st.Role), Term: st.Term, Leader: string(st.Leader),
		LeaderAddr: r.node.Addr(st.Leader), Commit: st.Commit, Applied: st.Applied,
		LastIndex: st.LastIndex, SnapshotIndex: st.SnapshotIndex,
	}
	if err := r.node.StorageFailure(); err != nil {
		s.StorageError = err.Error()
	}
	s.StorageStalled = r.node.StorageStalled()
	for _, id := range st.Membership.Members() {
		s.Members = append(s.Members, Member{ID: string(id), Addr: r.node.Addr(id), Voter: st.Membership.IsVoter(id)})
	}
	for _, f := range st.Followers {
		s.Followers = append(s.Followers, FollowerStatus{ID: string(f.ID), Match: f.Match, Next: f.Next,
			State: f.State.String(), Learner: f.Learner, Active: f.Active})
	}
	slices.SortFunc(s.Members, func(a, b Member) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return s
}

// WaitLeader blocks until this node knows a leader and returns its ID.
func (db *DB) WaitLeader(ctx context.Context) (string, error) {
	id, err := db.node.WaitLeader(ctx)
	return string(id), err
}
