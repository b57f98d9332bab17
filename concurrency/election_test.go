package concurrency

import (
	"context"
	"errors"
	"github.com/yggrdb/yggr/internal/testutil"
	"slices"
	"testing"
	"time"

	"github.com/yggrdb/yggr"
)

// observed collects what Observe yields, in a goroutine.
type observed struct {
	ch   chan Leader
	errs chan error
}

func observe(ctx context.Context, db *yggr.DB, name string) *observed {
	o := &observed{ch: make(chan Leader, 64), errs: make(chan error, 1)}
	go func() {
		for l, err := range Observe(ctx, db, name) {
			if err != nil {
				o.errs <- err
				return
			}
			o.ch <- l
		}
	}()
	return o
}

func (o *observed) next(t *testing.T, ctx context.Context) Leader {
	t.Helper()
	select {
	case l := <-o.ch:
		return l
	case err := <-o.errs:
		t.Fatalf("Observe ended: %v", err)
	case <-ctx.Done():
		t.Fatal("Observe yielded nothing")
	}
	return Leader{}
}

func TestElection(t *testing.T) {
	ctx := testCtx(t)
	db := openSingle(t)
	const name = "elect/sched"
	if _, err := CurrentLeader(ctx, db, name); !errors.Is(err, ErrNoLeader) {
		t.Fatalf("Leader of an empty election: %v, want ErrNoLeader", err)
	}
	obs := observe(ctx, db, name)

	a := NewElection(newTestSession(t, db), name)
	if err := a.Proclaim(ctx, []byte("x")); !errors.Is(err, ErrNotElected) {
		t.Errorf("Proclaim before Campaign: %v, want ErrNotElected", err)
	}
	if err := a.Campaign(ctx, []byte("a1")); err != nil {
		t.Fatal(err)
	}
	if err := a.Campaign(ctx, []byte("again")); !errors.Is(err, ErrAlreadyCampaigning) {
		t.Errorf("second Campaign: %v, want ErrAlreadyCampaigning", err)
	}
	l, err := a.Leader(ctx)
	if err != nil || string(l.Value) != "a1" || l.Rev != a.Rev() || !slices.Equal(l.Key, a.Key()) {
		t.Fatalf("Leader = %+v, %v; want a with a1 at rev %d", l, err, a.Rev())
	}
	if got := obs.next(t, ctx); string(got.Value) != "a1" || got.Rev != a.Rev() {
		t.Fatalf("observed %+v, want a1", got)
	}

	// b campaigns and waits behind a.
	b := NewElection(newTestSession(t, db), name)
	campaigned := make(chan error, 1)
	go func() { campaigned <- b.Campaign(ctx, []byte("b1")) }()
	testutil.WaitFor(t, "b to be a candidate", func() bool { return len(keys(t, db, name+"/")) == 2 })
	if err := b.Proclaim(ctx, []byte("x")); !errors.Is(err, ErrNotElected) {
		t.Errorf("Proclaim by a waiting candidate: %v, want ErrNotElected", err)
	}
	if err := a.Proclaim(ctx, []byte("a2")); err != nil {
		t.Fatal(err)
	}
	if got := obs.next(t, ctx); string(got.Value) != "a2" || got.Rev != a.Rev() {
		t.Fatalf("observed %+v, want a2 from the same leader", got)
	}
	aRev := a.Rev()
	guard := a.Guard()
	if res, err := db.Txn(ctx, yggr.Txn{Compares: []yggr.Compare{guard}}); err != nil || !res.Succeeded {
		t.Fatalf("Txn guarded by the leader: %+v, %v", res, err)
	}
	if err := a.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-campaigned; err != nil {
		t.Fatalf("b's Campaign: %v", err)
	}
	got := obs.next(t, ctx)
	if string(got.Value) != "b1" || got.Rev != b.Rev() || got.Rev <= aRev {
		t.Fatalf("observed %+v, want b1 at a rev above a's %d", got, aRev)
	}
	if a.Rev() != 0 || a.Key() != nil {
		t.Errorf("a resigned but has rev %d key %q", a.Rev(), a.Key())
	}
	if err := a.Resign(ctx); err != nil {
		t.Errorf("Resign when not leading: %v", err)
	}
	if res, err := db.Txn(ctx, yggr.Txn{Compares: []yggr.Compare{guard}}); err != nil || res.Succeeded {
		t.Errorf("Txn guarded by a resigned leader's compare: %+v, %v; want it not to succeed", res, err)
	}
	if _, err := db.Txn(ctx, yggr.Txn{Compares: []yggr.Compare{a.Guard()}}); !errors.Is(err, yggr.ErrInvalid) {
		t.Errorf("Txn guarded by a non-leader: %v, want ErrInvalid", err)
	}
	if err := a.Proclaim(ctx, []byte("a3")); !errors.Is(err, ErrNotElected) {
		t.Errorf("Proclaim after Resign: %v, want ErrNotElected", err)
	}
	// b's session is lost: Proclaim fails, the observer sees no leader
	// (nothing yielded), then a's new candidacy.
	if err := db.Revoke(ctx, b.q.s.Lease()); err != nil {
		t.Fatal(err)
	}
	if err := b.Proclaim(ctx, []byte("b2")); !errors.Is(err, ErrNotElected) {
		t.Errorf("Proclaim after the session's lease went: %v, want ErrNotElected", err)
	}
	if err := a.Campaign(ctx, []byte("a4")); err != nil {
		t.Fatal(err)
	}
	if got := obs.next(t, ctx); string(got.Value) != "a4" {
		t.Fatalf("observed %+v, want a4", got)
	}
	// Resumed from its key and rev (another request or process), a
	// proclaims and resigns.
	if _, err := ResumeElection(a.q.s, name, []byte("other/x"), a.Rev()); !errors.Is(err, yggr.ErrInvalid) {
		t.Errorf("ResumeElection with a foreign key: %v, want ErrInvalid", err)
	}
	r, err := ResumeElection(a.q.s, name, a.Key(), a.Rev())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Proclaim(ctx, []byte("a5")); err != nil {
		t.Fatal(err)
	}
	for l, err := range r.Observe(ctx) {
		if err != nil || string(l.Value) != "a5" {
			t.Fatalf("Observe via the resumed election: %+v, %v; want a5", l, err)
		}
		break
	}
	if err := r.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Leader(ctx); !errors.Is(err, ErrNoLeader) {
		t.Errorf("Leader after the resumed Resign: %v, want ErrNoLeader", err)
	}
	for _, bad := range []func() error{
		func() error { _, err := CurrentLeader(ctx, db, ""); return err },
		func() error { return NewElection(newTestSession(t, db), "").Campaign(ctx, nil) },
		func() error {
			for _, err := range Observe(ctx, db, "") {
				return err
			}
			return nil
		},
	} {
		if err := bad(); !errors.Is(err, yggr.ErrInvalid) {
			t.Errorf("empty election name: %v, want ErrInvalid", err)
		}
	}
}

