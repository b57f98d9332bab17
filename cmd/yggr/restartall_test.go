//go:build unix

package main

import (
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/yggrdb/yggr/httpapi"
)

// restartAllValue is the value written under key: 8 KiB derived from the
// key, so that a value read back is checked byte for byte, and so that a
// few hundred writes cross the log's checkpoints and a snapshot (taken
// once the entries applied since the last weigh 4 MiB).
func restartAllValue(key string) []byte {
	h := fnv.New64a()
	h.Write([]byte(key))
	seed := h.Sum64()
	v := make([]byte, 8<<10)
	for i := range v {
		seed = seed*6364136223846793005 + 1442695040888963407
		v[i] = byte(seed >> 56)
	}
	return v
}

// TestRestartAllKeepsAcknowledgedWrites is issue 15's restart-all check:
// three `yggr serve` processes take writes from concurrent clients, all
// three are SIGKILLed at once while writes are in flight, all three are
// restarted, and every write that was acknowledged before the kill must be
// readable, byte for byte, from the restarted cluster. Three such cycles;
// the writes of 8 KiB cross the log's checkpoints and at least one
// snapshot, so a kill can land in any of them.
func TestRestartAllKeepsAcknowledgedWrites(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("multi-process restart test: skipped with -short")
	}
	nodes, err := newLocalNodes(yggrBin, t.TempDir(), 3, "restart-all-secret")
	if err != nil {
		t.Fatal(err)
	}
	var eps []string
	for _, n := range nodes {
		eps = append(eps, n.httpAddr)
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			n.stop(10 * time.Second)
		}
	})
	startAll := func() {
		t.Helper()
		for _, n := range nodes {
			if err := n.start(); err != nil {
				t.Fatal(err)
			}
		}
		for _, n := range nodes {
			waitReady(t, n, 60*time.Second)
		}
	}

	const (
		cycles  = 3
		writers = 6
		perKill = 300 // acknowledged writes in a cycle before its kill
	)
	var (
		mu      sync.Mutex
		acked   []string // keys whose put was acknowledged
		unknown int      // puts that failed: cut off by a kill, or timed out
		batches int      // POST /v1/batch requests answered
	)
	// Writers 0-2 share a client that has one request in flight at most,
	// so that their puts go together in POST /v1/batch; 3-5 each have
	// their own, one put a request. The clients outlive the restarts.
	clients := make([]*httpapi.Client, writers)
	for w := range clients {
		if w > 0 && w < 3 {
			clients[w] = clients[0]
			continue
		}
		opts := httpapi.ClientOptions{Timeout: 2 * time.Second}
		if w == 0 {
			opts.Inflight = 1
		}
		cl, err := httpapi.NewClient(eps, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		clients[w] = cl
	}
	for cycle := range cycles {
		startAll()
		ctx, cancel := context.WithCancel(context.Background())
		enough := make(chan struct{})
		var once sync.Once
		var wg sync.WaitGroup
		inCycle := 0
		for w, cl := range clients {
			wg.Add(1)
			// Owned by the test, which waits: ends when the cycle's ctx is
			// cancelled (after the kill) or after 5000 puts.
			go func() {
				defer wg.Done()
				for i := 0; i < 5000 && ctx.Err() == nil; i++ {
					key := fmt.Sprintf("c%d/w%d/%05d", cycle, w, i)
					pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
					_, err := cl.Put(pctx, []byte(key), restartAllValue(key))
					pcancel()
					mu.Lock()
					if err == nil {
						acked = append(acked, key)
						if inCycle++; inCycle == perKill {
							once.Do(func() { close(enough) })
						}
					} else {
						unknown++ // may or may not have been applied
					}
					mu.Unlock()
				}
			}()
		}
		select {
		case <-enough:
		case <-time.After(90 * time.Second):
			cancel()
			wg.Wait()
			t.Fatalf("cycle %d: fewer than %d writes acknowledged in 90 s", cycle, perKill)
		}
		// The batches the nodes answered so far (their counters die with
		// them); a node too slow to answer in a second is not counted.
		for _, n := range nodes {
			mctx, mcancel := context.WithTimeout(ctx, time.Second)
			b, _ := batchRequests(mctx, n)
			mcancel()
			batches += b
		}
		// SIGKILL all three before waiting for any, while the writers go on.
		for _, n := range nodes {
			if err := n.signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		}
		for _, n := range nodes {
			if err := n.kill(); err != nil { // waits until it is reaped
				t.Fatal(err)
			}
		}
		cancel()
		wg.Wait()
	}

	startAll()
	cl := testClient(t, eps...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got := map[string][]byte{}
	start := []byte("c")
	for range 1000 { // bounded: pages over at most cycles×writers×5000 keys
		items, more, err := cl.List(ctx, start, []byte("d"), 256)
		if err != nil {
			t.Fatalf("list after the restart: %v", err)
		}
		for _, it := range items {
			got[string(it.Key)] = it.Value
		}
		if !more || len(items) == 0 {
			break
		}
		start = append(slices.Clone(items[len(items)-1].Key), 0)
	}
	lost := 0
	for _, k := range acked {
		if !bytes.Equal(got[k], restartAllValue(k)) {
			if lost++; lost <= 10 {
				t.Errorf("acknowledged write %s: %d bytes after the restarts, want its 8 KiB", k, len(got[k]))
			}
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged writes lost or changed", lost, len(acked))
	}
	for k, v := range got {
		if !bytes.Equal(v, restartAllValue(k)) {
			t.Errorf("key %s holds a value that no put wrote (%d bytes)", k, len(v))
		}
	}
	st, err := cl.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d cycles: %d writes acknowledged, %d cut off by the kills or failed, %d keys read back; snapshot index %d of commit %d; %d batch requests",
		cycles, len(acked), unknown, len(got), st.SnapshotIndex, st.Commit, batches)
	if batches == 0 {
		t.Errorf("no POST /v1/batch answered: the shared client never batched")
	}
	if unknown == 0 {
		t.Errorf("no put failed: no write was in flight when the nodes were killed")
	}
	if st.SnapshotIndex == 0 {
		t.Errorf("no snapshot after %d writes of 8 KiB: the kills never crossed one", len(acked))
	}
	// The restarted cluster takes writes.
	if _, err := cl.Put(ctx, []byte("after"), []byte("restart")); err != nil {
		t.Fatalf("put after the restarts: %v", err)
	}
}
