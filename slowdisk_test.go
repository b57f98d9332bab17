package yggr

import (
	"context"
	"fmt"
	"github.com/yggrdb/yggr/internal/testutil"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yggrdb/yggr/internal/diskfault"
)

// stallFor is how long the slow-disk tests keep a disk stalled: ten
// election timeouts of the test clusters (20ms ticks, 10 ticks).
const stallFor = 10 * 10 * 20 * time.Millisecond

// stallDisk blocks every write-ahead log sync under dir once armed, until
// release is called (at the latest when the test ends, before the cluster
// closes: a node blocked in a sync cannot close).
type stallDisk struct {
	armed   atomic.Bool
	stalled atomic.Int64 // syncs blocked so far
	release func()
}

func stallSyncs(t *testing.T, dir string) *stallDisk {
	s := &stallDisk{}
	gate := make(chan struct{})
	var once sync.Once
	s.release = func() { once.Do(func() { close(gate) }) }
	prefix := dir + string(filepath.Separator)
	restore := diskfault.Set(func(op diskfault.Op, path string) error {
		if op == diskfault.WALSync && s.armed.Load() && strings.HasPrefix(path, prefix) {
			s.stalled.Add(1)
			<-gate
		}
		return nil
	})
	t.Cleanup(func() {
		s.release()
		restore()
	})
	return s
}

// A leader whose disk stalls for many election timeouts does not hold the
// cluster hostage: it stops sending heartbeats once its write is older
// than an election timeout (driver.go, mayGoEarly), the others elect a
// leader among themselves and commit without it; once its disk comes back
// it rejoins as a follower and has every write.
func TestStalledLeaderDiskDoesNotStopTheCluster(t *testing.T) {
	ctx := testCtx(t)
	c := newQUICCluster(t, 3)
	leader := c.leader(ctx)
	stall := stallSyncs(t, c.dirs[leader])
	var via string
	for _, id := range c.ids {
		if id != leader {
			via = id
		}
	}
	stall.armed.Store(true)
	// The first write through the leader stalls in its sync: it may or may
	// not commit (the followers have it), so it is not counted.
	go c.dbs[leader].Put(ctx, []byte("stalled"), []byte("x"))
	testutil.WaitFor(t, "the leader's disk to stall", func() bool { return stall.stalled.Load() > 0 })
	stalledAt := time.Now()

	// The cluster timing is 20ms ticks, 10 ticks per election timeout:
	// write through the others for ten election timeouts at least.
	acked := map[string]uint64{}
	for i := 0; len(acked) < 200 || time.Since(stalledAt) < stallFor; i++ {
		if i >= 100_000 {
			t.Fatalf("only %d writes committed while %s's disk stalled", len(acked), leader)
		}
		k := fmt.Sprintf("k%04d", i)
		idx, err := c.dbs[via].PutIndex(ctx, []byte(k), []byte("v"+k))
		if err == nil {
			acked[k] = idx
		} else if ctx.Err() != nil {
			t.Fatalf("no progress while %s's disk stalled: %v (%d writes)", leader, err, len(acked))
		}
	}
	// Between elections (one may follow another on a loaded machine) via
	// may know no leader for a moment: wait for one, then it must be new
	// (the stalled node cannot win: it cannot make its vote durable).
	var n string
	testutil.WaitFor(t, via+" to know a leader", func() bool {
		n = c.dbs[via].Status().Leader
		return n != ""
	})
	if n == leader {
		t.Fatalf("the others committed under leader %q, want a new leader", n)
	}
	if got := c.dbs[leader].Status().StorageError; got != "" {
		t.Fatalf("a stalled disk stopped the node: %s", got)
	}
	if !c.dbs[leader].Status().StorageStalled {
		t.Errorf("%s's Status does not say its disk stalled, %v after the stall", leader, time.Since(stalledAt))
	}
	if c.dbs[via].Status().StorageStalled {
		t.Errorf("%s's Status says its disk stalled", via)
	}

	stall.release()
	testutil.WaitFor(t, "the stalled node to report its disk back", func() bool { return !c.dbs[leader].Status().StorageStalled })
	var last uint64
	for _, idx := range acked {
		last = max(last, idx)
	}
	for _, id := range c.ids {
		items, _, err := c.dbs[id].List(ctx, []byte("k"), []byte("l"), 0, WithConsistency(Stale), AtLeast(last))
		if err != nil {
			t.Fatalf("%s after the stall: %v", id, err)
		}
		if len(items) < len(acked) {
			t.Errorf("%s has %d of the %d writes acknowledged during the stall", id, len(items), len(acked))
		}
	}
	if l := c.leader(ctx); l == "" {
		t.Fatal("no leader after the stall")
	}
}

