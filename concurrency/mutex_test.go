package concurrency

import (
	"context"
	"errors"
	"fmt"
	"github.com/yggrdb/yggr/internal/testutil"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yggrdb/yggr"
)

// Holders never overlap, and each one's token is larger than the last.
func TestMutexExclusion(t *testing.T) {
	t.Run("single node", func(t *testing.T) {
		db := openSingle(t)
		testExclusion(t, []*yggr.DB{db, db, db, db})
	})
	t.Run("three nodes", func(t *testing.T) {
		c := newCluster(t, 3)
		testExclusion(t, []*yggr.DB{c.db(0), c.db(1), c.db(2), c.db(0)})
	})
}

func testExclusion(t *testing.T, dbs []*yggr.DB) {
	ctx := testCtx(t)
	const rounds = 8
	var (
		inside atomic.Int32
		mu     sync.Mutex
		tokens []uint64
		wg     sync.WaitGroup
	)
	for w, db := range dbs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := NewSession(ctx, db, WithTTL(5*time.Second))
			if err != nil {
				t.Error(err)
				return
			}
			defer s.Close()
			m := NewMutex(s, "locks/x")
			for range rounds {
				if err := m.Lock(ctx); err != nil {
					t.Errorf("worker %d: Lock: %v", w, err)
					return
				}
				if n := inside.Add(1); n != 1 {
					t.Errorf("worker %d: %d holders at once", w, n)
				}
				mu.Lock()
				tokens = append(tokens, m.Token())
				mu.Unlock()
				// Write under the lock: it applies only while held.
				if _, err := m.Txn(ctx, yggr.Request{Op: yggr.OpPut, Key: []byte("res"), Value: []byte(fmt.Sprint(w))}); err != nil {
					t.Errorf("worker %d: Txn under the lock: %v", w, err)
				}
				inside.Add(-1)
				if err := m.Unlock(ctx); err != nil {
					t.Errorf("worker %d: Unlock: %v", w, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(tokens) != rounds*len(dbs) {
		t.Fatalf("%d acquisitions, want %d", len(tokens), rounds*len(dbs))
	}
	for i := 1; i < len(tokens); i++ {
		if tokens[i] <= tokens[i-1] {
			t.Fatalf("token %d after %d: tokens must grow with each holder: %v", tokens[i], tokens[i-1], tokens)
		}
	}
	if ks := keys(t, dbs[0], "locks/x/"); len(ks) != 0 {
		t.Errorf("keys left after every Unlock: %q", ks)
	}
}

// waiters is a holder and n waiters queued behind it in order, each on its
// own session, with the keys each waited on recorded.
type waiters struct {
	t       *testing.T
	db      *yggr.DB
	name    string
	holder  *Mutex
	mus     []*Mutex
	cancels []context.CancelFunc
	done    chan lockResult // each waiter's Lock, as it returns
	mu      sync.Mutex
	waited  map[string][]string // key → the predecessors it waited on, in order
}

type lockResult struct {
	i   int
	err error
}

func newWaiters(t *testing.T, db *yggr.DB, name string, n int) *waiters {
	ctx := testCtx(t)
	w := &waiters{t: t, db: db, name: name, waited: map[string][]string{}, done: make(chan lockResult, n)}
	hooks := &testHooks{waiting: func(key, pred []byte) {
		w.mu.Lock()
		w.waited[string(key)] = append(w.waited[string(key)], string(pred))
		w.mu.Unlock()
	}}
	w.holder = NewMutex(newTestSession(t, db, WithTTL(10*time.Second), withTestHooks(hooks)), name)
	if err := w.holder.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		m := NewMutex(newTestSession(t, db, WithTTL(10*time.Second), withTestHooks(hooks)), name)
		lctx, cancel := context.WithCancel(ctx)
		t.Cleanup(cancel)
		w.mus, w.cancels = append(w.mus, m), append(w.cancels, cancel)
		go func() { w.done <- lockResult{i, m.Lock(lctx)} }()
		testutil.WaitFor(t, fmt.Sprintf("waiter %d to queue", i), func() bool { return w.waitCount() == i+1 })
	}
	return w
}

// next returns the next waiter whose Lock returned.
func (w *waiters) next(ctx context.Context) lockResult {
	w.t.Helper()
	select {
	case r := <-w.done:
		return r
	case <-ctx.Done():
		w.t.Fatal("no waiter's Lock returned")
	}
	return lockResult{}
}

// waitCount is how many waits have started.
func (w *waiters) waitCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, ps := range w.waited {
		n += len(ps)
	}
	return n
}

// queue returns the keys under the lock in creation order.
func (w *waiters) queue() []string {
	items, _, err := w.db.List(context.Background(), []byte(w.name+"/"), yggr.PrefixEnd([]byte(w.name+"/")), 0)
	if err != nil {
		w.t.Fatal(err)
	}
	sortByCreate(items)
	var ks []string
	for _, it := range items {
		ks = append(ks, string(it.Key))
	}
	return ks
}

func (w *waiters) waitedOn() map[string][]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string][]string{}
	for k, v := range w.waited {
		out[k] = slices.Clone(v)
	}
	return out
}

