package node

import (
	"context"
	"errors"
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
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	var lastErr error = ErrNoLeader
	for attempt := 0; attempt < maxAttempts; attempt++ {
		changed := n.leaderChanged()
		st := n.status.Load()
		var (
			data []byte
			err  error
		)
		switch {
		case st.Role == engine.Leader || n.net == nil:
			data, err = n.cfg.LeaderCall(ctx, req)
		case st.Leader != "":
			data, _, err = n.forward(ctx, st.Leader, appendRequest(callLeader, req...))
		default:
			err = ErrNoLeader
		}
		if err == nil || !(retryable(err) || errorsIsUnknown(err)) {
			return data, err
		}
		lastErr = err
		if err := n.waitChange(ctx, changed); err != nil {
			return nil, fmt.Errorf("%w (last: %v)", err, lastErr)
		}
	}
	return nil, lastErr
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

// errorsIsUnknown reports a call whose leader changed under it: a leader
// call is idempotent, so it is tried again.
func errorsIsUnknown(err error) bool { return errors.Is(err, ErrUnknownOutcome) }
