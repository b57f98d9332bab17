package main

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"
)

// TestYggrHTTP checks the yggr-http system: writes through the Go client
// reach the leader's database, every read mode it offers sees them, the
// failure workloads say they are unsupported, and Close stops the servers
// and the nodes.
func TestYggrHTTP(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a three-node cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	s, err := startYggrHTTP(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			s.Close()
		}
	}()
	for i := range int64(50) {
		if err := s.Put(ctx, key16(i), fmt.Appendf(nil, "v%d", i)); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	l, err := s.ys.leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range int64(50) {
		got, err := s.ys.dbs[l].Get(ctx, key16(i))
		if want := fmt.Appendf(nil, "v%d", i); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("key %d on the leader: got %q, %v; want %q", i, got, err, want)
		}
	}
	for _, mode := range []string{"linearizable", "lease", "stale"} {
		if err := s.Read(ctx, mode, key16(7)); err != nil {
			t.Fatalf("%s read: %v", mode, err)
		}
	}
	if err := s.Read(ctx, "bogus", key16(7)); err != errUnsupported {
		t.Fatalf("bogus read mode: got %v, want errUnsupported", err)
	}
	if _, err := s.StopFollower(ctx); err != errUnsupported {
		t.Fatalf("StopFollower: got %v, want errUnsupported", err)
	}
	if _, err := s.Failover(ctx); err != errUnsupported {
		t.Fatalf("Failover: got %v, want errUnsupported", err)
	}
	if _, ok := any(s).(snapshotter); ok {
		t.Error("yggr-http offers the snapshot workload, which would bypass HTTP")
	}
	closed = true
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Put(ctx, key16(99), []byte("x")); err == nil {
		t.Fatal("put after Close succeeded")
	}
}
