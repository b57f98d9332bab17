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

func TestLinearizableUnderCrashesAndTransfers(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test")
	}
	ctx := testCtx(t)
	c := newQUICCluster(t, 3)
	c.leader(ctx)
	h := &history{start: time.Now()}
	rng := rand.New(rand.NewPCG(1, 2))
	keys := []string{"a", "b", "c"}

	// dbFor returns a running node for a client (nodes come and go).
	var mu sync.Mutex
	dbFor := func(r *rand.Rand) *DB {
		mu.Lock()
		defer mu.Unlock()
		ids := make([]string, 0, len(c.dbs))
		for _, id := range c.ids {
			if c.dbs[id] != nil {
				ids = append(ids, id)
			}
		}
		return c.dbs[ids[r.IntN(len(ids))]]
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	const clients = 4
	for cl := 0; cl < clients; cl++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(cl), 7))
			for seq := 0; seq < 100000; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				db := dbFor(r)
				key := keys[r.IntN(len(keys))]
				val := fmt.Sprintf("c%d-%d", cl, seq)
				opCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
				call := h.now()
				var in kvInput
				var out kvOutput
				var err error
				switch r.IntN(4) {
				case 0, 1:
					in = kvInput{op: "get", key: key}
					var v []byte
					v, err = db.Get(opCtx, []byte(key))
					if errors.Is(err, ErrNotFound) {
						err = nil
					} else if err == nil {
						out = kvOutput{value: string(v), found: true}
					}
				case 2:
					in = kvInput{op: "put", key: key, value: val}
					err = db.Put(opCtx, []byte(key), []byte(val))
				case 3:
					// CAS against the value this client last read or wrote
					// is rare to hit; CAS against missing exercises both
					// branches.
					in = kvInput{op: "cas", key: key, value: val}
					out.swapped, err = db.CompareAndSwap(opCtx, []byte(key), nil, []byte(val))
				}
				cancel()
				ret := h.now()
				switch {
				case err == nil:
					h.add(cl, in, out, call, ret)
				case in.op == "get" || definitelyNotApplied(err):
					// A failed read says nothing; a write known not to be
					// applied did not happen.
				default:
					// Unknown outcome: the write may take effect at any
					// time after its call.
					out.unknown = true
					h.add(cl, in, out, call, 1<<62)
				}
			}
		}()
	}

	// The nemesis: crash and restart a node, or transfer leadership.
	for round := 0; round < chaosRounds(); round++ {
		l := c.leader(ctx)
		switch rng.IntN(3) {
		case 0: // crash the leader
			mu.Lock()
			c.crash(l)
			mu.Unlock()
			waitWrites(t, ctx, c, &mu, 20)
			mu.Lock()
			c.restart(l)
			mu.Unlock()
		case 1: // crash a follower
			f := c.ids[(indexOf(c.ids, l)+1+rng.IntN(2))%3]
			mu.Lock()
			c.crash(f)
			mu.Unlock()
			waitWrites(t, ctx, c, &mu, 20)
			mu.Lock()
			c.restart(f)
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
	close(stop)
	wg.Wait()

	res, info := porcupine.CheckOperationsVerbose(kvModel, h.ops, 60*time.Second)
	if res == porcupine.Illegal {
		path := fmt.Sprintf("%s/history.html", t.TempDir())
		if f, err := os.Create(path); err == nil {
			porcupine.Visualize(kvModel, info, f)
			f.Close()
		}
		t.Fatalf("history of %d operations is not linearizable (visualization: %s)", len(h.ops), path)
	}
	if res == porcupine.Unknown {
		t.Fatalf("linearizability check timed out on %d operations", len(h.ops))
	}
	t.Logf("%d operations linearizable over %d nemesis rounds", len(h.ops), chaosRounds())
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
	for i := 0; i < 3000 && commit() < start+n; i++ {
		select {
		case <-ctx.Done():
			t.Fatalf("cluster made no progress: %v", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}
