package node

import (
	"context"
	"fmt"

	"github.com/yggrdb/yggr/engine"
)

// Leader calls: requests the application serves on the leader only, outside
// the log (for example lease keepalives, which must not cost a log entry
// each). A follower forwards them to the leader like a proposal (kind
// callLeader); the leader answers with Config.LeaderCall. The request and
// answer bytes are the application's: it versions and decodes them.

// ProposeLocal is Propose without forwarding: on a node that does not
// lead it fails with ErrNotLeader (a *NotLeaderError). The leader's own
// decisions (such as expiring a lease) use it, so that a deposed leader
// never hands them to its successor.
func (n *Node) ProposeLocal(ctx context.Context, cmd []byte) ([]byte, uint64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	return n.proposeLocal(ctx, cmd)
}

// CallLeader serves req with Config.LeaderCall on the leader: here if this
// node leads, else forwarded to the leader. With no leader known, or a
// leader that changed under the call, it waits for the next leader and
// tries again until ctx ends, so the handler must be idempotent (it may
// run more than once for one call).
func (n *Node) CallLeader(ctx context.Context, req []byte) ([]byte, error) {
	if n.cfg.LeaderCall == nil {
		return nil, fmt.Errorf("yggr: no leader call handler")
	}
	data, _, err := n.toLeader(ctx, leaderRequest{
		local: func() ([]byte, uint64, error) {
			data, err := n.cfg.LeaderCall(ctx, req)
			return data, 0, err
		},
		call:       func() []byte { return appendRequest(callLeader, req...) },
		idempotent: true,
	})
	return data, err
}

// handleLeaderCall serves a forwarded leader call.
func (n *Node) handleLeaderCall(ctx context.Context, req []byte) []byte {
	if n.cfg.LeaderCall == nil {
		return encodeResponse(0, nil, fmt.Errorf("yggr: no leader call handler"))
	}
	if st := n.status.Load(); st.Role != engine.Leader {
		return encodeResponse(0, nil, &NotLeaderError{Leader: st.Leader, Addr: n.addrs.get(st.Leader)})
	}
	data, err := n.cfg.LeaderCall(ctx, req)
	return encodeResponse(0, data, err)
}
