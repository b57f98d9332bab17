package yggr

import (
	"fmt"
	"testing"

	"github.com/yggrdb/yggr/engine"
)

// A follower that was down while the leader compacted its log catches up
// with a chunked InstallSnapshot, then with the log.
func TestFollowerCatchesUpBySnapshot(t *testing.T) {
	ctx := testCtx(t)
	c := newQUICCluster(t, 3, withEngine(func(e *engine.Config) {
		e.SnapshotEntries, e.CompactionKeep, e.SnapshotChunkBytes = 50, 10, 512
	}))
	leader := c.leader(ctx)
	lagging := c.ids[(indexOf(c.ids, leader)+1)%3]
	c.crash(lagging)

	db := c.dbs[leader]
	var last uint64
	for i := 0; i < 300; i++ {
		idx, err := db.PutIndex(ctx, []byte(fmt.Sprintf("key-%03d", i)), []byte(fmt.Sprintf("value-%03d", i)))
		if err != nil {
			t.Fatal(err)
		}
		last = idx
	}
	if s := db.Status(); s.SnapshotIndex == 0 {
		t.Fatalf("leader took no snapshot: %+v", s)
	}
	c.restart(lagging)
	follower := c.dbs[lagging]
	items, _, err := follower.List(ctx, nil, nil, 0, WithConsistency(Stale), AtLeast(last))
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 300 {
		t.Fatalf("follower has %d keys after catching up, want 300", len(items))
	}
	for i, it := range items {
		if want := fmt.Sprintf("value-%03d", i); string(it.Value) != want {
			t.Fatalf("follower key %s = %q, want %q", it.Key, it.Value, want)
		}
	}
	if m := follower.Metrics(); m.SnapshotsInstalled == 0 {
		t.Errorf("follower caught up without installing a snapshot (metrics %+v)", m)
	}
	if m := db.Metrics(); m.SnapshotsSent == 0 {
		t.Errorf("leader sent no snapshot")
	}
}
