package yggr

import (
	"context"
	"testing"
	"time"
)

// preVotes returns the pre-votes each running node has started: an
// election after a leader is lost goes through one (pre-vote is on by
// default), a leadership transfer does not (Raft thesis §3.10).
func (c *testCluster) preVotes() map[string]uint64 {
	n := map[string]uint64{}
	for id, db := range c.dbs {
		n[id] = db.Metrics().PreVotesStarted
	}
	return n
}

// shutdownTiming gives these tests a 500 ms election timeout (the test
// cluster's is 200 ms): a hand-off asks the members how far their logs
// reach within one election timeout, and a loaded machine must not make a
// running member look unreachable.
var shutdownTiming = WithTiming(50*time.Millisecond, 10)

// A leader's Shutdown hands its leadership to another voter before it
// closes: the others have a new leader without an election of their own.
func TestShutdownHandsOffLeadership(t *testing.T) {
	ctx := testCtx(t)
	c := newQUICCluster(t, 3, shutdownTiming)
	l := c.leader(ctx)
	if err := c.dbs[l].Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	old := c.dbs[l]
	term := old.Status().Term
	delete(c.dbs, l)
	before := c.preVotes()
	if err := old.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	nl := c.leader(ctx)
	if nl == l {
		t.Fatalf("the closed node %s is still the leader", l)
	}
	// The new leader's own count: a follower that missed a heartbeat on a
	// loaded machine may pre-vote and lose, which says nothing here.
	if got := c.preVotes()[nl]; got != before[nl] {
		t.Errorf("the new leader %s started %d pre-votes after the old one's Shutdown: it was elected after losing the leader, not handed the leadership", nl, got-before[nl])
	}
	if st := c.dbs[nl].Status(); st.Term != term+1 {
		t.Errorf("new leader %s in term %d, want %d (one transfer)", nl, st.Term, term+1)
	}
	if v, err := c.dbs[nl].Get(ctx, []byte("k")); err != nil || string(v) != "v" {
		t.Errorf("after the hand-off: get k = %q, %v", v, err)
	}
}

// A follower's Shutdown just closes it: the leader stays.
func TestShutdownOfAFollowerKeepsTheLeader(t *testing.T) {
	ctx := testCtx(t)
	c := newQUICCluster(t, 3, shutdownTiming)
	l := c.leader(ctx)
	term := c.dbs[l].Status().Term
	f := c.follower(ctx)
	db := c.dbs[f]
	delete(c.dbs, f)
	if to, err := db.HandOff(ctx); to != "" || err != nil {
		t.Fatalf("a follower's HandOff = %q, %v; want nothing done", to, err)
	}
	if err := db.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if st := c.dbs[l].Status(); st.Role != RoleLeader || st.Term != term {
		t.Errorf("after a follower's Shutdown the leader is %s in term %d, want leader in term %d", st.Role, st.Term, term)
	}
}

// A single node has no one to hand off to: Shutdown closes it.
func TestShutdownSingleNode(t *testing.T) {
	db, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	if err := db.Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if to, err := db.HandOff(ctx); to != "" || err != nil {
		t.Fatalf("single node HandOff = %q, %v; want nothing done", to, err)
	}
	if err := db.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := db.Get(ctx, []byte("k")); err == nil {
		t.Fatal("Get after Shutdown succeeded")
	}
}

// TransferLeadership with no id goes to a voter that answers, not to one
// that stopped a moment ago (which the leader still counts as active and
// up to date): whichever follower stops, the other one becomes leader.
func TestTransferWithoutTargetSkipsAStoppedVoter(t *testing.T) {
	for _, stop := range []int{0, 1} {
		t.Run([]string{"first follower stopped", "second follower stopped"}[stop], func(t *testing.T) {
			ctx := testCtx(t)
			c := newQUICCluster(t, 3, shutdownTiming)
			l := c.leader(ctx)
			if err := c.dbs[l].Put(ctx, []byte("k"), []byte("v")); err != nil {
				t.Fatal(err)
			}
			var fs []string
			for _, id := range c.ids {
				if id != l {
					fs = append(fs, id)
				}
			}
			// Both followers hold the write before one stops.
			for _, f := range fs {
				if _, err := c.dbs[f].Get(ctx, []byte("k")); err != nil {
					t.Fatal(err)
				}
			}
			c.crash(fs[stop])
			if err := c.dbs[l].TransferLeadership(ctx, ""); err != nil {
				t.Fatalf("transfer with %s stopped: %v", fs[stop], err)
			}
			if got, want := c.dbs[l].Status().Leader, fs[1-stop]; got != want {
				t.Errorf("leadership went to %q, want %q (the follower still running)", got, want)
			}
		})
	}
}
