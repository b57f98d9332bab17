package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yggrdb/yggr"
)

// The demo reloads once after reading the prefix and once per change; a
// second run on the same directory starts from the same configuration.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	want := strings.Join([]string{
		"reloaded: log-level=info port=8080",
		"reloaded: feature-x=on log-level=info port=8080",
		"reloaded: feature-x=on log-level=debug port=9090",
		"reloaded: log-level=debug port=9090",
	}, "\n") + "\n"
	for i := range 2 {
		var out bytes.Buffer
		if err := run(dir, &out); err != nil {
			t.Fatal(err)
		}
		if out.String() != want {
			t.Fatalf("run %d printed\n%s\nwant\n%s", i+1, out.String(), want)
		}
	}
}

// A follower whose revision the node has compacted away reads the prefix
// again instead of missing the changes in between.
func TestFollowerReadsAgainAfterCompaction(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := yggr.Open(t.TempDir(), nil, yggr.WithUnsafeNoSync(), yggr.WithSnapshotEntries(100), yggr.WithWatchCache(1))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	prefix := []byte("cfg/")
	if err := db.Put(ctx, []byte("cfg/a"), []byte("1")); err != nil {
		t.Fatal(err)
	}
	// Writes elsewhere, well beyond what the log keeps below a snapshot:
	// 1000 entries, and older ones as long as they weigh no more than the
	// snapshot (keep the state small: 8 keys rewritten).
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				if err := db.Put(ctx, fmt.Appendf(nil, "other/%d", w), fmt.Append(nil, i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := db.Put(ctx, []byte("cfg/b"), []byte("2")); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	waitCond(t, "the log to be compacted past revision 2", func() bool { return db.OldestRevision() > 2 })

	var logs bytes.Buffer
	reloads := make(chan Config, 1)
	f := &Follower{
		DB: db, Prefix: prefix,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Reload: func(cfg Config, _ uint64) {
			select {
			case reloads <- cfg:
			case <-ctx.Done():
			}
		},
		// What it knew at revision 1: out of date, and compacted.
		cfg: Config{"stale": "yes"}, rev: 1,
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	// Owned by the test, which stops it and waits for it (or has received
	// its error in next, which then fails the test before the wait).
	go func() { done <- f.Run(runCtx) }()
	defer func() {
		stop()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
		}
	}()
	next := func() Config {
		t.Helper()
		select {
		case cfg := <-reloads:
			return cfg
		case err := <-done:
			t.Fatalf("the follower stopped: %v", err)
		case <-ctx.Done():
			t.Fatal("no reload")
		}
		return nil
	}
	if got, want := next().String(), "a=1 b=2"; got != want {
		t.Fatalf("reloaded %q, want %q (read again)", got, want)
	}
	if !strings.Contains(logs.String(), "history compacted") {
		t.Fatalf("no warning about the compaction in the log: %q", logs.String())
	}
	// And it follows on from the new read.
	if err := db.Put(ctx, []byte("cfg/a"), []byte("3")); err != nil {
		t.Fatal(err)
	}
	if got, want := next().String(), "a=3 b=2"; got != want {
		t.Fatalf("after a change reloaded %q, want %q", got, want)
	}
}

// waitCond polls cond until it holds, failing the test after 20 seconds.
func waitCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}
