package node

import (
	"context"
	"errors"
	"fmt"
	"maps"
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
	defer net.Close()
	net.SetDrop(1) // nobody hears anybody: nothing commits
	peers := map[engine.NodeID]string{}
	var ids []engine.NodeID
	for i := 1; i <= 3; i++ {
		id := engine.NodeID(fmt.Sprintf("n%d", i))
		ids = append(ids, id)
		peers[id] = fmt.Sprintf("127.0.0.1:%d", 7000+i) // chaosnet ignores addresses
	}
	var nodes []*Node
	for _, id := range ids {
		n, err := Start(Config{ID: id, Dir: t.TempDir(), InMemory: true, Peers: maps.Clone(peers), Network: net.Endpoint(id),
			StateMachine: &bytesMachine{}, TickInterval: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		nodes = append(nodes, n)
	}

	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := nodes[0].Snapshot(short); !errors.Is(err, ErrTimeout) {
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
		meta, err := nodes[0].Snapshot(ctx)
		done <- result{meta, err}
	}()
	net.SetDrop(0)
	r := <-done // bounded by ctx
	if r.err != nil || r.meta.Index < 1 {
		t.Fatalf("snapshot once a leader commits: %v, %v; want one at index >= 1", r.meta, r.err)
	}
}
