package node

import (
	"context"
	"fmt"

	"github.com/yggrdb/yggr/engine"
)

// A leader may propose a membership change only once it has committed an
// entry of its own term (Raft thesis §4.1 and the 2015 raft-dev erratum to
// the single-server change algorithm): before that, a change an earlier
// leader appended may still commit, and two overlapping changes could
// elect two leaders. The engine refuses an early change with
// engine.ErrConfNotReady. A new leader commits its election no-op within a
// round trip, so the runtime does not pass that refusal to a caller who
// asked right after an election (removing a member just after the old
// leader died): the leader's change path waits for that first commit
// (waitTermCommit), bounded by the caller's ctx and by Close, and then
// proposes.

// termMark is the index of an entry the leader appended in its term: once
// the state machine has applied it, the leader has committed an entry of
// its term.
type termMark struct {
	term, index uint64
}

// noteTermStart records, for a leader whose log already ends with an
// entry of its term (its election no-op, appended when it won), that
// entry's index. Only the driver calls it, before it publishes s, so that
// a reader that sees s also sees the mark.
func (n *Node) noteTermStart(s *engine.Status) {
	if s.Role != engine.Leader || s.LastTerm != s.Term {
		return
	}
	if m := n.termStart.Load(); m != nil && m.term == s.Term {
		return
	}
	n.termStart.Store(&termMark{term: s.Term, index: s.LastIndex})
}

// waitTermCommit waits until this node, if it leads, has applied (so
// committed) an entry of its term. It returns nil at once on a node that
// does not lead: the engine then refuses the change with ErrNotLeader,
// which toLeader follows to the leader. A leadership change during the
// wait starts it over; ctx ending fails it with ErrTimeout, and Close with
// ErrClosed.
func (n *Node) waitTermCommit(ctx context.Context) error {
	for {
		changed := n.leaderChanged()
		st := n.status.Load()
		m := n.termStart.Load()
		if st.Role != engine.Leader || m == nil || m.term != st.Term {
			// Not leading, or no mark for this term yet (the engine,
			// which knows, refuses the change if it came too early).
			return nil
		}
		applied, cancel := n.w.appliedCh(m.index)
		select {
		case <-applied:
			cancel()
			return nil
		default:
		}
		select {
		case <-applied:
			cancel()
			return nil
		case <-changed:
			cancel()
		case <-ctx.Done():
			cancel()
			return fmt.Errorf("%w: the leader has not committed an entry of its term %d yet: %w", ErrTimeout, m.term, ctx.Err())
		case <-n.stop:
			cancel()
			return ErrClosed
		}
	}
}
