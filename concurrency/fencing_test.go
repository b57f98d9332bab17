package concurrency

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yggrdb/yggr"
	"github.com/yggrdb/yggr/internal/testutil"
)

// A holder whose session is lost (keepalives stopped, or its node dead)
// releases the lock to a waiter on another node within the TTL plus an
// election timeout (plus slack for a loaded machine).
func TestMutexSessionLossReleases(t *testing.T) {
	const ttl = time.Second
	for _, how := range []string{"keepalives stop", "holder's node dies"} {
		t.Run(how, func(t *testing.T) {
			ctx := testCtx(t)
			c := newCluster(t, 3)
			// The holder on a follower, so that its node's death leaves the
			// leader (and the lease's deadline) in place.
			holderNode := 0
			if st := c.db(0).Status(); st.Leader == nodeID(0) {
				holderNode = 1
			}
			var p pauser
			hs := newTestSession(t, c.db(holderNode), WithTTL(ttl), withTestHooks(p.hooks()))
			holder := NewMutex(hs, "loss")
			if err := holder.Lock(ctx); err != nil {
				t.Fatal(err)
			}
			waiterNode := 2 // the holder is on node 0 or 1
			waiter := NewMutex(newTestSession(t, c.db(waiterNode), WithTTL(10*time.Second)), "loss")
			got := make(chan error, 1)
			go func() { got <- waiter.Lock(ctx) }()
			testutil.WaitFor(t, "the waiter to queue", func() bool { return len(keys(t, c.db(waiterNode), "loss/")) == 2 })
			stopped := time.Now()
			if how == "keepalives stop" {
				p.pause()
				defer p.resume()
			} else {
				c.stop(holderNode)
			}
			if err := <-got; err != nil {
				t.Fatal(err)
			}
			// The last keepalive went out at most TTL/3 before the stop.
			if took := time.Since(stopped); took > ttl+testElectionTimeout+2*time.Second {
				t.Errorf("waiter got the lock %v after the holder stopped, want within TTL %v + an election timeout", took, ttl)
			}
			if waiter.Token() <= holder.Token() {
				t.Errorf("new holder's token %d, want above the old holder's %d", waiter.Token(), holder.Token())
			}
			if how == "keepalives stop" {
				// The old holder still believes; its guarded write fails.
				if _, err := holder.Txn(ctx, yggr.Request{Op: yggr.OpPut, Key: []byte("res"), Value: []byte("stale")}); !errors.Is(err, ErrLockLost) {
					t.Errorf("Txn by the old holder: %v, want ErrLockLost", err)
				}
			}
		})
	}
}

