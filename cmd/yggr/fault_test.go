//go:build unix

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/yggrdb/yggr"
	"github.com/yggrdb/yggr/httpapi"
)

// kvInput is one operation on the register of a key.
type kvInput struct {
	put        bool
	key, value string
}

// kvOutput is what a get returned ("" for a missing key).
type kvOutput struct{ value string }

// kvModel is a map of registers, checked one key at a time. A put's output
// is ignored, so a put whose outcome is unknown (it failed or timed out)
// can be recorded with an open-ended return time: it may take effect at
// any point after its call, or never.
var kvModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(kvInput).key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		var out [][]porcupine.Operation
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		in := input.(kvInput)
		if in.put {
			return true, in.value
		}
		return output.(kvOutput).value == state.(string), state
	},
	DescribeOperation: func(input, output any) string {
		in := input.(kvInput)
		if in.put {
			return fmt.Sprintf("put(%s, %s)", in.key, in.value)
		}
		return fmt.Sprintf("get(%s) → %q", in.key, output.(kvOutput).value)
	},
}

// history collects operations from concurrent clients.
type history struct {
	mu   sync.Mutex
	base time.Time
	ops  []porcupine.Operation
}

func (h *history) now() int64 { return int64(time.Since(h.base)) }

func (h *history) add(op porcupine.Operation) {
	h.mu.Lock()
	h.ops = append(h.ops, op)
	h.mu.Unlock()
}

// faultDuration is how long clients run under faults: short by default,
// longer with YGGR_FAULT_SECONDS.
func faultDuration(t *testing.T) time.Duration {
	if s := os.Getenv("YGGR_FAULT_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("YGGR_FAULT_SECONDS=%q: want a positive number of seconds", s)
		}
		return time.Duration(n) * time.Second
	}
	return 12 * time.Second
}

