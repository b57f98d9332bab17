package yggr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/yggrdb/yggr/engine"
	"github.com/yggrdb/yggr/netquic"

	"github.com/yggrdb/yggr/internal/testutil"
)

// The runtime chaos test: real nodes (driver, apply, storage, QUIC) with
// crashes, restarts and leadership transfers while clients run puts, gets,
// CAS and deletes; the history is checked for linearizability with
// porcupine. YGGR_CHAOS_ROUNDS scales it up.

type kvInput struct {
	op    string // put, get, cas, del
	key   string
	value string // put, cas: new value
	old   string // cas: expected value ("" = must be missing)
}

type kvOutput struct {
	value   string
	found   bool
	swapped bool
	unknown bool // the write may or may not have been applied
}

var kvModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(kvInput).key
			if _, ok := by[k]; !ok {
				keys = append(keys, k)
			}
			by[k] = append(by[k], op)
		}
		var out [][]porcupine.Operation
		for _, k := range keys {
			out = append(out, by[k])
		}
		return out
	},
	Init: func() any { return "" }, // "" = missing; values are never empty
	Step: func(state, input, output any) (bool, any) {
		s, in, out := state.(string), input.(kvInput), output.(kvOutput)
		switch in.op {
		case "get":
			return out.found == (s != "") && out.value == s, s
		case "put":
			return true, in.value
		case "del":
			return true, ""
		case "cas":
			holds := s == in.old
			if out.unknown {
				if holds {
					return true, in.value
				}
				return true, s
			}
			if out.swapped != holds {
				return false, s
			}
			if holds {
				return true, in.value
			}
			return true, s
		}
		return false, s
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(kvInput), output.(kvOutput)
		return fmt.Sprintf("%s(%s,%s,%s) -> %+v", in.op, in.key, in.old, in.value, out)
	},
}

// history collects operations from concurrent clients.
type history struct {
	mu    sync.Mutex
	start time.Time
	ops   []porcupine.Operation
}

func (h *history) now() int64 { return int64(time.Since(h.start)) }

func (h *history) add(client int, in kvInput, out kvOutput, call, ret int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
}

// definitelyNotApplied reports errors after which a write is known not to
// have been applied.
func definitelyNotApplied(err error) bool {
	return errors.Is(err, ErrDropped) || errors.Is(err, ErrBusy) || errors.Is(err, ErrInvalid) || errors.Is(err, ErrTooLarge)
}

func (c *testCluster) crash(id string) {
	c.t.Helper()
	if db := c.dbs[id]; db != nil {
		db.Close()
		delete(c.dbs, id)
	}
	c.nets[id].Close()
}

func (c *testCluster) restart(id string) {
	c.t.Helper()
	if c.chaos != nil {
		c.nets[id] = c.chaos.Endpoint(engine.NodeID(id))
		c.start(id)
		return
	}
	tr, err := netquic.Listen(netquic.Config{ID: engine.NodeID(id), ListenAddr: c.addrs[id], Insecure: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		c.t.Fatal(err)
	}
	c.nets[id] = tr
	c.start(id)
}

func chaosRounds() int {
	if s := os.Getenv("YGGR_CHAOS_ROUNDS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			return n
		}
	}
	return 6
}

// workload runs concurrent clients against the cluster's live nodes and
// records their history until stop closes.
type workload struct {
	c    *testCluster
	mu   *sync.Mutex // guards c.dbs against the nemesis
	h    *history
	stop chan struct{}
	wg   sync.WaitGroup
}

