package yggr

import (
	"context"
	"github.com/yggrdb/yggr/internal/testutil"
	"testing"
	"time"
)

// Every member reports itself through any node; a closed member shows as
// unreachable without holding the others back.
func TestClusterStatus(t *testing.T) {
	ctx := testCtx(t)
	c := newQUICCluster(t, 3)
	leader := c.leader(ctx)
	if err := c.dbs[leader].Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	// The put is acknowledged once a majority has it: wait for the third
	// member too, so that every member's commit index is set.
	want := c.dbs[leader].Status().Commit
	testutil.WaitFor(t, "every member to learn the commit of the put", func() bool {
		for _, db := range c.dbs {
			if db.Status().Commit < want {
				return false
			}
		}
		return true
	})
	var via string
	for _, id := range c.ids {
		if id != leader {
			via = id
			break
		}
	}
	// Whether every member answers in time, and which leader each names,
	// depend on timing under load (a slow answer, an election): ask
	// again, until WaitFor's deadline, until every member answers and
	// each names the leader that all nodes agreed on both before and after
	// the call. The rest of each member's report is checked once it has.
	var ms []MemberStatus
	testutil.WaitFor(t, "every member to answer, naming the one leader", func() bool {
		before := c.leader(ctx)
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ms = c.dbs[via].ClusterStatus(sctx)
		cancel()
		if leader = c.leader(ctx); leader != before {
			return false
		}
		for _, m := range ms {
			if !m.Reachable || m.Leader != leader || (m.Role == "leader") != (m.ID == leader) {
				t.Logf("member %+v: not yet reachable and naming leader %s; again", m, leader)
				return false
			}
		}
		return true
	})
	if len(ms) != 3 {
		t.Fatalf("ClusterStatus via %s: %d members, want 3: %+v", via, len(ms), ms)
	}
	for _, m := range ms {
		if !m.Reachable || m.Leader != leader || m.Term == 0 || m.Commit == 0 || !m.Voter || m.Self != (m.ID == via) {
			t.Errorf("member %+v: want reachable, leader %s, term and commit set, voter, self=%v", m, leader, m.ID == via)
		}
		if (m.Role == "leader") != (m.ID == leader) {
			t.Errorf("member %s has role %s; the leader is %s", m.ID, m.Role, leader)
		}
	}

	// Close one follower (other than via): it is reported unreachable once
	// the call's context ends, the others still answer.
	var down string
	for _, id := range c.ids {
		if id != leader && id != via {
			down = id
		}
	}
	c.dbs[down].Close()
	delete(c.dbs, down)
	c.nets[down].Close()
	// The closed member is unreachable, with an error, in every answer; a
	// live member that misses the 500 ms under load is asked again.
	testutil.WaitFor(t, "every live member to answer", func() bool {
		sctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		ms = c.dbs[via].ClusterStatus(sctx)
		cancel()
		if len(ms) != 3 {
			t.Fatalf("after closing %s: %d members, want 3: %+v", down, len(ms), ms)
		}
		live := true
		for _, m := range ms {
			if m.ID == down {
				if m.Reachable || m.Error == "" {
					t.Fatalf("after closing %s: member %s reachable=%v error=%q; want unreachable with an error", down, m.ID, m.Reachable, m.Error)
				}
			} else if !m.Reachable {
				t.Logf("after closing %s: live member %s did not answer within 500 ms (%s); again", down, m.ID, m.Error)
				live = false
			}
		}
		return live
	})
}

// A single node reports itself, with no lag.
func TestClusterStatusSingleNode(t *testing.T) {
	ctx := testCtx(t)
	db, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	ms := db.ClusterStatus(ctx)
	if len(ms) != 1 || !ms[0].Self || !ms[0].Reachable || ms[0].Role != "leader" || ms[0].Lag != 0 {
		t.Fatalf("single node ClusterStatus = %+v; want itself, reachable leader, lag 0", ms)
	}
}
