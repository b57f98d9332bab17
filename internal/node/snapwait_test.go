package node

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/yggrdb/yggr/engine"
	"github.com/yggrdb/yggr/internal/chaosnet"
)

// A snapshot asked for before the node applied anything waits for its
// first entry within ctx (it used to fail at once with an untyped
// "nothing applied yet"), and says it timed out if none comes.
func TestSnapshotWaitsForTheFirstApply(t *testing.T) {
	net := chaosnet.New(3)
	net.SetDrop(1) // nobody hears anybody: nothing commits
	c := newChaosClusterOn(t, net, 3, time.Millisecond, engine.Config{})
	n1 := c.nodes["n1"]

	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := n1.Snapshot(short); !errors.Is(err, ErrTimeout) {
		t.Fatalf("snapshot with nothing applied and no leader: %v, want ErrTimeout", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type result struct {
		meta engine.SnapshotMeta
		err  error
	}
	done := make(chan result, 1)
	go func() {
		meta, err := n1.Snapshot(ctx)
		done <- result{meta, err}
	}()
	net.SetDrop(0)
	r := <-done // bounded by ctx
	if r.err != nil || r.meta.Index < 1 {
		t.Fatalf("snapshot once a leader commits: %v, %v; want one at index >= 1", r.meta, r.err)
	}
}