func startWorkload(ctx context.Context, c *testCluster, mu *sync.Mutex, clients int) *workload {
	w := &workload{c: c, mu: mu, h: &history{start: time.Now()}, stop: make(chan struct{})}
	keys := []string{"a", "b", "c"}
	for cl := 0; cl < clients; cl++ {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			r := rand.New(rand.NewPCG(uint64(cl), 7))
			last := map[string]string{} // the value this client last saw per key
			for seq := 0; seq < 100000; seq++ {
				select {
				case <-w.stop:
					return
				default:
				}
				db := w.dbFor(r)
				if db == nil {
					continue
				}
				key := keys[r.IntN(len(keys))]
				val := fmt.Sprintf("c%d-%d", cl, seq)
				opCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
				call := w.h.now()
				var in kvInput
				var out kvOutput
				var err error
				switch r.IntN(5) {
				case 0, 1:
					// Half the reads are lease reads (every cluster here
					// enables them): a leader answers them from its lease.
					in = kvInput{op: "get", key: key}
					consistency := Linearizable
					if r.IntN(2) == 0 {
						consistency = Lease
					}
					var v []byte
					v, err = db.Get(opCtx, []byte(key), WithConsistency(consistency))
					if errors.Is(err, ErrNotFound) {
						err = nil
						last[key] = ""
					} else if err == nil {
						out = kvOutput{value: string(v), found: true}
						last[key] = string(v)
					}
				case 2:
					in = kvInput{op: "put", key: key, value: val}
					err = db.Put(opCtx, []byte(key), []byte(val))
				case 3:
					// CAS from the value last seen: both outcomes occur.
					in = kvInput{op: "cas", key: key, value: val, old: last[key]}
					var old []byte
					if last[key] != "" {
						old = []byte(last[key])
					}
					out.swapped, err = db.CompareAndSwap(opCtx, []byte(key), old, []byte(val))
				case 4:
					in = kvInput{op: "del", key: key}
					err = db.Delete(opCtx, []byte(key))
				}
				cancel()
				ret := w.h.now()
				switch {
				case err == nil:
					w.h.add(cl, in, out, call, ret)
				case in.op == "get" || definitelyNotApplied(err):
					// A failed read says nothing; a write known not to be
					// applied did not happen.
				default:
					// Unknown outcome: the write may take effect at any
					// time after its call.
					out.unknown = true
					w.h.add(cl, in, out, call, 1<<62)
				}
			}
		}()
	}
	return w
}

// dbFor returns a random live node, or nil if none is up.
func (w *workload) dbFor(r *rand.Rand) *DB {
	w.mu.Lock()
	defer w.mu.Unlock()
	var dbs []*DB
	for _, id := range w.c.ids {
		if db := w.c.dbs[id]; db != nil {
			dbs = append(dbs, db)
		}
	}
	if len(dbs) == 0 {
		return nil
	}
	return dbs[r.IntN(len(dbs))]
}

// finish stops the clients and checks the history.
func (w *workload) finish(t *testing.T) {
	t.Helper()
	close(w.stop)
	w.wg.Wait()
	res, info := porcupine.CheckOperationsVerbose(kvModel, w.h.ops, 60*time.Second)
	if res == porcupine.Illegal {
		path := fmt.Sprintf("%s/history.html", t.TempDir())
		if f, err := os.Create(path); err == nil {
			porcupine.Visualize(kvModel, info, f)
			f.Close()
		}
		t.Fatalf("history of %d operations is not linearizable (visualization: %s)", len(w.h.ops), path)
	}
	if res == porcupine.Unknown {
		t.Fatalf("linearizability check timed out on %d operations", len(w.h.ops))
	}
	done := 0
	for _, op := range w.h.ops {
		if !op.Output.(kvOutput).unknown {
			done++
		}
	}
	if done < 20 {
		t.Fatalf("only %d operations completed: the cluster barely made progress", done)
	}
	t.Logf("%d operations (%d acknowledged) linearizable", len(w.h.ops), done)
}

func TestLinearizableUnderCrashesAndTransfers(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test")
	}
	ctx := testCtx(t)
	c := newQUICCluster(t, 3, WithLeaseReads())
	c.leader(ctx)
	var mu sync.Mutex
	w := startWorkload(ctx, c, &mu, 4)
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < chaosRounds(); round++ {
		l := c.leader(ctx)
		switch rng.IntN(3) {
		case 0, 1: // crash the leader or a follower
			victim := l
			if rng.IntN(2) == 0 {
				victim = c.ids[(indexOf(c.ids, l)+1+rng.IntN(2))%3]
			}
			mu.Lock()
			c.crash(victim)
			mu.Unlock()
			waitWrites(t, ctx, c, &mu, 20)
			mu.Lock()
			c.restart(victim)
			mu.Unlock()
		case 2: // transfer leadership
			to := c.ids[(indexOf(c.ids, l)+1+rng.IntN(2))%3]
			mu.Lock()
			db := c.dbs[l]
			mu.Unlock()
			if err := db.TransferLeadership(ctx, to); err != nil {
				t.Logf("transfer %s -> %s: %v", l, to, err)
			}
		}
		waitWrites(t, ctx, c, &mu, 20)
	}
	w.finish(t)
}

// TestLinearizableOverChaosNet runs 3 and 5 nodes over the chaos twin of the
// transport (real codec; message loss, duplication and reordering) while a
// nemesis partitions the network (isolated leader, minority/majority
// splits, one-way blocks), crashes and restarts nodes, transfers leadership
// and removes and re-adds members.
func TestLinearizableOverChaosNet(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test")
	}
	for _, n := range []int{3, 5} {
		t.Run(fmt.Sprintf("nodes=%d", n), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(30+5*chaosRounds())*time.Second)
			defer cancel()
			c := newChaosCluster(t, n, uint64(n), WithLeaseReads())
			c.chaos.SetDrop(0.02)
			c.chaos.SetDuplicate(0.02)
			c.chaos.SetDelay(0, 3*time.Millisecond)
			c.leader(ctx)
			var mu sync.Mutex
			w := startWorkload(ctx, c, &mu, 4)
			rng := rand.New(rand.NewPCG(uint64(n), 3))
			for round := 0; round < chaosRounds(); round++ {
				chaosNemesis(t, ctx, c, &mu, rng)
			}
			w.finish(t)
		})
	}
}