// A follower whose disk stalls does not hold up the leader: the leader
// commits with the other follower (a quorum of two), keeps its leadership,
// and the stalled follower catches up once its disk comes back.
//
// An election during the writes fails an attempt. On a loaded machine the
// leader's own sync or goroutine stalling past an election timeout also
// causes one, which says nothing about the stalled follower: the test then
// starts over on a new cluster, a bounded number of times, and fails if
// every attempt saw an election.
func TestStalledFollowerDiskDoesNotSlowCommits(t *testing.T) {
	ctx := testCtx(t)
	const attempts = 3
	for a := 1; a <= attempts; a++ {
		if stalledFollowerAttempt(t, ctx, a == attempts) {
			return
		}
	}
}

// stalledFollowerAttempt runs TestStalledFollowerDiskDoesNotSlowCommits
// once. It reports false, after closing its cluster, if an election began
// during the writes, unless last, when that fails the test as any other
// failure does.
func stalledFollowerAttempt(t *testing.T, ctx context.Context, last bool) bool {
	c := newQUICCluster(t, 3)
	leader := c.leader(ctx)
	follower := c.ids[(indexOf(c.ids, leader)+1)%3]
	stall := stallSyncs(t, c.dirs[follower])
	db := c.dbs[leader]
	term := db.Status().Term
	stall.armed.Store(true)
	// elected reports whether a term after the writes' began anywhere, or
	// leadership moved; if so and this is not the last attempt, it ends
	// the attempt.
	elected := func(what string) bool {
		moved := db.Status().Leader != leader
		for _, d := range c.dbs {
			moved = moved || d.Status().Term != term
		}
		if !moved || last {
			return false
		}
		t.Logf("an election began during the writes (%s); on a new cluster", what)
		stall.armed.Store(false)
		stall.release()
		c.close()
		return true
	}
	var lastIdx uint64
	start, n := time.Now(), 0
	for ; n < 300 || time.Since(start) < stallFor; n++ {
		if n >= 100_000 {
			t.Fatalf("%d writes in %v", n, time.Since(start))
		}
		idx, err := db.PutIndex(ctx, fmt.Appendf(nil, "k%04d", n), []byte("v"))
		if err != nil {
			if elected(fmt.Sprintf("write %d: %v", n, err)) {
				return false
			}
			t.Fatalf("write %d while %s's disk stalled: %v", n, follower, err)
		}
		lastIdx = idx
	}
	if stall.stalled.Load() == 0 {
		t.Fatalf("%s's disk never stalled: the test did not test it", follower)
	}
	if elected("after the writes") {
		return false
	}
	if got := db.Status().Leader; got != leader {
		t.Errorf("leadership moved from %s to %q while a follower's disk stalled", leader, got)
	}
	// Still stalled: its applied index is behind everything written.
	if got := c.dbs[follower].Status().Applied; got >= lastIdx {
		t.Fatalf("%s applied %d of %d with its disk stalled", follower, got, lastIdx)
	}
	stall.release()
	items, _, err := c.dbs[follower].List(ctx, []byte("k"), []byte("l"), 0, WithConsistency(Stale), AtLeast(lastIdx))
	if err != nil || len(items) != n {
		t.Fatalf("%s after its disk came back: %d keys, %v; want %d", follower, len(items), err, n)
	}
	return true
}
