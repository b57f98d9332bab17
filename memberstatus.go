package yggr

import (
	"context"
	"sync"

	"github.com/yggrdb/yggr/engine"
)

// MemberStatus is one member's own view of its state, as ClusterStatus
// gathered it.
type MemberStatus struct {
	Member
	// Self marks the node that gathered the statuses.
	Self bool `json:"self"`
	// Reachable says the member answered; if not, Error says why and the
	// fields below are zero.
	Reachable bool   `json:"reachable"`
	Error     string `json:"error,omitempty"`
	Role      string `json:"role,omitempty"`
	Leader    string `json:"leader,omitempty"`
	Term      uint64 `json:"term"`
	Commit    uint64 `json:"commit"`
	Applied   uint64 `json:"applied"`
	LastIndex uint64 `json:"last_index"`
	// Lag is how many entries the member's applied index trails the
	// leader's commit index (the highest commit index any reachable member
	// reported, if no leader answered).
	Lag uint64 `json:"lag"`
}

// ClusterStatus asks every member for its own status over the peer
// connections, all at once, and returns them sorted by ID. A member that
// does not answer before ctx ends (down, partitioned away, or on a release
// without the status call) is returned with Reachable false: bound ctx by
// how long a member may take (a second, say). This node answers for
// itself without a call.
func (db *DB) ClusterStatus(ctx context.Context) []MemberStatus {
	members := db.Status().Members
	out := make([]MemberStatus, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		out[i].Member = m
		out[i].Self = m.ID == db.ID()
		wg.Add(1)
		// Owned by this call, which waits for it; it ends when the member
		// answers or ctx ends.
		go func() {
			defer wg.Done()
			ps, err := db.node.PeerStatus(ctx, engine.NodeID(m.ID))
			if err != nil {
				out[i].Error = err.Error()
				return
			}
			out[i].Reachable = true
			out[i].Role, out[i].Leader = ps.Role.String(), string(ps.Leader)
			out[i].Term, out[i].Commit, out[i].Applied, out[i].LastIndex = ps.Term, ps.Commit, ps.Applied, ps.LastIndex
		}()
	}
	wg.Wait()
	var leaderCommit, maxCommit uint64
	var leaderTerm uint64
	for _, s := range out {
		if !s.Reachable {
			continue
		}
		maxCommit = max(maxCommit, s.Commit)
		if s.Role == engine.Leader.String() && s.Term >= leaderTerm {
			leaderTerm, leaderCommit = s.Term, s.Commit
		}
	}
	if leaderTerm == 0 {
		leaderCommit = maxCommit
	}
	for i := range out {
		if out[i].Reachable && leaderCommit > out[i].Applied {
			out[i].Lag = leaderCommit - out[i].Applied
		}
	}
	return out
}
