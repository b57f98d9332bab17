package yggr

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/yggrdb/yggr/engine"

	"github.com/yggrdb/yggr/internal/testutil"
)

// pauser pauses nodes' drivers through withDriverHook, as SIGSTOP or a long
// GC pause would.
type pauser struct {
	mu    sync.Mutex
	gates map[string]chan struct{} // closed to resume; nil when running
	in    map[string]chan struct{} // receives when the driver blocks
}

func newPauser() *pauser {
	return &pauser{gates: map[string]chan struct{}{}, in: map[string]chan struct{}{}}
}

func (p *pauser) hook(id string) func() {
	p.mu.Lock()
	p.in[id] = make(chan struct{}, 1)
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		gate, in := p.gates[id], p.in[id]
		p.mu.Unlock()
		if gate == nil {
			return
		}
		select {
		case in <- struct{}{}:
		default:
		}
		<-gate
	}
}

// pause stops id's driver at its next iteration and waits until it has.
func (p *pauser) pause(t *testing.T, ctx context.Context, id string) {
	t.Helper()
	p.mu.Lock()
	p.gates[id] = make(chan struct{})
	in := p.in[id]
	p.mu.Unlock()
	select {
	case <-in:
	case <-ctx.Done():
		t.Fatalf("driver of %s did not pause: %v", id, ctx.Err())
	}
}

func (p *pauser) resume(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if g := p.gates[id]; g != nil {
		close(g)
		p.gates[id] = nil
	}
}

// TestLeaseReadAfterLeaderPause: a leader holding a lease is paused (its
// driver stops, as with SIGSTOP or a long GC pause) and cut off; the others
// elect a new leader, which commits a write. When the old leader resumes,
// its engine has counted almost no ticks (the ticker drops the ones it
// missed), so the engine still believes in its lease; a lease read there
// must not return the old value. The node times the lease on the wall
// clock, so the read falls back to a ReadIndex round, which fails while
// the old leader is cut off.
func TestLeaseReadAfterLeaderPause(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	ctx := testCtx(t)
	p := newPauser()
	c := newChaosCluster(t, 3, 11, WithLeaseReads())
	// Reopen every node with its hook (the cluster starts them without).
	for _, id := range c.ids {
		if err := c.dbs[id].Close(); err != nil {
			t.Fatal(err)
		}
	}
	c.opts = append(c.opts, nil)
	for _, id := range c.ids {
		c.opts[len(c.opts)-1] = withDriverHook(p.hook(id))
		c.start(id)
	}
	old := c.leader(ctx)
	l := c.dbs[old]
	key := []byte("k")
	if err := l.Put(ctx, key, []byte("v1")); err != nil {
		t.Fatal(err)
	}
	// Wait for the lease: a lease read answered without a round.
	testutil.WaitFor(t, "the leader to hold a lease", func() bool {
		if l.node.Status().LeaseValid {
			return true
		}
		if _, err := l.Get(ctx, key, WithConsistency(Linearizable)); err != nil {
			t.Fatal(err)
		}
		return false
	})
	var others []engine.NodeID
	for _, id := range c.ids {
		if id != old {
			others = append(others, engine.NodeID(id))
		}
	}
	p.pause(t, ctx, old)
	c.chaos.Partition([]engine.NodeID{engine.NodeID(old)}, others)
	// The others elect a new leader and commit v2.
	var nl string
	testutil.WaitFor(t, "a new leader among "+fmt.Sprint(others), func() bool {
		for _, id := range others {
			if s := c.dbs[string(id)].Status(); s.Leader != "" && s.Leader != old && s.Role == RoleLeader {
				nl = string(id)
				return true
			}
		}
		return false
	})
	if err := c.dbs[nl].Put(ctx, key, []byte("v2")); err != nil {
		t.Fatal(err)
	}
	// The read starts while the old leader is paused and is served (or
	// not) once it resumes.
	type res struct {
		v   []byte
		err error
	}
	got := make(chan res, 1)
	go func() {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		v, err := l.Get(rctx, key, WithConsistency(Lease))
		got <- res{v, err}
	}()
	p.resume(old)
	r := <-got
	if r.err == nil {
		if string(r.v) != "v2" {
			t.Fatalf("lease read on the resumed old leader returned %q after v2 was committed elsewhere", r.v)
		}
	} else if !errors.Is(r.err, ErrTimeout) && !errors.Is(r.err, ErrNoLeader) && !errors.Is(r.err, ErrNotLeader) {
		t.Fatalf("lease read on the resumed old leader: %v", r.err)
	}
	t.Logf("lease read on the resumed old leader: %q, %v", r.v, r.err)
	c.chaos.Heal()
}

// TestLeaseReadAfterClose: a closed database answers no read, lease reads
// included (the published lease is dropped on Close), and a read with a
// context that has already ended fails at once whatever the consistency.
func TestLeaseReadAfterClose(t *testing.T) {
	ctx := testCtx(t)
	db, err := Open(t.TempDir(), nil, WithLeaseReads())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if v, err := db.Get(ctx, []byte("k"), WithConsistency(Lease)); err != nil || string(v) != "v" {
		t.Fatalf("lease read = %q, %v", v, err)
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	for _, c := range []Consistency{Linearizable, Lease} {
		if _, err := db.Get(done, []byte("k"), WithConsistency(c)); !errors.Is(err, ErrTimeout) {
			t.Errorf("%s read with an ended context: %v, want ErrTimeout", c, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Get(ctx, []byte("k"), WithConsistency(Lease)); !errors.Is(err, ErrClosed) {
		t.Fatalf("lease read after Close: %v, want ErrClosed", err)
	}
}