// A Campaign that gives up leaves no candidacy behind.
func TestElectionCancelledCampaign(t *testing.T) {
	ctx := testCtx(t)
	db := openSingle(t)
	a := NewElection(newTestSession(t, db), "c")
	if err := a.Campaign(ctx, []byte("a")); err != nil {
		t.Fatal(err)
	}
	b := NewElection(newTestSession(t, db), "c")
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := b.Campaign(cctx, []byte("b")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Campaign past its deadline: %v", err)
	}
	if ks := keys(t, db, "c/"); len(ks) != 1 || ks[0] != string(a.Key()) {
		t.Errorf("keys %q, want a's alone", ks)
	}
}

// On three nodes, the leader's node dies: a candidate on another node
// takes over once the dead leader's lease expires, and an observer on a
// third node sees the change.
func TestElectionFailover(t *testing.T) {
	ctx := testCtx(t)
	c := newCluster(t, 3)
	// Five election timeouts: b's session must outlive the election that
	// follows n1's stop (WithTTL's rule). At 1 s (2.5 timeouts) it missed
	// its keepalive once on a loaded 2-core machine and b lost its session.
	ttl := 2 * time.Second
	a := NewElection(newTestSession(t, c.db(0), WithTTL(ttl)), "fo")
	if err := a.Campaign(ctx, []byte("a")); err != nil {
		t.Fatal(err)
	}
	obs := observe(ctx, c.db(2), "fo")
	if got := obs.next(t, ctx); string(got.Value) != "a" {
		t.Fatalf("observed %+v, want a", got)
	}
	b := NewElection(newTestSession(t, c.db(1), WithTTL(ttl)), "fo")
	campaigned := make(chan error, 1)
	go func() { campaigned <- b.Campaign(ctx, []byte("b")) }()
	testutil.WaitFor(t, "b to be a candidate", func() bool { return len(keys(t, c.db(2), "fo/")) == 2 })
	stopped := time.Now()
	c.stop(0)
	if err := <-campaigned; err != nil {
		t.Fatal(err)
	}
	// If n1 led the cluster, a new leader gives the lease a full TTL from
	// its election: at most two TTLs and an election timeout, plus slack.
	if took := time.Since(stopped); took > 2*ttl+testElectionTimeout+3*time.Second {
		t.Errorf("b elected %v after a's node died, want within about 2×TTL + an election timeout", took)
	}
	if got := obs.next(t, ctx); string(got.Value) != "b" || got.Rev != b.Rev() {
		t.Fatalf("observed %+v, want b", got)
	}
}