// TestFaultsLinearizable runs three `yggr serve` processes while clients
// put and get a few keys and a nemesis SIGKILLs and restarts a node and
// SIGSTOPs and SIGCONTs the leader. The history must be linearizable, and
// every acknowledged write of a never-overwritten key must be readable at
// the end.
func TestFaultsLinearizable(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("multi-process fault test: skipped with -short")
	}
	dur := faultDuration(t)
	root := t.TempDir()
	nodes, err := newLocalNodes(yggrBin, root, 3, "fault-test-secret")
	if err != nil {
		t.Fatal(err)
	}
	var eps []string
	for _, n := range nodes {
		eps = append(eps, n.httpAddr)
		if err := n.start(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			n.stop(10 * time.Second)
		}
	})
	for _, n := range nodes {
		waitReady(t, n, 30*time.Second)
	}

	h := &history{base: time.Now()}
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	const clients = 5
	maxOpsPerClient := 60 * int(dur/time.Second) // bounds each client; ample for the duration
	keys := []string{"k0", "k1", "k2"}
	var (
		ackMu sync.Mutex
		acked = map[string]string{} // never-overwritten key → value
	)
	var wg sync.WaitGroup
	// Clients 2, 3 and 4 share one httpapi.Client that has one request in
	// flight at most: calls made while one is in flight go together in a
	// POST /v1/batch, and their puts are Puts (batched) rather than
	// one-op transactions.
	shared, err := httpapi.NewClient(eps, httpapi.ClientOptions{Timeout: time.Second, Inflight: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer shared.Close()
	for c := range clients {
		cl := shared
		if c < 2 {
			cl, err = httpapi.NewClient(eps, httpapi.ClientOptions{Timeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
		}
		wg.Add(1)
		// Owned by the test, which waits; ends at ctx's deadline or after
		// maxOpsPerClient operations.
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 7))
			for i := 0; i < maxOpsPerClient && ctx.Err() == nil; i++ {
				key := keys[rng.IntN(len(keys))]
				octx, ocancel := context.WithTimeout(ctx, 2*time.Second)
				switch r := rng.IntN(10); {
				case r < 4: // put, as a one-op transaction: never resent once it may have been applied
					value := fmt.Sprintf("c%d-%d", c, i)
					call := h.now()
					var err error
					if cl == shared {
						_, err = cl.Put(octx, []byte(key), []byte(value))
					} else {
						_, err = cl.Txn(octx, httpapi.TxnRequest{Success: []httpapi.TxnOp{{Op: httpapi.OpPut, Key: []byte(key), Value: []byte(value)}}})
					}
					ret := h.now()
					if err != nil {
						ret = math.MaxInt64 // unknown outcome: may apply at any later time
					}
					h.add(porcupine.Operation{ClientId: c, Input: kvInput{put: true, key: key, value: value}, Call: call, Output: kvOutput{}, Return: ret})
				case r < 8: // linearizable get
					call := h.now()
					v, _, err := cl.Get(octx, []byte(key))
					ret := h.now()
					if errors.Is(err, yggr.ErrNotFound) {
						v, err = nil, nil
					}
					if err == nil { // a failed read has no effect: leave it out
						h.add(porcupine.Operation{ClientId: c, Input: kvInput{key: key}, Call: call, Output: kvOutput{string(v)}, Return: ret})
					}
				default: // a write-once key, checked at the end
					key, value := fmt.Sprintf("once/c%d-%04d", c, i), fmt.Sprintf("v%d", i)
					if _, err := cl.Put(octx, []byte(key), []byte(value)); err == nil {
						ackMu.Lock()
						acked[key] = value
						ackMu.Unlock()
					}
				}
				ocancel()
			}
		}()
	}

	// The nemesis, on this goroutine: bounded by ctx's deadline.
	rng := rand.New(rand.NewPCG(1, 2))
	var faults []string
	pause := func(d time.Duration) {
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
	}
	batches := 0 // POST /v1/batch answered by nodes before they were killed
	for ctx.Err() == nil {
		victim := nodes[rng.IntN(len(nodes))]
		mctx, mcancel := context.WithTimeout(ctx, time.Second)
		n, _ := batchRequests(mctx, victim) // its counters die with it; a node too slow to answer is not counted
		mcancel()
		batches += n
		if err := victim.kill(); err != nil {
			t.Fatal(err)
		}
		faults = append(faults, "kill "+victim.id)
		pause(time.Second)
		if err := victim.start(); err != nil {
			t.Fatal(err)
		}
		pause(time.Second)
		if leader := findLeader(ctx, nodes); leader != nil {
			if err := leader.signal(syscall.SIGSTOP); err == nil {
				faults = append(faults, "stop "+leader.id)
				pause(1500 * time.Millisecond)
				if err := leader.signal(syscall.SIGCONT); err != nil {
					t.Fatal(err)
				}
			}
		}
		pause(time.Second)
	}
	wg.Wait()
	t.Logf("faults: %v", faults)
	if len(faults) < 2 {
		t.Errorf("got faults %v, want at least a kill and a stop", faults)
	}

	// Heal: everything running and continued, then a leader.
	for _, n := range nodes {
		if n.running() {
			n.signal(syscall.SIGCONT)
		} else if err := n.start(); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range nodes {
		waitReady(t, n, 30*time.Second)
	}
	fctx, fcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer fcancel()
	final := testClient(t, eps...)
	for _, key := range keys {
		call := h.now()
		v, _, err := final.Get(fctx, []byte(key))
		if errors.Is(err, yggr.ErrNotFound) {
			v, err = nil, nil
		}
		if err != nil {
			t.Fatalf("final read of %s: %v", key, err)
		}
		h.add(porcupine.Operation{ClientId: clients, Input: kvInput{key: key}, Call: call, Output: kvOutput{string(v)}, Return: h.now()})
	}

	var puts, unknown, gets int
	for _, op := range h.ops {
		switch {
		case !op.Input.(kvInput).put:
			gets++
		case op.Return == math.MaxInt64:
			unknown++
		default:
			puts++
		}
	}
	t.Logf("history: %d gets, %d acknowledged puts, %d puts of unknown outcome, %d write-once keys acknowledged",
		gets, puts, unknown, len(acked))
	for _, n := range nodes {
		b, err := batchRequests(fctx, n)
		if err != nil {
			t.Fatalf("metrics of %s: %v", n.id, err)
		}
		batches += b
	}
	if batches == 0 {
		t.Errorf("no POST /v1/batch answered: the shared client never batched")
	}
	t.Logf("%d batches answered (not counting those of nodes killed while too slow to answer /metrics)", batches)
	if puts == 0 || gets == 0 {
		t.Errorf("got %d acknowledged puts and %d gets: the clients made no progress", puts, gets)
	}
	res, info := porcupine.CheckOperationsVerbose(kvModel, h.ops, 30*time.Second)
	switch res {
	case porcupine.Illegal:
		path := filepath.Join(os.TempDir(), fmt.Sprintf("yggr-fault-%d.html", time.Now().UnixNano()))
		if err := porcupine.VisualizePath(kvModel, info, path); err == nil {
			t.Errorf("history is not linearizable; visualization: %s", path)
		} else {
			t.Errorf("history is not linearizable (visualization failed: %v)", err)
		}
	case porcupine.Unknown:
		t.Logf("linearizability check timed out: inconclusive")
	}

	// Every acknowledged write-once key is still there.
	got := map[string][]byte{}
	start, end := []byte("once/"), yggr.PrefixEnd([]byte("once/"))
	for range 1000 { // bounded: pages of 1000 over at most clients×maxOpsPerClient keys
		resp, err := final.Scan(fctx, httpapi.ScanRequest{Start: start, End: end, Limit: 1000})
		if err != nil {
			t.Fatalf("final scan: %v", err)
		}
		for _, it := range resp.Items {
			got[string(it.Key)] = it.Value
		}
		if !resp.More || len(resp.Items) == 0 {
			break
		}
		start = append(slices.Clone(resp.Items[len(resp.Items)-1].Key), 0)
	}
	for k, v := range acked {
		if !bytes.Equal(got[k], []byte(v)) {
			t.Errorf("acknowledged write %s=%s: got %q after the faults", k, v, got[k])
		}
	}
}

// findLeader returns the running node that says it leads, if any answers
// within a second.
func findLeader(ctx context.Context, nodes []*localNode) *localNode {
	for _, n := range nodes {
		if !n.running() {
			continue
		}
		cl, err := httpapi.NewClient([]string{n.httpAddr}, httpapi.ClientOptions{Timeout: time.Second})
		if err != nil {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := cl.Status(sctx)
		cancel()
		cl.Close()
		if err == nil && st.Role == yggr.RoleLeader {
			return n
		}
	}
	return nil
}

// batchRequests returns the POST /v1/batch requests n has answered since
// it last started, from its /metrics.
func batchRequests(ctx context.Context, n *localNode) (int, error) {
	cl, err := httpapi.NewClient([]string{n.httpAddr}, httpapi.ClientOptions{})
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	text, err := cl.Metrics(ctx)
	if err != nil {
		return 0, err
	}
	total := 0
	for line := range strings.Lines(text) {
		if !strings.HasPrefix(line, "yggr_http_requests_total{") || !strings.Contains(line, `route="POST /v1/batch"`) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("metrics line %q: %v", line, err)
		}
		total += int(v)
	}
	return total, nil
}