// retryTransient runs op until it succeeds or fails for a reason other
// than a passing one of the cluster (no leader, a leader that died under a
// forwarded call, a timeout), at most 10 times: a node dies and restarts
// during the fencing test, and a healthy holder keeps its lock (a 5s
// lease) through that.
func retryTransient(ctx context.Context, op func() error) error {
	var err error
	for range 10 {
		err = op()
		if err == nil || !(errors.Is(err, yggr.ErrUnknownOutcome) || errors.Is(err, yggr.ErrNoLeader) ||
			errors.Is(err, yggr.ErrNotLeader) || errors.Is(err, yggr.ErrDropped) || errors.Is(err, yggr.ErrTimeout) ||
			errors.Is(err, yggr.ErrBusy)) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
	return err
}

// register is a resource protected by fencing tokens: it accepts a write
// only if its token is at least the largest it has accepted.
type register struct {
	mu       sync.Mutex
	max      uint64
	accepted []fencedWrite
	rejected int
}

// fencedWrite is one write to the register: the token and which
// acquisition (client and its acquisition number) made it.
type fencedWrite struct {
	token  uint64
	holder string
}

func (r *register) write(token uint64, holder string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if token < r.max {
		r.rejected++
		return false
	}
	r.max = token
	r.accepted = append(r.accepted, fencedWrite{token, holder})
	return true
}

func (r *register) top() (uint64, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.max, len(r.accepted)
}

// guardedWrite is a write to the database made with Mutex.Txn.
type guardedWrite struct {
	index, token uint64
	holder       string
}

// The fencing test. Clients on three nodes take one lock in turn and
// write, with their token, to a fencing register (and, with Mutex.Txn, to
// the database), while holders are paused (their keepalives stopped while
// they believe they hold the lock, then resumed after the lock has passed
// on), killed (their session closed, or abandoned to expire), and a node
// with its clients dies and restarts. Checked:
//   - the register never accepts a write with an older token after a
//     newer one, each token belongs to one holder, and the holders' terms
//     as the register sees them (first to last accepted write) never
//     overlap;
//   - a paused holder that resumes after a newer holder wrote is refused,
//     and its Mutex.Txn fails with ErrLockLost;
//   - the guarded database writes, in revision order, have non-decreasing
//     tokens, one holder per token;
//   - holders that are not paused are never in their critical sections at
//     once.
func TestFencing(t *testing.T) {
	ctx := testCtx(t)
	c := newCluster(t, 3)
	const (
		clients      = 6
		acquisitions = 36 // in all, then the clients stop
		lockName     = "fenced"
	)
	var (
		reg        register
		mu         sync.Mutex
		guarded    []guardedWrite
		total      atomic.Int32 // acquisitions so far
		healthy    atomic.Int32 // non-paused holders in their critical section
		pausedSeen atomic.Int32 // paused holders refused after a newer write
		modes      sync.Map     // mode → count
	)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)

	// The node restarter: node 3 (and its clients) dies after a few
	// acquisitions and comes back after a few more.
	restarted := make(chan struct{})
	var didRestart atomic.Bool
	go func() {
		defer close(restarted)
		wait := func(n int) bool {
			return testutil.Poll(ctx, time.Minute, func() bool { _, got := reg.top(); return got >= n })
		}
		if !wait(12) {
			return
		}
		c.stop(2)
		_, at := reg.top()
		if !wait(at + 6) {
			return
		}
		c.start(2)
		didRestart.Store(true)
	}()

	var wg sync.WaitGroup
	for cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(cl)))
			node := cl % 3
			for acq := 0; total.Load() < acquisitions && ctx.Err() == nil; acq++ {
				db, err := c.await(ctx, node)
				if err != nil {
					return
				}
				holder := fmt.Sprintf("c%d/%d", cl, acq)
				mode := []string{"normal", "normal", "normal", "pause", "close", "abandon"}[rng.IntN(6)]
				ttl := 5 * time.Second // healthy holders: long enough never to lapse
				if mode != "normal" {
					ttl = time.Second
				}
				var p pauser
				s, err := NewSession(ctx, db, WithTTL(ttl), withTestHooks(p.hooks()))
				if err != nil {
					continue // the node is down
				}
				m := NewMutex(s, lockName)
				if err := m.Lock(ctx); err != nil {
					s.Close()
					continue // the node died, or the session with it
				}
				total.Add(1)
				n, _ := modes.LoadOrStore(mode, new(atomic.Int32))
				n.(*atomic.Int32).Add(1)
				tok := m.Token()
				switch mode {
				case "normal":
					if h := healthy.Add(1); h != 1 {
						t.Errorf("%s: %d healthy holders at once", holder, h)
					}
					dead := false
					for range 3 {
						if !reg.write(tok, holder) {
							t.Errorf("%s: a healthy holder's write (token %d) was refused", holder, tok)
						}
						var res yggr.TxnResult
						err := retryTransient(ctx, func() (err error) {
							res, err = m.Txn(ctx, yggr.Request{Op: yggr.OpPut, Key: []byte("resource"), Value: fmt.Append(nil, tok)})
							return err
						})
						if err != nil {
							// Only its node's death excuses this (a lost
							// lock of a live 5s session would be a bug).
							if c.db(node) == db || errors.Is(err, ErrLockLost) {
								t.Errorf("%s: Txn under the lock: %v", holder, err)
							}
							dead = true
							break
						}
						if res.Index != 0 { // 0: applied by a retried attempt whose answer was lost
							mu.Lock()
							guarded = append(guarded, guardedWrite{res.Index, tok, holder})
							mu.Unlock()
						}
					}
					healthy.Add(-1)
					if !dead {
						retried := false
						err := retryTransient(ctx, func() error {
							err := m.Unlock(ctx)
							if errors.Is(err, ErrLockLost) && retried {
								return nil // an earlier attempt, whose answer was lost, unlocked
							}
							retried = err != nil
							return err
						})
						if err != nil && (c.db(node) == db || errors.Is(err, ErrLockLost)) {
							t.Errorf("%s: Unlock: %v", holder, err)
						}
					}
					s.Close()
				case "pause":
					reg.write(tok, holder)
					p.pause()
					// Paused until its key is gone (the lease expired) and,
					// usually, a newer holder wrote; then it resumes and
					// acts on its old belief.
					key := m.Key()
					if !testutil.Poll(ctx, 20*time.Second, func() bool {
						other := c.db((node + 1) % 2) // nodes 0 and 1 never die
						_, err := other.GetItem(ctx, key)
						return errors.Is(err, yggr.ErrNotFound)
					}) {
						t.Errorf("%s: the paused holder's key did not expire", holder)
					}
					if rng.IntN(4) > 0 {
						// Up to 3s for a newer holder's write (there may be
						// no other client left to take the lock).
						testutil.Poll(ctx, 3*time.Second, func() bool { top, _ := reg.top(); return top > tok })
					}
					top, _ := reg.top()
					ok := reg.write(tok, holder)
					if top > tok && ok {
						t.Errorf("%s: a paused holder's write with token %d accepted after token %d", holder, tok, top)
					}
					if !ok {
						pausedSeen.Add(1)
					}
					if c.db(node) == db {
						// The key is gone (read above), so the guarded Txn
						// cannot apply: an answer lost to a leader change
						// (ErrUnknownOutcome) is asked again, a bounded number
						// of times, until the refusal itself arrives.
						var err error
						for range 5 {
							_, err = m.Txn(ctx, yggr.Request{Op: yggr.OpPut, Key: []byte("resource"), Value: fmt.Append(nil, tok)})
							if !errors.Is(err, yggr.ErrUnknownOutcome) {
								break
							}
						}
						if !errors.Is(err, ErrLockLost) {
							t.Errorf("%s: Txn by a paused holder after its key expired: %v, want ErrLockLost", holder, err)
						}
					}
					p.resume()
					s.Close()
				case "close": // killed: its session closes under it
					reg.write(tok, holder)
					s.Close()
				case "abandon": // killed: its process stops, the lease expires
					reg.write(tok, holder)
					p.pause()
					defer s.Close()
					defer p.resume()
				}
			}
		}()
	}
	wg.Wait()
	<-restarted
	if t.Failed() {
		return
	}

	// The register's history.
	reg.mu.Lock()
	acc := slices.Clone(reg.accepted)
	rejected := reg.rejected
	reg.mu.Unlock()
	owner := map[uint64]string{}
	first, last := map[string]int{}, map[string]int{}
	for i, w := range acc {
		if i > 0 && w.token < acc[i-1].token {
			t.Errorf("register accepted token %d after %d", w.token, acc[i-1].token)
		}
		if o, ok := owner[w.token]; ok && o != w.holder {
			t.Errorf("token %d used by two holders, %s and %s", w.token, o, w.holder)
		}
		owner[w.token] = w.holder
		if _, ok := first[w.holder]; !ok {
			first[w.holder] = i
		}
		last[w.holder] = i
	}
	for h, f := range first {
		for h2, f2 := range first {
			if h != h2 && f < f2 && f2 < last[h] {
				t.Errorf("terms overlap in the register: %s wrote at %d..%d, %s began at %d", h, f, last[h], h2, f2)
			}
		}
	}
	// The guarded database writes, in revision order.
	slices.SortFunc(guarded, func(a, b guardedWrite) int { return cmp.Compare(a.index, b.index) })
	gowner := map[uint64]string{}
	for i, g := range guarded {
		if i > 0 && g.token < guarded[i-1].token {
			t.Errorf("guarded write with token %d at revision %d after token %d at %d", g.token, g.index, guarded[i-1].token, guarded[i-1].index)
		}
		if o, ok := gowner[g.token]; ok && o != g.holder {
			t.Errorf("token %d guarded writes by two holders, %s and %s", g.token, o, g.holder)
		}
		gowner[g.token] = g.holder
	}
	counts := map[string]int32{}
	modes.Range(func(k, v any) bool { counts[k.(string)] = v.(*atomic.Int32).Load(); return true })
	t.Logf("%d acquisitions %v; register: %d accepted, %d refused (%d of them from resumed paused holders); %d guarded writes",
		total.Load(), counts, len(acc), rejected, pausedSeen.Load(), len(guarded))
	// The test must have exercised what it checks.
	if !didRestart.Load() {
		t.Error("node 3 did not die and restart during the run")
	}
	if counts["pause"] == 0 || pausedSeen.Load() == 0 || counts["normal"] == 0 || len(guarded) == 0 {
		t.Errorf("the run did not exercise paused holders refused after a newer write (seed %d): %v, %d refused", seed, counts, pausedSeen.Load())
	}
}
