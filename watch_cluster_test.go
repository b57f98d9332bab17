package yggr

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/yggrdb/yggr/internal/testutil"
)

// follower returns a node of c that is not the leader.
func (c *testCluster) follower(ctx context.Context) string {
	c.t.Helper()
	l := c.leader(ctx)
	for _, id := range c.ids {
		if id != l && c.dbs[id] != nil {
			return id
		}
	}
	c.t.Fatal("no follower")
	return ""
}

func asSeen(cs []Change) []seen {
	out := make([]seen, len(cs))
	for i, c := range cs {
		out[i] = seen{change: c}
	}
	return out
}

// A watch on a follower yields what the follower has applied: every
// change, in order, each no earlier than the follower applied it; and a
// watch on the follower from revision 1 replays its log.
func TestWatchOnFollower(t *testing.T) {
	ctx := testCtx(t)
	c := newQUICCluster(t, 3, WithWatchCache(1)) // a watch from the past reads the log
	l, f := c.leader(ctx), c.follower(ctx)
	leader, fdb := c.dbs[l], c.dbs[f]
	r := keyRange{[]byte("f/"), PrefixEnd([]byte("f/"))}
	live := startWatch(t, ctx, func(ctx context.Context) watchSeq {
		return fdb.Watch(ctx, r.start, r.end, FromRevision(1), WithPrevItem())
	})
	events := 0
	for i := range 20 {
		if err := leader.Put(ctx, fmt.Appendf(nil, "f/%d", i%5), fmt.Appendf(nil, "v%d", i)); err != nil {
			t.Fatal(err)
		}
		events++
	}
	if err := leader.Put(ctx, []byte("g/out"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := leader.Delete(ctx, fmt.Appendf(nil, "f/%d", i)); err != nil {
			t.Fatal(err)
		}
		events++
	}
	last, err := leader.Txn(ctx, Txn{Then: []Request{
		{Op: OpPut, Key: []byte("f/a"), Value: []byte("1")},
		{Op: OpPut, Key: []byte("g/b"), Value: []byte("out")},
		{Op: OpPut, Key: []byte("f/a"), Value: []byte("2")},
		{Op: OpDelete, Key: []byte("f/a")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	events += 3
	got := nextEvents(t, live, events)
	for _, ch := range got {
		if a := fdb.node.Applied(); a < ch.Revision {
			t.Fatalf("the follower yielded revision %d having applied only %d", ch.Revision, a)
		}
	}
	if err := fdb.node.WaitApplied(ctx, last.Index); err != nil {
		t.Fatal(err)
	}
	lt := newLogTruth()
	if err := lt.extend(fdb); err != nil {
		t.Fatal(err)
	}
	if pos := checkWatcher(t, "live watch on "+f, lt, r, 1, true, asSeen(got)); pos != last.Index {
		t.Fatalf("the live watch is complete through %d, want %d", pos, last.Index)
	}
	replayed := nextEvents(t, startWatch(t, ctx, func(ctx context.Context) watchSeq {
		return fdb.Watch(ctx, r.start, r.end, FromRevision(1), WithPrevItem())
	}), events)
	if pos := checkWatcher(t, "replaying watch on "+f, lt, r, 1, true, asSeen(replayed)); pos != last.Index {
		t.Fatalf("the replaying watch is complete through %d, want %d", pos, last.Index)
	}
}

// A watch resumed on a restarted node from the last revision seen + 1
// goes on with no gap and no repeat: from the log behind the snapshot the
// node restarted from, through the entries it replayed at start, to new
// ones.
func TestWatchResumesAfterNodeRestart(t *testing.T) {
	ctx := testCtx(t)
	c := newQUICCluster(t, 3)
	f := c.follower(ctx)
	r := keyRange{[]byte("r/"), PrefixEnd([]byte("r/"))}
	put := func(i int) uint64 {
		for range 100 {
			l := c.dbs[c.leader(ctx)]
			rev, err := l.PutIndex(ctx, fmt.Appendf(nil, "r/%d", i%3), fmt.Appendf(nil, "v%d", i))
			if err == nil {
				return rev
			}
		}
		t.Fatal("write failed 100 times")
		return 0
	}
	wctx, cancel := context.WithCancel(ctx)
	ch := startWatch(t, wctx, func(ctx context.Context) watchSeq {
		return c.dbs[f].Watch(ctx, r.start, r.end, FromRevision(1))
	})
	for i := range 10 {
		put(i)
	}
	first := nextEvents(t, ch, 7) // then the program stops
	cancel()
	last := first[len(first)-1].Revision
	// The node restarts from a snapshot above the last revision seen, with
	// log entries to replay above it.
	if _, err := c.dbs[f].Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 10; i < 15; i++ {
		put(i)
	}
	c.crash(f)
	for i := 15; i < 20; i++ {
		put(i)
	}
	c.restart(f)
	resumed := startWatch(t, ctx, func(ctx context.Context) watchSeq {
		return c.dbs[f].Watch(ctx, r.start, r.end, FromRevision(last+1))
	})
	var final uint64
	for i := 20; i < 25; i++ {
		final = put(i)
	}
	var rest []Change
	for len(rest) == 0 || rest[len(rest)-1].Revision < final {
		rest = append(rest, nextEvents(t, resumed, 1)...)
	}
	if err := c.dbs[f].node.WaitApplied(ctx, final); err != nil {
		t.Fatal(err)
	}
	lt := newLogTruth()
	if err := lt.extend(c.dbs[f]); err != nil {
		t.Fatal(err)
	}
	obs := asSeen(append(first[:len(first):len(first)], rest...))
	if pos := checkWatcher(t, "watch on "+f+" across its restart", lt, r, 1, false, obs); pos != final {
		t.Fatalf("complete through %d, want %d", pos, final)
	}
}

// Watches go on across leader changes: one on the leader that stays up
// through a leadership transfer, and ones that resume on another node when
// theirs, the leader, is killed.
func TestWatchAcrossLeaderChange(t *testing.T) {
	ctx := testCtx(t)
	c := newQUICCluster(t, 3)
	var mu sync.Mutex
	dbs := clusterDBs{c: c, mu: &mu}
	l := c.leader(ctx)
	r := keyRange{[]byte("a/"), PrefixEnd([]byte("a/"))}
	finalRev := newFinalRevision()
	ws := []*resilientWatcher{
		{name: "on the first leader", node: l, r: r, prev: true},
		{name: "on any node", r: r, disconnectAfter: 5},
		{name: "on any node, all keys", r: keyRange{}, progress: 20 * time.Millisecond},
	}
	errs := make(chan error, len(ws))
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for i, w := range ws {
		w.rng = rand.New(rand.NewPCG(uint64(i), 5))
		go func() { errs <- w.run(wctx, dbs, finalRev) }()
	}
	writers := startWatchWriters(ctx, dbs, 2, []string{"a/", "b/"})
	waitWrites(t, ctx, c, &mu, 20)
	// A transfer: the first leader stays up, now a follower.
	to := c.ids[(indexOf(c.ids, l)+1)%3]
	if err := c.dbs[l].TransferLeadership(ctx, to); err != nil {
		t.Fatalf("transfer %s -> %s: %v", l, to, err)
	}
	waitWrites(t, ctx, c, &mu, 20)
	// A crash of the leader, not the first one. An election on a loaded
	// machine may have handed the lead back to the first: transfer it away
	// again then, a bounded number of times.
	l2 := c.leader(ctx)
	for i := 1; l2 == l; i++ {
		if i > 3 {
			t.Fatalf("%s leads again after %d transfers", l, i)
		}
		t.Logf("%s leads again after transfer %d; again", l, i)
		if err := c.dbs[l].TransferLeadership(ctx, to); err != nil {
			t.Fatalf("transfer %s -> %s: %v", l, to, err)
		}
		l2 = c.leader(ctx)
	}
	mu.Lock()
	c.crash(l2)
	mu.Unlock()
	waitWrites(t, ctx, c, &mu, 20)
	mu.Lock()
	c.restart(l2)
	mu.Unlock()
	waitWrites(t, ctx, c, &mu, 20)
	writers.finish()
	finalRev.store(fence(t, ctx, dbs, []string{"a/fence", "b/fence"}))
	for range ws {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	lt := newLogTruth()
	if err := lt.extend(waitCaughtUp(t, c, finalRev.load())); err != nil {
		t.Fatal(err)
	}
	checkAcked(t, lt, writers.acked)
	for _, w := range ws {
		checkWatcher(t, w.name, lt, w.r, 1, w.prev, w.obs)
		t.Logf("%s: %d observations, %d sessions, %d ended by a closing node", w.name, len(w.obs), w.sessions, w.closedEnds)
	}
	t.Logf("%d writes acknowledged", writers.ops.Load())
}

// waitCaughtUp waits until some node has applied through rev and returns
// it.
func waitCaughtUp(t *testing.T, c *testCluster, rev uint64) *DB {
	t.Helper()
	var caughtUp *DB
	testutil.WaitFor(t, fmt.Sprintf("a node to apply %d", rev), func() bool {
		for _, id := range c.ids {
			if db := c.dbs[id]; db != nil && db.node.Applied() >= rev {
				caughtUp = db
				return true
			}
		}
		return false
	})
	return caughtUp
}