// chaosNemesis performs one fault and waits for the cluster to recover.
func chaosNemesis(t *testing.T, ctx context.Context, c *testCluster, mu *sync.Mutex, rng *rand.Rand) {
	t.Helper()
	l := c.leader(ctx)
	others := func() []string {
		var o []string
		for _, id := range c.ids {
			if id != l {
				o = append(o, id)
			}
		}
		return o
	}()
	ids := func(xs []string) []engine.NodeID {
		out := make([]engine.NodeID, len(xs))
		for i, x := range xs {
			out[i] = engine.NodeID(x)
		}
		return out
	}
	switch kind := rng.IntN(5); kind {
	case 0: // isolate the leader, then heal
		c.chaos.Partition(ids([]string{l}), ids(others))
		waitWrites(t, ctx, c, mu, 10)
		c.chaos.Heal()
	case 1: // one-way block: the leader cannot hear one follower
		f := others[rng.IntN(len(others))]
		c.chaos.Block(engine.NodeID(f), engine.NodeID(l))
		waitWrites(t, ctx, c, mu, 10)
		c.chaos.Heal()
	case 2: // crash a random node and restart it
		victim := c.ids[rng.IntN(len(c.ids))]
		mu.Lock()
		c.crash(victim)
		mu.Unlock()
		waitWrites(t, ctx, c, mu, 10)
		mu.Lock()
		c.restart(victim)
		mu.Unlock()
	case 3: // transfer leadership
		to := others[rng.IntN(len(others))]
		mu.Lock()
		db := c.dbs[l]
		mu.Unlock()
		if err := db.TransferLeadership(ctx, to); err != nil {
			t.Logf("transfer %s -> %s: %v", l, to, err)
		}
	case 4: // remove a follower, wipe it, and add it back as learner then voter
		f := others[rng.IntN(len(others))]
		mu.Lock()
		leaderDB := c.dbs[l]
		mu.Unlock()
		if err := leaderDB.RemoveMember(ctx, f); err != nil {
			t.Logf("remove %s: %v", f, err)
			break
		}
		mu.Lock()
		c.crash(f)
		c.dirs[f] = t.TempDir()
		c.joined[f] = true
		c.restart(f)
		mu.Unlock()
		addCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := addLearnerAndPromote(addCtx, c, mu, f); err != nil {
			t.Fatalf("re-adding %s: %v", f, err)
		}
	}
	waitWrites(t, ctx, c, mu, 10)
}

// addLearnerAndPromote adds id as a learner through the current leader,
// waits until it has caught up, then promotes it (retrying on leader
// changes).
func addLearnerAndPromote(ctx context.Context, c *testCluster, mu *sync.Mutex, id string) error {
	for attempt := 0; attempt < 100; attempt++ {
		l := c.leaderAmong(ctx, id)
		mu.Lock()
		db := c.dbs[l]
		mu.Unlock()
		st := db.Status()
		member, voter := false, false
		for _, m := range st.Members {
			if m.ID == id {
				member, voter = true, m.Voter
			}
		}
		var err error
		switch {
		case voter:
			return nil
		case !member:
			err = db.AddLearner(ctx, id, c.addrs[id])
		default:
			err = db.Promote(ctx, id)
		}
		if err != nil && ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return errors.New("gave up")
}

func indexOf(ids []string, id string) int {
	for i, x := range ids {
		if x == id {
			return i
		}
	}
	return -1
}

// waitWrites waits until the cluster has committed n more entries (the
// cluster makes progress), bounded by ctx.
func waitWrites(t *testing.T, ctx context.Context, c *testCluster, mu *sync.Mutex, n uint64) {
	t.Helper()
	commit := func() uint64 {
		mu.Lock()
		defer mu.Unlock()
		var m uint64
		for _, db := range c.dbs {
			m = max(m, db.Status().Commit)
		}
		return m
	}
	start := commit()
	testutil.WaitFor(t, fmt.Sprintf("the cluster to commit %d entries past %d", n, start), func() bool {
		if ctx.Err() != nil {
			t.Fatalf("cluster made no progress: %v", ctx.Err())
		}
		return commit() >= start+n
	})
}
