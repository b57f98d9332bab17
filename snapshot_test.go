package yggr

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/yggrdb/yggr/engine"
)

// A follower that was down while the leader compacted its log catches up
// with a chunked InstallSnapshot, then with the log.
func TestFollowerCatchesUpBySnapshot(t *testing.T) {
	ctx := testCtx(t)
	c := newQUICCluster(t, 3, withEngine(func(e *engine.Config) {
		// MaxLogEntries bounds the log kept below a snapshot, which would
		// otherwise be as large as the snapshot and serve the catch-up;
		// MaxInflightMsgs bounds the appends the leader sends the down
		// follower, which its transport queues and delivers on restart.
		e.SnapshotEntries, e.CompactionKeep, e.MaxLogEntries, e.SnapshotChunkBytes = 50, 10, 40, 512
		e.MaxInflightMsgs = 4
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

// A new member joins after the leader released the data of the entries it
// needs from memory (engine.Config.EntryCacheBytes), with no snapshot to
// send: it catches up from the leader's log, which the leader reads back
// for it.
func TestLearnerCatchesUpFromTheLog(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	ctx := testCtx(t)
	timing := WithTiming(20*time.Millisecond, 10)
	small := withEngine(func(e *engine.Config) { e.EntryCacheBytes = 2 << 10 }) // about 30 entries
	addrs := map[string]string{"n1": freeUDPAddr(t), "n2": freeUDPAddr(t)}
	n1, err := Open(t.TempDir(), []string{"n1=" + addrs["n1"]}, WithID("n1"), WithInsecure(), timing, small)
	if err != nil {
		t.Fatal(err)
	}
	defer n1.Close()
	var last uint64
	for i := 0; i < 300; i++ {
		if last, err = n1.PutIndex(ctx, []byte(fmt.Sprintf("key-%03d", i)), []byte(fmt.Sprintf("value-%03d", i))); err != nil {
			t.Fatal(err)
		}
	}
	n2, err := Open(t.TempDir(), []string{"n2=" + addrs["n2"]}, WithID("n2"), WithInsecure(), WithJoin(), timing, small)
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Close()
	if err := n1.AddLearner(ctx, "n2", addrs["n2"]); err != nil {
		t.Fatal(err)
	}
	items, _, err := n2.List(ctx, nil, nil, 0, WithConsistency(Stale), AtLeast(last))
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 300 {
		t.Fatalf("learner has %d keys after catching up, want 300", len(items))
	}
	for i, it := range items {
		if want := fmt.Sprintf("value-%03d", i); string(it.Value) != want {
			t.Fatalf("learner key %s = %q, want %q", it.Key, it.Value, want)
		}
	}
	if m := n2.Metrics(); m.SnapshotsInstalled != 0 {
		t.Errorf("learner installed a snapshot; it should have caught up from the log")
	}
	if m := n1.Metrics(); m.EntriesFilled < 250 {
		t.Errorf("leader read %d entries back from its log for the learner, want at least 250", m.EntriesFilled)
	}
}

// A user's Snapshot on a leader under write load succeeds: the entries it
// applied may not be durable in its own log yet (it commits on its
// followers' acknowledgements), and the snapshot then waits for them
// instead of failing (before, one run in five failed: "snapshot beyond the
// last durable entry").
func TestSnapshotOnABusyLeader(t *testing.T) {
	ctx := testCtx(t)
	c := newQUICCluster(t, 3)
	leader := c.leader(ctx)
	db := c.dbs[leader]
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := db.Put(ctx, []byte(fmt.Sprintf("k%d-%d", w, i%100)), []byte("v")); err != nil {
					return
				}
			}
		}()
	}
	defer wg.Wait()
	defer close(stop)
	for i := range 100 {
		if _, err := db.Snapshot(ctx); err != nil {
			t.Fatalf("snapshot %d on the leader under writes: %v", i, err)
		}
	}
}
