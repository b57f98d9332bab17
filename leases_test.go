package yggr

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/yggrdb/yggr/internal/kv"

	"github.com/yggrdb/yggr/internal/testutil"
)

func TestLeaseGrantAttachRevoke(t *testing.T) {
	ctx := testCtx(t)
	db := openSingle(t, WithTiming(10*time.Millisecond, 10))
	p := []byte("svc/")
	ch := startWatch(t, ctx, func(ctx context.Context) watchSeq { return db.Watch(ctx, p, PrefixEnd(p)) })
	id, err := db.Grant(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Put(ctx, []byte("svc/b"), []byte("1"), WithLease(id)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Txn(ctx, Txn{Then: []Request{{Op: OpPut, Key: []byte("svc/a"), Value: []byte("2"), Lease: uint64(id)}}}); err != nil {
		t.Fatal(err)
	}
	if err := db.Put(ctx, []byte("svc/plain"), []byte("3")); err != nil {
		t.Fatal(err)
	}
	info, err := db.TimeToLive(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if info.TTL != time.Hour || info.Remaining <= 0 || info.Remaining > time.Hour || fmt.Sprintf("%s", info.Keys) != "[svc/a svc/b]" {
		t.Fatalf("TimeToLive = TTL %v remaining %v keys %s; want 1h, (0,1h], [svc/a svc/b]", info.TTL, info.Remaining, info.Keys)
	}
	ls, err := db.Leases(ctx)
	if err != nil || len(ls) != 1 || ls[0].ID != id || ls[0].TTL != time.Hour {
		t.Fatalf("Leases = %+v, %v", ls, err)
	}
	if ttl, err := db.KeepAlive(ctx, id); err != nil || ttl != time.Hour {
		t.Fatalf("KeepAlive = %v, %v", ttl, err)
	}
	nextEvents(t, ch, 3) // the three puts
	if err := db.Revoke(ctx, id); err != nil {
		t.Fatal(err)
	}
	got := nextEvents(t, ch, 2)
	if len(got) != 1 || describe(got) != fmt.Sprintf("%d:delete svc/a,delete svc/b\n", got[0].Revision) {
		t.Fatalf("the revoke's changes:\n%swant both deletes at one revision", describe(got))
	}
	if _, err := db.Get(ctx, []byte("svc/plain")); err != nil {
		t.Fatalf("a key without a lease: %v", err)
	}
	// Everything about a revoked lease is ErrLeaseNotFound.
	for name, err := range map[string]error{
		"keepalive": func() error { _, err := db.KeepAlive(ctx, id); return err }(),
		"ttl":       func() error { _, err := db.TimeToLive(ctx, id); return err }(),
		"revoke":    db.Revoke(ctx, id),
		"put":       db.Put(ctx, []byte("svc/c"), []byte("x"), WithLease(id)),
		"txn": func() error {
			_, err := db.Txn(ctx, Txn{Then: []Request{{Op: OpPut, Key: []byte("svc/c"), Lease: uint64(id)}}})
			return err
		}(),
		"unknown id": func() error { _, err := db.KeepAlive(ctx, id+1000); return err }(),
		"id 0":       func() error { _, err := db.KeepAlive(ctx, 0); return err }(),
	} {
		if !errors.Is(err, ErrLeaseNotFound) {
			t.Errorf("%s on a revoked lease: %v, want ErrLeaseNotFound", name, err)
		}
	}
	if _, err := db.Get(ctx, []byte("svc/c")); !errors.Is(err, ErrNotFound) {
		t.Errorf("a refused put wrote svc/c: %v", err)
	}
	for _, ttl := range []time.Duration{0, -time.Second, time.Microsecond, MaxLeaseTTL + time.Millisecond} {
		if _, err := db.Grant(ctx, ttl); !errors.Is(err, ErrLeaseTTL) || !errors.Is(err, ErrInvalid) {
			t.Errorf("Grant(%v) = %v, want ErrLeaseTTL and ErrInvalid", ttl, err)
		}
	}
	if _, err := db.Txn(ctx, Txn{Then: []Request{{Op: OpDelete, Key: []byte("k"), Lease: 5}}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("a delete with a lease: %v, want ErrInvalid", err)
	}
}

// TestLeaseExpiry: a lease kept alive within its TTL survives many TTLs;
// once abandoned it is revoked, never before its TTL has passed since the
// last keepalive, and its key is gone.
//
// Grant's guarantee holds while keepalives succeed within a TTL of each
// other, measured from when each was sent. A lease found gone within a
// TTL of the sending of its last successful keepalive (or of its grant)
// fails the test. One found gone later than that says only that this
// goroutine stalled past the TTL (a loaded machine): the attempt starts
// over with a new lease, a bounded number of times.
func TestLeaseExpiry(t *testing.T) {
	ctx := testCtx(t)
	db := openSingle(t, WithTiming(10*time.Millisecond, 10))
	const ttl = 300 * time.Millisecond
	// keep grants a lease, attaches a key, keeps the lease alive every
	// TTL/3 for 4 TTLs, and returns it and when its last successful
	// keepalive was sent; stalled says the attempt proves nothing.
	keep := func() (id LeaseID, last time.Time, stalled bool) {
		last = time.Now() // the grant's TTL counts from later
		id, err := db.Grant(ctx, ttl)
		if err != nil {
			t.Fatal(err)
		}
		// gone reports whether err says that the lease is gone after a
		// stall; any other error fails the test.
		gone := func(what string, err error) bool {
			if err == nil {
				return false
			}
			since := time.Since(last)
			if (errors.Is(err, ErrLeaseNotFound) || errors.Is(err, ErrNotFound)) && since >= ttl {
				t.Logf("%s: %v, %v after the last successful keepalive was sent, over the TTL %v: the test stalled; again", what, err, since, ttl)
				return true
			}
			t.Fatalf("%s: %v, %v after the last successful keepalive was sent (the lease expired while kept alive within its TTL %v)", what, err, since, ttl)
			return false
		}
		if gone("put", db.Put(ctx, []byte("eph"), []byte("x"), WithLease(id))) {
			return id, last, true
		}
		tick := time.NewTicker(ttl / 3)
		defer tick.Stop()
		for i := range 12 { // 4 TTLs
			sent := time.Now()
			if _, err := db.KeepAlive(ctx, id); gone(fmt.Sprintf("keepalive %d", i), err) {
				return id, last, true
			}
			last = sent
			if _, err := db.Get(ctx, []byte("eph")); gone(fmt.Sprintf("get after keepalive %d", i), err) {
				return id, last, true
			}
			<-tick.C
		}
		return id, last, false
	}
	const attempts = 5
	var (
		id      LeaseID
		last    time.Time
		stalled bool
	)
	for range attempts {
		if id, last, stalled = keep(); !stalled {
			break
		}
	}
	if stalled {
		t.Fatalf("every one of %d attempts stalled past the TTL %v between keepalives", attempts, ttl)
	}
	testutil.WaitFor(t, "the abandoned lease's key to go", func() bool {
		_, err := db.Get(ctx, []byte("eph"), WithConsistency(Stale))
		return errors.Is(err, ErrNotFound)
	})
	gone := time.Since(last)
	if gone < ttl {
		t.Fatalf("revoked %v after the last keepalive, under its TTL %v", gone, ttl)
	}
	if _, err := db.KeepAlive(ctx, id); !errors.Is(err, ErrLeaseNotFound) {
		t.Fatalf("keepalive after expiry: %v, want ErrLeaseNotFound", err)
	}
	t.Logf("revoked %v after the last keepalive (TTL %v)", gone, ttl)
}

// TestLeaseSurvivesRestart: leases are in snapshots and the log; a
// restarted leader gives them a full TTL from its start.
func TestLeaseSurvivesRestart(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	opts := []Option{WithTiming(10*time.Millisecond, 10), WithSnapshotEntries(3)}
	db, err := Open(dir, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	id, err := db.Grant(ctx, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := db.Put(ctx, fmt.Appendf(nil, "k%d", i), []byte("v"), WithLease(id)); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	start := time.Now()
	db, err = Open(dir, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	info, err := db.TimeToLive(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Keys) != 5 || info.Remaining > 2*time.Second || info.Remaining < 2*time.Second-time.Since(start) {
		t.Fatalf("after restart: %d keys, remaining %v; want 5 keys and a full TTL from the restart", len(info.Keys), info.Remaining)
	}
	if err := db.Revoke(ctx, id); err != nil {
		t.Fatal(err)
	}
	if items, _, err := db.List(ctx, []byte("k"), nil, 0); err != nil || len(items) != 0 {
		t.Fatalf("after revoke: %d items, %v", len(items), err)
	}
}

// TestLeaseClusterFailover: keepalives through a follower are forwarded;
// the lease survives leader changes while kept alive, and is revoked
// once abandoned.
func TestLeaseClusterFailover(t *testing.T) {
	ctx := testCtx(t)
	c := newChaosCluster(t, 3, 1)
	leader := c.leader(ctx)
	var follower string
	for _, id := range c.ids {
		if id != leader {
			follower = id
			break
		}
	}
	f := c.dbs[follower]
	// Ten election timeouts: the keepalives must outlive two transfers on
	// a loaded machine, where 1 s lapsed.
	const ttl = 2 * time.Second
	id, err := f.Grant(ctx, ttl)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Put(ctx, []byte("eph"), []byte("x"), WithLease(id)); err != nil {
		t.Fatal(err)
	}
	// A follower's own decisions are never forwarded: the expiry loop
	// proposes with ProposeLocal, which a follower refuses.
	// (A revoke of a lease that does not exist: harmless if an election
	// made f the leader meanwhile.)
	_, _, err = f.node.ProposeLocal(ctx, kv.EncodeLeaseRevoke(1<<40))
	if (err == nil && f.Status().Leader != follower) || (err != nil && !errors.Is(err, ErrNotLeader)) {
		t.Fatalf("ProposeLocal on a follower: %v, want ErrNotLeader", err)
	}
	keepCtx, stop := context.WithCancel(ctx)
	loopDone := make(chan error, 1)
	go func() { loopDone <- f.KeepAliveLoop(keepCtx, id, ttl) }()
	// Two leadership transfers, each a new term whose leader starts over.
	for range 2 {
		old := c.leader(ctx)
		if err := c.dbs[old].TransferLeadership(ctx, ""); err != nil {
			t.Fatal(err)
		}
		testutil.WaitFor(t, "a new leader", func() bool {
			l := c.dbs[follower].Status().Leader
			return l != "" && l != old
		})
		// A full TTL under the new leader, and half a second for an
		// unrenewed lease's revoke to commit.
		deadline := time.Now().Add(ttl + 500*time.Millisecond)
		testutil.WaitFor(t, "a TTL and more under the new leader", func() bool { return time.Now().After(deadline) })
		if _, err := f.Get(ctx, []byte("eph")); err != nil {
			t.Fatalf("the kept-alive lease's key is gone after a leader change: %v", err)
		}
	}
	stop()
	if err := <-loopDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("KeepAliveLoop ended with %v", err)
	}
	testutil.WaitFor(t, "the abandoned lease to be revoked", func() bool {
		_, err := f.Get(ctx, []byte("eph"), WithConsistency(Stale))
		return errors.Is(err, ErrNotFound)
	})
	if _, err := f.KeepAlive(ctx, id); !errors.Is(err, ErrLeaseNotFound) {
		t.Fatalf("forwarded keepalive after expiry: %v, want ErrLeaseNotFound", err)
	}
}
