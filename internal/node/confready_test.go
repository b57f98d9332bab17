package node

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/yggrdb/yggr/engine"
	"github.com/yggrdb/yggr/internal/testutil"
)

// notCommittedInTerm reports whether st is a leader whose log ends with
// its term's first entries, none of them committed yet (every entry of
// its term is above the commit index): the engine would refuse a
// membership change with ErrConfNotReady.
func notCommittedInTerm(st *engine.Status) bool {
	return st.Role == engine.Leader && st.LastTerm == st.Term && st.Commit < st.LastIndex
}

// confReadyAttempts bounds how many clusters the tests below build to
// catch a new leader before its first commit: on a loaded machine the test
// goroutine may stall past the window (a round trip of the delayed
// network), and the attempt then checks nothing.
const confReadyAttempts = 3

// The leader dies, and removing it reaches the new leader before that one
// has committed an entry of its term (its election no-op takes a 200ms
// round trip here). The engine refuses such a change (ErrConfNotReady);
// the runtime waits for the first commit, so the removal succeeds instead
// of failing with "membership change refused" (issue 18).
func TestChangeWaitsForLeadersFirstCommit(t *testing.T) {
	for a := 1; a <= confReadyAttempts; a++ {
		if changeWaitsForLeadersFirstCommit(t) {
			return
		}
	}
	t.Fatalf("in each of %d attempts the new leader committed in its term before the change was asked: the test checks nothing", confReadyAttempts)
}

// changeWaitsForLeadersFirstCommit runs TestChangeWaitsForLeadersFirstCommit
// on a new cluster; false says it missed the window and checked nothing.
func changeWaitsForLeadersFirstCommit(t *testing.T) bool {
	c := newChaosCluster(t, 3, 5*time.Millisecond, engine.Config{ElectionTicks: 100})
	defer c.close()
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitTimeout)
	defer cancel()
	var old *Node
	testutil.WaitFor(t, "a leader", func() (ok bool) { old, ok = c.leader(); return ok })
	if _, _, err := old.Propose(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	oldTerm := old.status.Load().Term

	c.net.SetDelay(100*time.Millisecond, 100*time.Millisecond)
	c.net.Crash(old.ID())
	old.Close()
	var lead *Node
	testutil.WaitFor(t, "a new leader", func() (ok bool) {
		lead, ok = c.leader()
		return ok && lead.status.Load().Term > oldTerm
	})
	st := lead.status.Load()
	if !notCommittedInTerm(st) {
		t.Logf("the new leader committed in its term before the change was asked (%v): on a new cluster", st)
		return false
	}
	index, err := lead.ChangeMembership(ctx, engine.ConfChange{Op: engine.ConfRemove, Node: old.ID()})
	if err != nil {
		t.Fatalf("removing the dead leader right after the election: %v, want success", err)
	}
	if index <= st.LastIndex {
		t.Errorf("the removal's index is %d, want one above the new leader's first entry %d", index, st.LastIndex)
	}
	if m := lead.Status().Membership; m.Contains(old.ID()) {
		t.Errorf("membership after the removal: %v, still holds %s", m, old.ID())
	}
	return true
}

// A leader cut off from the others right after its election can never
// commit an entry of its term: a membership change asked of it waits
// until ctx ends and fails with ErrTimeout (not "refused"), without the
// engine ever seeing it, and leaves no goroutine or applied-index waiter
// behind. Close ends such a wait with ErrClosed.
func TestChangeWaitIsBoundedByCtx(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	for a := 1; a <= confReadyAttempts; a++ {
		if changeWaitIsBoundedByCtx(t) {
			return
		}
	}
	t.Fatalf("in each of %d attempts the leader committed in its term before it was cut off, or it stepped down during the wait: the test checks nothing", confReadyAttempts)
}

// changeWaitIsBoundedByCtx runs TestChangeWaitIsBoundedByCtx on a new
// cluster; false says it missed the window and checked nothing.
func changeWaitIsBoundedByCtx(t *testing.T) bool {
	c := newChaosCluster(t, 3, 5*time.Millisecond, engine.Config{ElectionTicks: 100})
	defer c.close() // before the leak check
	c.net.SetDelay(50*time.Millisecond, 50*time.Millisecond)
	var lead *Node
	testutil.WaitFor(t, "a leader", func() (ok bool) { lead, ok = c.leader(); return ok })
	c.net.Partition([]engine.NodeID{lead.ID()})
	st := lead.status.Load()
	if !notCommittedInTerm(st) {
		t.Logf("the leader committed in its term before it was cut off (%v): on a new cluster", st)
		return false
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	cc := engine.ConfChange{Op: engine.ConfAddLearner, Node: "n9", Addr: "127.0.0.1:7009"}
	_, err := lead.ChangeMembership(ctx, cc)
	after := lead.Status()
	if after.Term != st.Term || after.Role != engine.Leader {
		// It stepped down (check-quorum: an election timeout passed since
		// the cut, on a stalled machine): the change took another path.
		t.Logf("the leader is %v in term %d after the wait, from term %d (the change: %v): on a new cluster", after.Role, after.Term, st.Term, err)
		return false
	}
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrMembership) {
		t.Fatalf("change on a leader that cannot commit: %v; want ErrTimeout wrapping the deadline, not a refusal", err)
	}
	if got, was := after.Counters.ProposalsRejected, st.Counters.ProposalsRejected; got != was {
		t.Errorf("the engine refused %d proposals during the wait, want none (the change waits before it is proposed)", got-was)
	}
	lead.w.mu.Lock()
	watchers := len(lead.w.watchers)
	lead.w.mu.Unlock()
	if watchers != 0 {
		t.Errorf("%d applied-index watchers left after the wait ended, want 0", watchers)
	}

	done := make(chan error, 1)
	// Owned by the test: ends when the change returns (Close ends it).
	go func() {
		_, err := lead.ChangeMembership(context.Background(), cc)
		done <- err
	}()
	lead.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("change on a closed leader: %v, want ErrClosed", err)
		}
	case <-time.After(testutil.WaitTimeout):
		t.Fatal("Close did not end a change waiting for the leader's first commit")
	}
	return true
}