// Waiters get the lock in the order they asked for it.
func TestMutexFairOrder(t *testing.T) {
	ctx := testCtx(t)
	w := newWaiters(t, openSingle(t), "fair", 5)
	if err := w.holder.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	var order []int
	for range w.mus {
		// One waiter at a time holds the lock; record which.
		r := w.next(ctx)
		if r.err != nil {
			t.Fatalf("waiter %d: %v", r.i, r.err)
		}
		order = append(order, r.i)
		if err := w.mus[r.i].Unlock(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(order, []int{0, 1, 2, 3, 4}) {
		t.Errorf("waiters got the lock in order %v, want 0 1 2 3 4", order)
	}
}

// Each waiter waits for its predecessor only: a release wakes one waiter,
// and a waiter that leaves the queue wakes only its successor, which then
// waits for the key before the one that left.
func TestMutexWaitsOnPredecessorOnly(t *testing.T) {
	ctx := testCtx(t)
	w := newWaiters(t, openSingle(t), "herd", 4)
	q := w.queue() // holder, waiters 0..3
	if len(q) != 5 {
		t.Fatalf("queue %q, want the holder and 4 waiters", q)
	}
	want := map[string][]string{q[1]: {q[0]}, q[2]: {q[1]}, q[3]: {q[2]}, q[4]: {q[3]}}
	if diff := cmpWaits(want, w.waitedOn()); diff != "" {
		t.Fatalf("waits after queueing:\n%s", diff)
	}
	// Waiter 1 leaves: waiter 2 now waits for waiter 0.
	w.cancels[1]()
	if r := w.next(ctx); r.i != 1 || !errors.Is(r.err, context.Canceled) {
		t.Fatalf("cancelled waiter %d: %v, want waiter 1 with context.Canceled", r.i, r.err)
	}
	testutil.WaitFor(t, "waiter 2 to wait again", func() bool { return w.waitCount() == 5 })
	want[q[3]] = []string{q[2], q[1]}
	if diff := cmpWaits(want, w.waitedOn()); diff != "" {
		t.Fatalf("waits after waiter 1 left:\n%s", diff)
	}
	// Release in turn: 0, 2, 3 get it; nobody waits again on the way (a
	// waiter woken by anything but its predecessor would wait again).
	if err := w.holder.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 2, 3} {
		r := w.next(ctx)
		if r.i != i || r.err != nil {
			t.Fatalf("waiter %d got the lock (%v), want waiter %d", r.i, r.err, i)
		}
		if err := w.mus[i].Unlock(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmpWaits(want, w.waitedOn()); diff != "" {
		t.Fatalf("waits at the end:\n%s", diff)
	}
}

func cmpWaits(want, got map[string][]string) string {
	var b strings.Builder
	for k, v := range want {
		if !slices.Equal(got[k], v) {
			fmt.Fprintf(&b, "%s waited on %q, want %q\n", k, got[k], v)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			fmt.Fprintf(&b, "%s waited on %q, want no waits\n", k, v)
		}
	}
	return b.String()
}

// A Lock that gives up (cancelled, deadline) or a TryLock that fails
// leaves no key behind: the queue is the holder alone when it returns.
func TestMutexGivingUpLeavesNoKey(t *testing.T) {
	ctx := testCtx(t)
	db := openSingle(t)
	holder := NewMutex(newTestSession(t, db), "gone")
	if err := holder.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	only := []string{string(holder.Key())}
	s := newTestSession(t, db)

	m := NewMutex(s, "gone")
	lctx, cancel := context.WithCancel(ctx)
	res := make(chan error, 1)
	go func() { res <- m.Lock(lctx) }()
	testutil.WaitFor(t, "the waiter to queue", func() bool { return len(keys(t, db, "gone/")) == 2 })
	cancel()
	if err := <-res; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Lock: %v, want context.Canceled", err)
	}
	if ks := keys(t, db, "gone/"); !slices.Equal(ks, only) {
		t.Errorf("after a cancelled Lock: keys %q, want the holder's %q", ks, only)
	}

	dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := m.Lock(dctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock past its deadline: %v, want context.DeadlineExceeded", err)
	}
	if ks := keys(t, db, "gone/"); !slices.Equal(ks, only) {
		t.Errorf("after a Lock past its deadline: keys %q, want the holder's %q", ks, only)
	}

	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := m.Lock(done); !errors.Is(err, context.Canceled) {
		t.Fatalf("Lock with a cancelled context: %v, want context.Canceled", err)
	}
	if err := m.TryLock(ctx); !errors.Is(err, ErrLocked) {
		t.Fatalf("TryLock of a held lock: %v, want ErrLocked", err)
	}
	if ks := keys(t, db, "gone/"); !slices.Equal(ks, only) {
		t.Errorf("after a failed TryLock: keys %q, want the holder's %q", ks, only)
	}
	if m.Token() != 0 || m.Key() != nil {
		t.Errorf("a Mutex that gave up has token %d key %q, want none", m.Token(), m.Key())
	}
	if err := holder.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.TryLock(ctx); err != nil {
		t.Fatalf("TryLock of a free lock: %v", err)
	}
	if m.Token() == 0 || m.Token() <= holder.Token() {
		t.Errorf("token %d after the holder's %d, want a larger one", m.Token(), holder.Token())
	}
}

// The holder's session ending wakes a waiting Lock's session error, and
// the Mutex's calls check what they are called on.
func TestMutexMisuse(t *testing.T) {
	ctx := testCtx(t)
	db := openSingle(t)
	s := newTestSession(t, db)
	m := NewMutex(s, "misuse")
	if err := m.Unlock(ctx); !errors.Is(err, ErrNotHeld) {
		t.Errorf("Unlock unheld: %v, want ErrNotHeld", err)
	}
	if _, err := m.Txn(ctx); !errors.Is(err, ErrNotHeld) {
		t.Errorf("Txn unheld: %v, want ErrNotHeld", err)
	}
	if _, err := db.Txn(ctx, yggr.Txn{Compares: []yggr.Compare{m.Guard()}}); !errors.Is(err, yggr.ErrInvalid) {
		t.Errorf("Txn guarded by an unheld Mutex: %v, want ErrInvalid", err)
	}
	if err := m.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Lock(ctx); !errors.Is(err, ErrAlreadyHeld) {
		t.Errorf("second Lock: %v, want ErrAlreadyHeld", err)
	}
	if err := m.TryLock(ctx); !errors.Is(err, ErrAlreadyHeld) {
		t.Errorf("TryLock while held: %v, want ErrAlreadyHeld", err)
	}
	// A second Mutex on the same session is another holder: it waits.
	other := NewMutex(s, "misuse")
	if err := other.TryLock(ctx); !errors.Is(err, ErrLocked) {
		t.Errorf("TryLock by a second Mutex of the same session: %v, want ErrLocked", err)
	}
	// A guarded transaction of one's own.
	res, err := db.Txn(ctx, yggr.Txn{Compares: []yggr.Compare{m.Guard()},
		Then: []yggr.Request{{Op: yggr.OpPut, Key: []byte("res"), Value: []byte("1")}}})
	if err != nil || !res.Succeeded {
		t.Fatalf("guarded Txn while held: %+v, %v", res, err)
	}
	// Someone deletes the holder's key: the lock is lost.
	if err := db.Delete(ctx, m.Key()); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Txn(ctx, yggr.Request{Op: yggr.OpPut, Key: []byte("res"), Value: []byte("2")}); !errors.Is(err, ErrLockLost) {
		t.Errorf("Txn after the key was deleted: %v, want ErrLockLost", err)
	}
	if v, _ := db.Get(ctx, []byte("res")); string(v) != "1" {
		t.Errorf("res = %q after a lost holder's Txn, want 1", v)
	}
	if err := m.Unlock(ctx); !errors.Is(err, ErrNotHeld) {
		t.Errorf("Unlock after the loss was seen: %v, want ErrNotHeld", err)
	}
	if err := m.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Delete(ctx, m.Key()); err != nil {
		t.Fatal(err)
	}
	if err := m.Unlock(ctx); !errors.Is(err, ErrLockLost) {
		t.Errorf("Unlock of a lost lock: %v, want ErrLockLost", err)
	}
	if err := NewMutex(s, "").Lock(ctx); !errors.Is(err, yggr.ErrInvalid) {
		t.Errorf("Lock with an empty name: %v, want ErrInvalid", err)
	}
	s.Close()
	if err := NewMutex(s, "misuse").Lock(ctx); !errors.Is(err, ErrSessionClosed) {
		t.Errorf("Lock in a closed session: %v, want ErrSessionClosed", err)
	}
}

// Locks whose names nest ("a" and "a/b") are different locks.
func TestMutexNestedNames(t *testing.T) {
	ctx := testCtx(t)
	db := openSingle(t)
	a := NewMutex(newTestSession(t, db), "a")
	ab := NewMutex(newTestSession(t, db), "a/b")
	if err := ab.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.TryLock(ctx); err != nil {
		t.Errorf("TryLock of a while a/b is held: %v", err)
	}
	// Keys of other shapes under the prefix do not count either.
	if err := db.Put(ctx, []byte("a/zz"), nil); err != nil {
		t.Fatal(err)
	}
	a2 := NewMutex(newTestSession(t, db), "a")
	if err := a.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a2.TryLock(ctx); err != nil {
		t.Errorf("TryLock of a with a foreign key under a/: %v", err)
	}
}

// A waiter whose session ends stops waiting with the session's error.
func TestMutexWaiterSessionEnds(t *testing.T) {
	ctx := testCtx(t)
	db := openSingle(t)
	holder := NewMutex(newTestSession(t, db), "end")
	if err := holder.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := NewSession(ctx, db, WithTTL(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	// Its keepalive goroutine runs until Close (or until its next
	// keepalive finds the lease gone): close it, or goleak sees it when
	// this test runs alone.
	defer s.Close()
	m := NewMutex(s, "end")
	res := make(chan error, 1)
	go func() { res <- m.Lock(ctx) }()
	testutil.WaitFor(t, "the waiter to queue", func() bool { return len(keys(t, db, "end/")) == 2 })
	if err := db.Revoke(ctx, s.Lease()); err != nil {
		t.Fatal(err)
	}
	if err := <-res; !errors.Is(err, ErrSessionExpired) {
		t.Fatalf("Lock of a waiter whose lease was revoked: %v, want ErrSessionExpired", err)
	}
	if ks := keys(t, db, "end/"); len(ks) != 1 {
		t.Errorf("keys %q, want the holder's alone", ks)
	}
}
